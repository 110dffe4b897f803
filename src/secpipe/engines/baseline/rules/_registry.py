"""The shape of a passive rule and the table every rule module registers into.

A rule is ZAP's plugin metadata (id, names, default risk and confidence, CWE, WASC and the
description, solution and reference texts as ZAP words them) plus one function over a
`Message` that yields `Hit`s. A hit carries the instance data (param, evidence, other info)
and, for rules that raise several kinds of alert (10020-1..4, 10035-1..8, ...), the fields
that kind overrides. Texts use "\\n" between paragraphs, as ZAP's message files do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from secpipe.engines.baseline.message import Message

INFO, LOW, MEDIUM, HIGH = 0, 1, 2, 3
CONF_LOW, CONF_MEDIUM, CONF_HIGH = 1, 2, 3
RISK_WORDS = {0: "Informational", 1: "Low", 2: "Medium", 3: "High"}
CONFIDENCE_WORDS = {0: "False Positive", 1: "Low", 2: "Medium", 3: "High", 4: "Confirmed"}


@dataclass(frozen=True)
class Hit:
    """One occurrence found by a rule; None fields fall back to the rule's defaults."""

    param: str = ""
    evidence: str = ""
    otherinfo: str = ""
    ref: str = ""  # alertRef suffix: "1" makes alertRef "<id>-1"
    name: str | None = None
    risk: int | None = None
    confidence: int | None = None
    desc: str | None = None
    solution: str | None = None
    reference: str | None = None
    cwe: int | None = None
    wasc: int | None = None


Check = Callable[[Message], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: int
    name: str  # the scan rule's name (what ZAP's generated rules file shows)
    alert: str  # the default alert name
    risk: int
    confidence: int
    cwe: int
    wasc: int
    desc: str
    solution: str
    reference: str
    check: Check
    status: str = "release"  # ZAP add-on status: release, beta or alpha
    trigger: str = ""  # one line: when it fires (docs and the HTML report)


RULES: dict[int, Rule] = {}


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").split("\n\n")[0].split())


def rule(
    plugin_id: int,
    *,
    name: str,
    alert: str | None = None,
    risk: int,
    confidence: int,
    cwe: int,
    wasc: int,
    desc: str,
    solution: str,
    reference: str = "",
    status: str = "release",
    trigger: str = "",
) -> Callable[[Check], Check]:
    """Register a check function as ZAP passive rule `plugin_id`."""

    def register(check: Check) -> Check:
        if plugin_id in RULES:
            raise ValueError(f"passive rule {plugin_id} registered twice")
        RULES[plugin_id] = Rule(
            plugin_id, name, alert or name, risk, confidence, cwe, wasc, desc, solution,
            reference, check, status, trigger or _first_paragraph(check.__doc__),
        )  # fmt: skip
        return check

    return register
