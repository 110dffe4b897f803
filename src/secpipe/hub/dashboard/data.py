"""What the pages ask of the store, as plain values. Every function here is blocking and is
called from the threadpool.

Aggregates use the store's grouped counts (one SQL GROUP BY each), never a scan of findings
in Python, so the overview costs the same few queries at a thousand findings or a million.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote

from secpipe.hub.dashboard.filters import SEVERITIES, STAGE_KEY, TOOL_KEY, FindingQuery
from secpipe.hub.dashboard.filters import open_filters
from secpipe.hub.dashboard.triage import EXPIRY_KEY, expired
from secpipe.hub.interface import ResourceNotFound

CHOICES_TTL = 60.0       # seconds the filter suggestions (tools, stages, products) are reused
RUN_LIST_MAX = 100       # findings listed per change (new / recurring / fixed) on a run page
ID_CHUNK = 20            # values per filter attribute (Security Hub's limit)
EXPIRY_SCAN = 1000       # suppressed findings with an expiry looked at for the overview


@dataclass
class Overview:
    total: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)
    by_stage: list[tuple[str, int]] = field(default_factory=list)
    by_tool: list[tuple[str, int]] = field(default_factory=list)
    suppressed: int = 0
    expired: int = 0


def _groups(store: Any, key: str, filters: dict[str, Any], limit: int = 100
            ) -> list[tuple[str, int]]:
    return [(str(g["GroupByAttributeValue"]), int(g["Count"]))
            for g in store.group_counts(key, filters, limit=limit)]


def overview(store: Any) -> Overview:
    opened = open_filters()
    out = Overview(total=store.count_findings(opened))
    out.by_severity = dict(_groups(store, "SeverityLabel", opened))
    out.by_stage = _groups(store, f"ProductFields.{STAGE_KEY}", opened, 15)
    out.by_tool = _groups(store, f"ProductFields.{TOOL_KEY}", opened, 15)
    suppressed = {"WorkflowStatus": [{"Value": "SUPPRESSED", "Comparison": "EQUALS"}],
                  "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]}
    out.suppressed = store.count_findings(suppressed)
    with_expiry = {**suppressed,
                   "UserDefinedFields": [{"Key": EXPIRY_KEY, "Value": "-",
                                          "Comparison": "CONTAINS"}]}
    token, seen = None, 0
    while seen < EXPIRY_SCAN:
        page, token = store.get_findings(with_expiry, None, 100, token)
        seen += len(page)
        out.expired += sum(1 for f in page
                           if expired((f.get("UserDefinedFields") or {}).get(EXPIRY_KEY)))
        if not token:
            break
    return out


@dataclass
class SearchResult:
    findings: list[dict[str, Any]]
    next_token: str | None
    total: int


def search(store: Any, q: FindingQuery) -> SearchResult:
    filters, text = q.filters(), q.text or None
    found, token = store.get_findings(filters, q.sort_criteria(), q.size, q.token or None,
                                      text=text)
    return SearchResult(found, token, store.count_findings(filters, text=text))


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[int, str], tuple[float, Any]] = {}

    def get(self, store: Any, key: str, make: Callable[[], Any]) -> Any:
        ident = (id(store), key)
        with self._lock:
            hit = self._values.get(ident)
            if hit and time.monotonic() - hit[0] < CHOICES_TTL:
                return hit[1]
        value = make()
        with self._lock:
            self._values[ident] = (time.monotonic(), value)
        return value


_cache = _Cache()


def choices(store: Any) -> dict[str, list[str]]:
    """Suggestions for the free-text filters: the values open findings actually carry."""
    def make() -> dict[str, list[str]]:
        opened = open_filters()
        return {
            "tools": sorted(v for v, _ in _groups(store, f"ProductFields.{TOOL_KEY}", opened)),
            "stages": sorted(v for v, _ in _groups(store, f"ProductFields.{STAGE_KEY}", opened)),
            "products": sorted(v for v, _ in _groups(store, "ProductName", opened)),
        }
    return _cache.get(store, "choices", make)


def finding(store: Any, fid: str, arn: str | None) -> dict[str, Any]:
    return store.get_finding(fid, arn)


def _change_text(key: str, before: Any, after: Any) -> str:
    def short(v: Any) -> str:
        if isinstance(v, dict) and set(v) <= {"Status"}:
            return str(v.get("Status"))
        if isinstance(v, dict) and "Text" in v:
            return str(v["Text"])
        if isinstance(v, dict) and "Label" in v:
            return str(v["Label"])
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    if key == "Note":
        return f"Note: {short(after)}"
    return f"{key}: {short(before) if before is not None else '–'} → {short(after)}"


def history(store: Any, fid: str) -> list[dict[str, Any]]:
    """finding_history as rows: when, what, by whom, which run, a one-line description."""
    try:
        events = store.finding_history(fid)
    except ResourceNotFound:
        return []
    rows = []
    for e in events:
        kind = str(e.get("kind", ""))
        if kind in ("observed", "fixed"):
            details = (f"{e.get('change', kind)} in stage {e.get('stage') or '–'}, tool "
                       f"{e.get('tool') or '–'} on {e.get('branch', '')}@"
                       f"{str(e.get('commit', ''))[:12]}")
            actor = "run"
        elif kind == "created":
            details, actor = "first imported", ""
        else:
            changes = e.get("changes") or {}
            if isinstance(changes, dict):
                details = "; ".join(_change_text(k, *(v if isinstance(v, list) and len(v) == 2
                                                      else (None, v)))
                                    for k, v in changes.items())
            else:
                details = str(changes)
            actor = str(e.get("actor", ""))
        rows.append({"at": e.get("at", ""), "kind": kind, "actor": actor,
                     "run_id": e.get("run_id") or "", "details": details})
    return rows


def _verdict(run: Any) -> str:
    summary = run.summary if isinstance(run.summary, dict) else {}
    return str(summary.get("verdict") or run.status or "unknown")


def _counts(run: Any) -> dict[str, int]:
    summary = run.summary if isinstance(run.summary, dict) else {}
    counts = (summary.get("totals") or {}).get("counts") or {}
    return {s: int(counts.get(s, 0) or 0) for s in SEVERITIES if isinstance(counts, dict)}


def run_rows(store: Any, limit: int, repo: str | None = None, branch: str | None = None
             ) -> list[dict[str, Any]]:
    """Runs, newest first, with their verdict, severity counts and new / fixed counts."""
    rows = []
    for run in store.list_runs(repo, branch, limit):
        try:
            diff = store.run_diff(run.run_id)
            new, fixed = len(diff.new), len(diff.fixed)
        except ResourceNotFound:
            new = fixed = None
        counts = _counts(run)
        rows.append({
            "run_id": run.run_id, "run_id_q": quote(run.run_id, safe=""),
            "short": (run.started_at or run.run_id)[5:16].replace("T", " "),
            "repo": run.repo, "branch": run.branch, "commit": run.commit or "",
            "finished_at": run.finished_at, "verdict": _verdict(run), "counts": counts,
            "total": sum(counts.values()), "new": new, "fixed": fixed,
        })
    return rows


def _docs_for(store: Any, ids: list[str]) -> list[dict[str, Any]]:
    """The findings behind a list of Ids (most severe first); unknown Ids as bare {Id}."""
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), ID_CHUNK):
        chunk = ids[i:i + ID_CHUNK]
        filters = {"Id": [{"Value": fid, "Comparison": "EQUALS"} for fid in chunk]}
        token = None
        while True:
            page, token = store.get_findings(filters, None, 100, token)
            for doc in page:
                found.setdefault(doc.get("Id", ""), doc)
            if not token:
                break
    docs = [found.get(fid, {"Id": fid}) for fid in ids]
    return sorted(docs, key=lambda d: -int((d.get("Severity") or {}).get("Normalized", -1)))


def run_view(store: Any, run_id: str) -> dict[str, Any]:
    run = store.get_run(run_id)
    diff = store.run_diff(run_id)
    summary = run.summary if isinstance(run.summary, dict) else {}
    stages = []
    seen = set()
    for s in summary.get("stages") or []:
        if not isinstance(s, dict):
            continue
        name = str(s.get("name", ""))
        seen.add(name)
        stages.append({**{k: s.get(k, "") for k in ("status", "mode", "fail_on", "error")},
                       "name": name, "findings": s.get("findings", 0),
                       "blocking": s.get("blocking", 0), "tools": s.get("tools") or [],
                       **diff.by_stage.get(name, {"new": 0, "recurring": 0, "fixed": 0})})
    for name, counts in sorted(diff.by_stage.items()):
        if name not in seen:
            stages.append({"name": name or "(none)", "status": "", "mode": "", "fail_on": "",
                           "error": "", "findings": "", "blocking": "", "tools": [], **counts})
    lists = [(change, _docs_for(store, ids[:RUN_LIST_MAX]), len(ids))
             for change, ids in (("new", diff.new), ("fixed", diff.fixed),
                                 ("recurring", diff.recurring))]
    return {"run": run, "diff": diff, "verdict": _verdict(run), "stages": stages,
            "lists": lists}
