"""The findings of report.html as one compact JSON block, grouped into issues.

At 50,000 findings a page with one table row per finding takes Chromium tens of seconds to lay
out and weighs tens of MB. So the page carries the findings once, as data: each repeated string
(title, description, remediation, rule, tool, path) once in a string table, each finding as a
short array of indices, findings grouped into issues (`issue_key` from the correlation step, else
the finding's own fingerprint). A small script renders a page of issue rows at a time and a
finding's details only when asked. The first page is also rendered on the server, so the report
still reads without script.

Everything placed in the block is cleaned of control and bidi characters like the rest of the
page, and `<`, `>` and `&` are written as JSON escapes, so no scanned string can end the block.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from secpipe.model import Severity
from secpipe.outputs._common import (
    SHORT_NAMES, Origins, clean, enforcing, link_for, secret_text, where,
)
from secpipe.pipeline.result import GatedFinding, RunResult, StageResult

#: worst first: a group takes the worst state any of its findings has
STATES = ("blocking", "advisory", "open", "suppressed")
#: one finding in the data block: indices into the string table unless said otherwise
FIELDS = ("where", "state", "stage", "tool", "rule", "title", "secret", "id", "suppression",
          "link", "description", "remediation", "rank")  # state, rank: plain ints


def state_of(stage: StageResult, gated: GatedFinding) -> str:
    if gated.suppressed_by is not None:
        return "suppressed"
    if gated.blocking:
        return "blocking" if enforcing(stage) else "advisory"
    return "open"


class _Strings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}
        self.table: list[str] = [""]

    def __call__(self, value: object) -> int:
        text = "" if value is None else str(value)
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.table)
            self.table.append(clean(text))
        return found


def build(run: RunResult, ordered: Sequence[tuple[StageResult, GatedFinding]],
          origins: Origins) -> tuple[dict[str, Any], list[list[int]]]:
    """(the data block, each group's finding indices in order); `ordered` is most severe
    first, so each group's first finding is its worst one."""
    strings = _Strings()
    rows: list[list[int]] = []
    groups: dict[str, list[int]] = {}
    for stage, gated in ordered:
        f = gated.finding
        sup = gated.suppressed_by
        rows.append([
            strings(where(f)), STATES.index(state_of(stage, gated)),
            strings(gated.stage or stage.name), strings(origins.tool_name(stage, gated)),
            strings(f.rule_id), strings(f.title.strip() or f.rule_id), strings(secret_text(f)),
            strings(gated.asff_id), strings(sup.describe() if sup is not None else ""),
            strings(link_for(f) or ""), strings(f.description.strip()),
            strings(f.remediation or ""), int(f.severity),
        ])
        key = getattr(f, "issue_key", None) or f.fingerprint()
        groups.setdefault(key, []).append(len(rows) - 1)
    members = list(groups.values())
    data = {
        "fields": FIELDS,
        "states": STATES,
        "severities": {int(s): [s.name, SHORT_NAMES[s]] for s in Severity},
        "strings": strings.table,
        "findings": rows,
        "groups": members,
    }
    return data, members


def group_view(data: dict[str, Any], members: list[int]) -> dict[str, Any]:
    """What the server-rendered row of one group shows (the script draws the same)."""
    rows, strings = data["findings"], data["strings"]
    first = rows[members[0]]
    field = {name: i for i, name in enumerate(FIELDS)}

    def s(name: str) -> str:
        return strings[first[field[name]]]

    rank = first[field["rank"]]
    severity = Severity(rank)
    state = STATES[min(rows[m][field["state"]] for m in members)]
    return {
        "severity": severity.name, "short": SHORT_NAMES[severity], "rank": rank,
        "stage": s("stage"), "tool": s("tool"), "rule": s("rule"), "link": s("link") or None,
        "where": s("where"), "title": s("title"), "description": s("description"),
        "remediation": s("remediation"), "secret": s("secret"), "state": state,
        "suppression": s("suppression"), "count": len(members),
    }


def to_script_json(data: dict[str, Any]) -> str:
    """JSON that can sit inside <script type="application/json"> whatever the strings hold."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


__all__ = ["FIELDS", "STATES", "build", "group_view", "state_of", "to_script_json"]
