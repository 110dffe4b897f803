"""The baseline's passive rules, keyed by OWASP ZAP plugin id.

Importing this package registers every rule module into `RULES`; `run_rules` applies them to
one message. A rule that raises is reported as an engine error for that message rather than
stopping the scan: one odd response must not hide the findings of the others.
"""

from __future__ import annotations

from typing import Iterable

from secpipe.engines.baseline.message import Message
from secpipe.engines.baseline.rules import cache, content, cookies, csp, headers, isolation
from secpipe.engines.baseline.rules._registry import (
    CONFIDENCE_WORDS,
    RISK_WORDS,
    RULES,
    Hit,
    Rule,
)

__all__ = ["CONFIDENCE_WORDS", "RISK_WORDS", "RULES", "Hit", "Rule", "run_rules", "selected"]
_MODULES = (cache, content, cookies, csp, headers, isolation)  # imported for registration


def selected(include_alpha: bool = False, disabled: Iterable[int] = ()) -> list[Rule]:
    """Rules to run, in plugin-id order: release and beta always, alpha on request (ZAP -a)."""
    off = set(disabled)
    return [
        r for _, r in sorted(RULES.items())
        if r.id not in off and (include_alpha or r.status != "alpha")
    ]  # fmt: skip


def run_rules(msg: Message, rules: Iterable[Rule]) -> tuple[list[tuple[Rule, Hit]], list[str]]:
    """(rule, hit) pairs for one message, and messages of rules that failed on it."""
    hits: list[tuple[Rule, Hit]] = []
    errors: list[str] = []
    for rule in rules:
        try:
            hits.extend((rule, hit) for hit in rule.check(msg))
        except Exception as exc:  # noqa: BLE001 - isolate one rule's bug to one message
            errors.append(f"rule {rule.id} failed on {msg.url}: {type(exc).__name__}: {exc}")
    return hits, errors
