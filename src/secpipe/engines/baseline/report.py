"""ZAP's traditional JSON report (`zap-baseline.py -J`) and a readable HTML report.

JSON: every scalar a string, `desc`/`solution`/`reference`/`otherinfo` as ZAP's `<p>`-wrapped
HTML, one site (the target's origin) whose alerts ZAP-style group all instances of one alert
(plugin, alertRef, name, risk, confidence). Sorted by risk, then plugin id, as ZAP lists them.
The HTML report is rendered from the same groups with Jinja2 autoescaping, from plain text
rather than from the JSON's HTML, so nothing in a response can inject markup into it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Iterable
from urllib.parse import urlsplit

from jinja2 import Environment, select_autoescape

from secpipe.engines.baseline.rules import CONFIDENCE_WORDS, RISK_WORDS, Hit, Rule

PROGRAM = "secpipe baseline"
SOURCE_ID = "3"  # ZAP's history type of spidered messages


@dataclass
class AlertGroup:
    """All instances of one alert on the site."""

    plugin_id: int
    alert_ref: str
    name: str
    risk: int
    confidence: int
    desc: str
    solution: str
    reference: str
    cwe: int
    wasc: int
    otherinfo: str = ""
    instances: list[dict[str, str]] = field(default_factory=list)
    _keys: set[tuple[str, ...]] = field(default_factory=set, repr=False)

    @classmethod
    def key(cls, rule: Rule, hit: Hit) -> tuple[int, str, str, int, int]:
        return (
            rule.id,
            f"{rule.id}-{hit.ref}" if hit.ref else str(rule.id),
            hit.name or rule.alert,
            rule.risk if hit.risk is None else hit.risk,
            rule.confidence if hit.confidence is None else hit.confidence,
        )

    @classmethod
    def start(cls, rule: Rule, hit: Hit) -> "AlertGroup":
        pid, ref, name, risk, confidence = cls.key(rule, hit)
        pick = lambda value, default: default if value is None else value  # noqa: E731
        return cls(
            pid, ref, name, risk, confidence,
            pick(hit.desc, rule.desc), pick(hit.solution, rule.solution),
            pick(hit.reference, rule.reference), pick(hit.cwe, rule.cwe),
            pick(hit.wasc, rule.wasc), hit.otherinfo,
        )  # fmt: skip

    def add(self, uri: str, method: str, hit: Hit) -> None:
        key = (uri, method, hit.param, hit.evidence, hit.otherinfo)
        if key in self._keys:
            return  # ZAP keeps one alert per identical (uri, param, evidence, ...) too
        self._keys.add(key)
        self.instances.append({
            "uri": uri, "method": method, "param": hit.param, "attack": "",
            "evidence": hit.evidence, "otherinfo": hit.otherinfo,
        })  # fmt: skip

    def sort(self) -> None:
        """Crawl order depends on concurrency; sorted instances make reports reproducible."""
        self.instances.sort(key=lambda i: (i["uri"], i["param"], i["evidence"], i["otherinfo"]))

    @property
    def riskdesc(self) -> str:
        return f"{RISK_WORDS[self.risk]} ({CONFIDENCE_WORDS[self.confidence]})"

    def sort_key(self) -> tuple[int, int, int, str]:
        suffix = self.alert_ref.partition("-")[2]
        return (-self.risk, self.plugin_id, int(suffix) if suffix.isdigit() else 0, self.name)


def paragraphs(text: str) -> str:
    """ZAP's rendering of a multi-line text: each line escaped and wrapped in <p>."""
    if not text:
        return ""
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in text.split("\n"))


def site_fields(origin: str) -> dict[str, str]:
    parts = urlsplit(origin)
    https = parts.scheme == "https"
    return {
        "@name": origin,
        "@host": parts.hostname or "",
        "@port": str(parts.port or (443 if https else 80)),
        "@ssl": str(https).lower(),
    }


def build_report(
    origin: str, groups: Iterable[AlertGroup], *, version: str, generated: datetime | None = None
) -> dict[str, Any]:
    when = (generated or datetime.now(timezone.utc)).strftime("%a, %d %b %Y %H:%M:%S")
    alerts = []
    for group in sorted(groups, key=AlertGroup.sort_key):
        alerts.append({
            "pluginid": str(group.plugin_id),
            "alertRef": group.alert_ref,
            "alert": group.name,
            "name": group.name,
            "riskcode": str(group.risk),
            "confidence": str(group.confidence),
            "riskdesc": group.riskdesc,
            "desc": paragraphs(group.desc),
            "instances": [dict(i) for i in group.instances],
            "count": str(len(group.instances)),
            "solution": paragraphs(group.solution),
            "otherinfo": paragraphs(group.otherinfo),
            "reference": paragraphs(group.reference),
            "cweid": str(group.cwe),
            "wascid": str(group.wasc),
            "sourceid": SOURCE_ID,
        })  # fmt: skip
    return {
        "@programName": PROGRAM,
        "@version": version,
        "@generated": when,
        "site": [{**site_fields(origin), "alerts": alerts}],
    }


_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def _template() -> Any:
    text = resources.files("secpipe.engines.baseline").joinpath("templates/report.html.j2")
    return _ENV.from_string(text.read_text(encoding="utf-8"))


def render_html(
    *,
    origin: str,
    groups: Iterable[AlertGroup],
    levels: dict[int, str],
    verdict: int,
    pages: int,
    duration_s: float,
    passed: list[tuple[int, str]],
    errors: list[str],
    error: str | None,
    version: str,
    max_instances: int = 50,
) -> str:
    ordered = sorted(groups, key=AlertGroup.sort_key)
    counts = {word: 0 for word in ("High", "Medium", "Low", "Informational")}
    for group in ordered:
        counts[RISK_WORDS[group.risk]] += 1
    verdicts = {0: "PASS", 1: "FAIL", 2: "WARN", 3: "ERROR"}
    return _template().render(
        program=PROGRAM, version=version, origin=origin, groups=ordered, levels=levels,
        verdict=verdict, verdict_word=verdicts.get(verdict, str(verdict)), pages=pages,
        duration=f"{duration_s:.1f}", passed=passed, errors=errors, error=error, counts=counts,
        risk_words=RISK_WORDS, confidence_words=CONFIDENCE_WORDS, max_instances=max_instances,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )  # fmt: skip
