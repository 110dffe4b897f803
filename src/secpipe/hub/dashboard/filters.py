"""The findings list's query string, as GetFindings Filters and SortCriteria.

The list is a plain GET form, so every view is a bookmarkable URL and the browser's back
button works without JavaScript. Only known keys with known values are read; anything else
in the URL is ignored rather than passed to the store.

"Open" (the default view) is what still needs someone: RecordState ACTIVE and Workflow NEW or
NOTIFIED. Suppressed and resolved findings are one click away in the workflow filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlencode

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")
WORKFLOWS = ("NEW", "NOTIFIED", "SUPPRESSED", "RESOLVED")
OPEN_WORKFLOWS = ("NEW", "NOTIFIED")
RECORD_STATES = ("ACTIVE", "ARCHIVED")
SORTS = {
    "severity": [{"Field": "SeverityNormalized", "SortOrder": "desc"},
                 {"Field": "UpdatedAt", "SortOrder": "desc"}],
    "updated": [{"Field": "UpdatedAt", "SortOrder": "desc"}],
    "first_seen": [{"Field": "FirstObservedAt", "SortOrder": "desc"}],
    "title": [{"Field": "Title", "SortOrder": "asc"}],
}
PAGE_SIZES = (25, 50, 100)
MAX_TEXT = 256                     # the longest value a filter field accepts from the URL
MAX_BACK = 50                      # paging tokens remembered for "previous page"
TOOL_KEY, STAGE_KEY = "secpipe/Tool", "secpipe/Stage"


def _text(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key) or ""
    return str(value).strip()[:MAX_TEXT]


@dataclass
class FindingQuery:
    severities: list[str] = field(default_factory=list)
    workflow: str = "open"          # open | any | one of WORKFLOWS
    record: str = "ACTIVE"          # any | one of RECORD_STATES
    product: str = ""
    tool: str = ""
    stage: str = ""
    resource: str = ""
    text: str = ""
    sort: str = "severity"
    size: int = 50
    token: str = ""                 # NextToken of the page shown
    back: list[str] = field(default_factory=list)   # tokens of the pages before it

    @classmethod
    def from_params(cls, params: Any) -> "FindingQuery":
        """From Starlette QueryParams (or any mapping with getlist)."""
        getlist = getattr(params, "getlist", None)
        sev_raw = getlist("severity") if getlist else [params.get("severity", "")]
        severities = [s for s in SEVERITIES if s in {str(v).upper() for v in sev_raw}]
        workflow = _text(params, "workflow") or "open"
        if workflow not in ("open", "any", *WORKFLOWS):
            workflow = "open"
        record = _text(params, "record") or "ACTIVE"
        if record not in ("any", *RECORD_STATES):
            record = "ACTIVE"
        sort = _text(params, "sort")
        size = _text(params, "size")
        back = [t for t in _text_long(params, "back").split(".") if t][-MAX_BACK:]
        return cls(
            severities=severities, workflow=workflow, record=record,
            product=_text(params, "product"), tool=_text(params, "tool"),
            stage=_text(params, "stage"), resource=_text(params, "resource"),
            text=_text(params, "q"), sort=sort if sort in SORTS else "severity",
            size=int(size) if size.isascii() and size.isdigit() and int(size) in PAGE_SIZES
            else 50,                        # isdigit() alone takes "²", which int() refuses
            token=_text_long(params, "page"), back=back,
        )

    # --- what the store is asked ------------------------------------------------------------
    def filters(self) -> dict[str, Any]:
        f: dict[str, Any] = {}
        if self.severities:
            f["SeverityLabel"] = [{"Value": s, "Comparison": "EQUALS"} for s in self.severities]
        if self.workflow == "open":
            f["WorkflowStatus"] = [{"Value": w, "Comparison": "EQUALS"} for w in OPEN_WORKFLOWS]
        elif self.workflow != "any":
            f["WorkflowStatus"] = [{"Value": self.workflow, "Comparison": "EQUALS"}]
        if self.record != "any":
            f["RecordState"] = [{"Value": self.record, "Comparison": "EQUALS"}]
        if self.product:
            f["ProductName"] = [{"Value": self.product, "Comparison": "EQUALS"}]
        # Positive MapFilter comparisons on one attribute are OR'd (Security Hub's rule), so
        # tool AND stage cannot both be ProductFields entries; with both set, the tool goes
        # through GeneratorId, which secpipe writes as "<tool>/<rule id>".
        if self.stage:
            f["ProductFields"] = [{"Key": STAGE_KEY, "Value": self.stage, "Comparison": "EQUALS"}]
            if self.tool:
                f["GeneratorId"] = [{"Value": f"{self.tool}/", "Comparison": "PREFIX"}]
        elif self.tool:
            f["ProductFields"] = [{"Key": TOOL_KEY, "Value": self.tool, "Comparison": "EQUALS"}]
        if self.resource:
            f["ResourceId"] = [{"Value": self.resource, "Comparison": "CONTAINS"}]
        return f

    def sort_criteria(self) -> list[dict[str, str]]:
        return SORTS[self.sort]

    # --- links ------------------------------------------------------------------------------
    def params(self, **override: Any) -> list[tuple[str, str]]:
        """The query string of this view (paging dropped unless given in `override`)."""
        pairs: list[tuple[str, str]] = [("severity", s) for s in override.get(
            "severities", self.severities)]
        values = {
            "workflow": self.workflow, "record": self.record, "product": self.product,
            "tool": self.tool, "stage": self.stage, "resource": self.resource,
            "q": self.text, "sort": self.sort, "size": str(self.size),
            "page": "", "back": "",
        }
        values.update({k: v for k, v in override.items() if k != "severities"})
        defaults = {"workflow": "open", "record": "ACTIVE", "sort": "severity", "size": "50"}
        for key, value in values.items():
            if value and defaults.get(key) != value:
                pairs.append((key, str(value)))
        return pairs

    def url(self, base: str, **override: Any) -> str:
        query = urlencode(self.params(**override))
        return f"{base}?{query}" if query else base

    def next_url(self, base: str, next_token: str | None) -> str | None:
        if not next_token:
            return None
        back = [*self.back, self.token or "-"][-MAX_BACK:]
        return self.url(base, page=next_token, back=".".join(back))

    def prev_url(self, base: str) -> str | None:
        if not self.token:
            return None
        if not self.back:
            return self.url(base)
        prev, rest = self.back[-1], self.back[:-1]
        return self.url(base, page="" if prev == "-" else prev, back=".".join(rest))

    @property
    def page_number(self) -> int:
        return len(self.back) + 1 if self.token else 1

    def narrowed(self) -> bool:
        """True when anything beyond the default open view is asked for."""
        return bool(self.params(sort="severity", size="50"))


def _text_long(params: Mapping[str, Any], key: str, limit: int = 16_384) -> str:
    """Paging tokens are opaque and may be long; they are only handed back to the store."""
    value = str(params.get(key) or "").strip()
    return value if len(value) <= limit and value.isascii() else ""


def open_filters() -> dict[str, Any]:
    return FindingQuery().filters()
