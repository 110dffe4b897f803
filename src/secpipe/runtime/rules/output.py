"""A rule's output: `%field` substitution and the Falco alert that carries it.

The alert has exactly the shape Falco's `json_output` writes (and `http_output` posts), so
whatever reads real Falco alerts - the hub's `/falco` intake, `secpipe falco ingest`,
Falcosidekick - reads ours too.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any, Mapping

from secpipe.runtime.rules.fields import Many, as_type, display, field_type, raw_value

_TOKEN = re.compile(r"%(?:\(([a-zA-Z][\w.]*(?:\[[^\]]*\])?)\)|"
                    r"([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+(?:\[[^\]]*\])?))")
_SPLIT = re.compile(r"^([^\[]+)(?:\[([^\]]*)\])?$")
# Identity fields every alert carries when the event has them (Falco's container plugin adds
# container.id / container.name the same way), so the hub can tie the alert to its image.
CONTEXT_FIELDS = ("container.id", "container.name", "container.image.repository",
                  "container.image.tag", "container.image.digest", "k8s.ns.name", "k8s.pod.name")


def output_tokens(output: str) -> list[str]:
    """The fields an output refers to, as written (`proc.aname[2]`), in order, once each."""
    found = [m.group(1) or m.group(2) for m in _TOKEN.finditer(output)]
    return list(dict.fromkeys(found))


def _lookup(event: Mapping[str, Any], token: str) -> Any:
    m = _SPLIT.match(token)
    name, arg = (m.group(1), m.group(2)) if m else (token, None)
    value = raw_value(event, name, arg)
    if isinstance(value, Many):
        return list(value)
    return as_type(value, field_type(name)) if value is not None else None


def format_output(output: str, event: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(message, output_fields): every `%field` replaced by its value, `<NA>` when missing."""
    output = output.replace("%container.info", "").strip()
    fields: dict[str, Any] = {}

    def sub(m: re.Match[str]) -> str:
        token = m.group(1) or m.group(2)
        if token not in fields:
            fields[token] = _lookup(event, token)
        return display(fields[token])

    message = _TOKEN.sub(sub, output)
    return " ".join(message.split()), fields


def _when(event: Mapping[str, Any], when: datetime | int | None) -> int:
    """The event's time in nanoseconds since the epoch."""
    value = when if when is not None else event.get("evt.rawtime")
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000_000)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return time.time_ns()


def rfc3339_ns(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"


def make_alert(rule: Any, event: Mapping[str, Any], *, hostname: str = "",
               when: datetime | int | None = None) -> dict[str, Any]:
    """The Falco JSON alert for `rule` firing on `event` (`rule` is a loaded Rule)."""
    ns = _when(event, when)
    message, fields = format_output(rule.output, event)
    for name in CONTEXT_FIELDS:
        if name not in fields:
            value = raw_value(event, name)
            if value is not None:
                fields[name] = value
    secs, frac = divmod(ns, 1_000_000_000)
    local = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "hostname": hostname or str(event.get("evt.hostname") or event.get("hostname") or ""),
        "output": f"{local}.{frac:09d}+0000: {rule.priority} {message}",
        "output_fields": fields,
        "priority": rule.priority,
        "rule": rule.name,
        "source": rule.source,
        "tags": sorted(rule.tags),
        "time": rfc3339_ns(ns),
    }
