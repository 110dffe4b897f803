"""Falco alerts: `json_output` lines (file or stdout output), one alert object (`http_output`),
or Falcosidekick's webhook payload, which is the same alert with a `uuid`.

An alert is `{time, rule, priority, output, output_fields, source, hostname, tags}`. Falco
gives no alert id, so identity is what the alert is about: the rule, the container (or host),
the process and the file. Alerts with the same identity in one document collapse into one
Finding with `Count`, `FirstSeen` and `LastSeen` properties: a flood is one finding. (The hub's
intake does the same across requests, within a time window; see `secpipe.runtime.dedup`.)

Types come from the rule's MITRE tags (`mitre_execution` -> `TTPs/Execution`). ASFF's TTPs
namespace has no exfiltration or impact category, so those two map onto the taxonomy's
Effects (`Effects/Data Exfiltration`, `Effects/Data Destruction`) rather than inventing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, Sequence

from secpipe.formats._common import (
    blank, check_document_size, is_json_lines, iter_json_lines, load_json,
)
from secpipe.formats._falco_time import alert_time, iso_ms, parse_time
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Resource, Severity

# Falco's priorities, lower-cased, with Falcosidekick's `info` alias.
PRIORITIES: dict[str, tuple[str, Severity]] = {
    "emergency": ("Emergency", Severity.CRITICAL),
    "alert": ("Alert", Severity.CRITICAL),
    "critical": ("Critical", Severity.CRITICAL),
    "error": ("Error", Severity.HIGH),
    "warning": ("Warning", Severity.MEDIUM),
    "notice": ("Notice", Severity.LOW),
    "informational": ("Informational", Severity.INFORMATIONAL),
    "info": ("Informational", Severity.INFORMATIONAL),
    "debug": ("Debug", Severity.INFORMATIONAL),
}

MITRE_TYPES: dict[str, str] = {
    "mitre_initial_access": "TTPs/Initial Access",
    "mitre_execution": "TTPs/Execution",
    "mitre_persistence": "TTPs/Persistence",
    "mitre_privilege_escalation": "TTPs/Privilege Escalation",
    "mitre_defense_evasion": "TTPs/Defense Evasion",
    "mitre_credential_access": "TTPs/Credential Access",
    "mitre_discovery": "TTPs/Discovery",
    "mitre_reconnaissance": "TTPs/Discovery",
    "mitre_lateral_movement": "TTPs/Lateral Movement",
    "mitre_collection": "TTPs/Collection",
    "mitre_command_and_control": "TTPs/Command and Control",
    "mitre_exfiltration": "Effects/Data Exfiltration",
    "mitre_impact": "Effects/Data Destruction",
}
DEFAULT_TYPE = "Unusual Behaviors/Process"
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
_MAX_PROPERTY_FIELDS = 30


@dataclass(frozen=True)
class Alert:
    """One Falco alert, checked the way Falcosidekick checks it."""

    rule: str
    priority: str                    # Falco's canonical spelling (`Warning`)
    severity: Severity
    time: datetime                   # UTC
    output: str
    fields: Mapping[str, Any]
    source: str = "syscall"
    hostname: str = ""
    tags: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stamp(self) -> str:
        """The alert's time as ASFF wants it (milliseconds, `Z`)."""
        return iso_ms(self.time)

    def value(self, name: str) -> str:
        """An output field as text ('' when absent or null)."""
        value = self.fields.get(name)
        if value is None or isinstance(value, (dict, list)):
            return ""
        return str(value)

    @property
    def container_id(self) -> str:
        cid = self.value("container.id")
        return "" if cid in ("", "host", "<NA>") else cid

    @property
    def image(self) -> tuple[str, str, str]:
        """(repository, tag, digest) of the alert's container image; '' for what is unknown."""
        repo = _known(self.value("container.image.repository"))
        tag = _known(self.value("container.image.tag"))
        digest = _known(self.value("container.image.digest"))
        full = _known(self.value("container.image"))
        if full and not repo:
            repo, tag2, digest2 = split_image(full)
            tag, digest = tag or tag2, digest or digest2
        return repo, tag, digest

    @property
    def process(self) -> str:
        for name in ("proc.exepath", "proc.exe", "proc.name"):
            value = _known(self.value(name))
            if value:
                return value
        cmdline = _known(self.value("proc.cmdline"))
        return cmdline.split(" ", 1)[0] if cmdline else ""

    @property
    def file(self) -> str:
        return _known(self.value("fd.name"))


def _known(value: str) -> str:
    return "" if value in ("<NA>", "N/A") else value


def split_image(ref: str) -> tuple[str, str, str]:
    """`registry/repo:tag@sha256:...` -> (repository, tag, digest)."""
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
    return ref, tag, digest


def priority_of(value: Any) -> tuple[str, Severity] | None:
    if not isinstance(value, str):
        return None
    return PRIORITIES.get(value.strip().lower())


def read_alert(obj: Any, source: str, where: str = "the alert", *,
               time_range: bool = True) -> Alert:
    """Check one alert as Falcosidekick does (rule, time, output_fields present; a known
    priority) and normalise it; ReportFormatError says what is wrong.

    `time_range=False` leaves a readable but implausible time to the caller: the hub's intake
    applies its own clock policy and sets such alerts aside as dead letters, one by one,
    instead of refusing the whole document."""
    if not isinstance(obj, dict):
        raise ReportFormatError(source, f"{where} should be a JSON object")
    rule = obj.get("rule")
    if not isinstance(rule, str) or not rule.strip():
        raise ReportFormatError(source, f"{where} has no 'rule'")
    prio = priority_of(obj.get("priority"))
    if prio is None:
        raise ReportFormatError(source, f"{where} has an unknown priority "
                                        f"{obj.get('priority')!r}")
    fields = obj.get("output_fields")
    if not isinstance(fields, dict):
        raise ReportFormatError(source, f"{where} has no 'output_fields' object")
    when = alert_time(obj, fields, source, where, check_range=time_range)
    tags = obj.get("tags")
    tag_list = tuple(str(t) for t in tags if isinstance(t, (str, int))) \
        if isinstance(tags, list) else ()
    output = obj.get("output")
    known = {"rule", "priority", "time", "output", "output_fields", "source", "hostname", "tags"}
    return Alert(
        rule=rule.strip(), priority=prio[0], severity=prio[1], time=when,
        output=output.strip() if isinstance(output, str) and output.strip() else rule.strip(),
        fields=fields, source=str(obj.get("source") or "syscall"),
        hostname=str(obj.get("hostname") or ""), tags=tag_list,
        extra={k: v for k, v in obj.items() if k not in known},
    )


class Alerts(list):
    """The alerts of a document, plus what was skipped: with `partial_last_line="warn"`, the
    problem of a last line cut short (streaming intake counts these as warnings)."""

    skipped: list[str]

    def __init__(self, alerts: Sequence[Alert] = (), skipped: Sequence[str] = ()) -> None:
        super().__init__(alerts)
        self.skipped = list(skipped)


def read_alerts(data: bytes, source: str, *, partial_last_line: str = "error") -> Alerts:
    """All alerts of a document: JSON lines, one object, or an array of objects.

    A JSON-lines report whose last line is cut short is a ReportFormatError naming the line;
    streaming intake (a log read while Falco writes it) passes `partial_last_line="warn"` to
    skip that line instead, and finds its problem in the result's `skipped`.
    """
    skipped: list[str] = []
    alerts = list(iter_alerts(data, source, partial_last_line=partial_last_line,
                              on_partial=lambda _n, problem: skipped.append(problem)))
    return Alerts(alerts, skipped)


def iter_alerts(data: bytes, source: str, *, partial_last_line: str = "error",
                on_partial: Callable[[int, str], None] | None = None,
                time_range: bool = True) -> Iterator[Alert]:
    """The alerts one at a time: JSON lines stream (a Falco log of any size reads in the
    memory of one line); one object or an array is read as a document, within the size limit."""
    if blank(data):
        return
    whole = None
    if not is_json_lines(data):
        check_document_size(data, source)
        try:
            whole = load_json(data, source)
        except ReportFormatError:
            pass  # not one document: reading it as JSON lines names the broken line
    if whole is None:
        rows = iter_json_lines(data, source, partial_last_line=partial_last_line,
                               on_partial=on_partial)
        for i, row in enumerate(rows, 1):
            yield read_alert(row, source, f"line {i}", time_range=time_range)
        return
    if isinstance(whole, dict):
        yield read_alert(whole, source, time_range=time_range)
        return
    if isinstance(whole, list):
        for i, row in enumerate(whole):
            yield read_alert(row, source, f"alert {i}", time_range=time_range)
        return
    raise ReportFormatError(source, "a Falco report is an alert object, an array of alerts "
                                    "or JSON lines")


def mitre_types(tags: Sequence[str]) -> tuple[str, ...]:
    found = [MITRE_TYPES[t.lower()] for t in tags if t.lower() in MITRE_TYPES]
    return tuple(dict.fromkeys(found)) or (DEFAULT_TYPE,)


def dedup_scope(alert: Alert) -> str:
    """Where the alert happened, for identity: the container, else the pod, else the host."""
    if alert.container_id:
        return f"container:{alert.container_id}"
    pod, ns = _known(alert.value("k8s.pod.name")), _known(alert.value("k8s.ns.name"))
    if pod:
        return f"pod:{ns}/{pod}"
    return f"host:{alert.hostname or 'unknown'}"


def _resource(alert: Alert) -> Resource:
    details: dict[str, str] = {}
    repo, tag, digest = alert.image
    for key, value in (
        ("ContainerName", _known(alert.value("container.name"))),
        ("ImageRepository", repo), ("ImageTag", tag), ("ImageDigest", digest),
        ("Image", f"{repo}:{tag}" if repo and tag else repo),
        ("KubernetesNamespace", _known(alert.value("k8s.ns.name"))),
        ("KubernetesPod", _known(alert.value("k8s.pod.name"))),
        ("Hostname", alert.hostname),
    ):
        if value:
            details[key] = value
    if alert.container_id:
        return Resource(type="Container", id=alert.container_id, details=details)
    return Resource(type="Other", id=dedup_scope(alert), details=details)


def _value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return None
    return str(value)


def alert_finding(alert: Alert) -> Finding:
    """One alert as a Finding (Count 1)."""
    techniques = [t for t in alert.tags if _TECHNIQUE.match(t)]
    properties: dict[str, str] = {
        "Priority": alert.priority, "Source": alert.source, "Count": "1",
        "FirstSeen": alert.stamp, "LastSeen": alert.stamp,
    }
    if alert.hostname:
        properties["Hostname"] = alert.hostname
    if alert.tags:
        properties["Tags"] = ",".join(alert.tags)
    if techniques:
        properties["MitreTechniques"] = ",".join(techniques)
    for name in sorted(alert.fields)[:_MAX_PROPERTY_FIELDS]:
        text = _value(alert.fields[name])
        if text is not None and text != "":
            properties[f"falco.{name}"] = text
    return Finding(
        tool="falco",
        rule_id=alert.rule,
        title=alert.rule,
        description=alert.output,
        severity=alert.severity,
        severity_original=alert.priority,
        category=Category.RUNTIME,
        resource=_resource(alert),
        location_key=f"falco:{alert.process}|{alert.file}",
        references=tuple(f"https://attack.mitre.org/techniques/{t.replace('.', '/')}/"
                         for t in techniques),
        properties=properties,
        types=mitre_types(alert.tags),
        first_observed_at=alert.stamp,
        last_observed_at=alert.stamp,
    )


def with_count(finding: Finding, count: int, first: str, last: str) -> Finding:
    return finding.with_(properties={**finding.properties, "Count": str(count),
                                     "FirstSeen": first, "LastSeen": last},
                         first_observed_at=first, last_observed_at=last)


def parse(data: bytes, source: str = "<falco>") -> Sequence[Finding]:
    groups: dict[str, list] = {}      # fingerprint -> [latest alert, its finding, count, first, last]
    for alert in iter_alerts(data, source):
        finding = alert_finding(alert)
        key = finding.fingerprint()
        seen = groups.get(key)
        if seen is None:
            groups[key] = [alert, finding, 1, alert.time, alert.time]
            continue
        seen[2] += 1
        seen[3] = min(seen[3], alert.time)
        if alert.time >= seen[4]:
            seen[0], seen[1], seen[4] = alert, finding, alert.time
    return [with_count(finding, count, iso_ms(first), iso_ms(last))
            for _alert, finding, count, first, last in groups.values()]


def _looks_like_alert(obj: Any) -> bool:
    return isinstance(obj, dict) and {"rule", "priority", "output_fields"} <= obj.keys()


def sniff(doc: Document) -> bool:
    data = doc.json
    if isinstance(data, dict):
        return _looks_like_alert(data)
    if isinstance(data, list):
        return bool(data) and _looks_like_alert(data[0])
    if data is None and doc.data.lstrip()[:1] == b"{":
        rows = doc.json_lines
        return bool(rows) and _looks_like_alert(rows[0])
    return False


FORMAT = ReportFormat(name="falco", title="Falco alerts (json_output lines, http_output, "
                      "Falcosidekick webhook)", parse=parse, sniff=sniff,
                      extensions=(".json", ".jsonl", ".log"))

__all__ = ["Alert", "Alerts", "FORMAT", "alert_finding", "alert_time", "iso_ms", "parse_time",
           "read_alert", "read_alerts", "split_image", "with_count"]
