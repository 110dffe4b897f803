"""A Falco rules engine: load real Falco rules files and evaluate them on observed events.

    rules = load_rules(Path("falco_rules.yaml"), Path("service_rules.yaml"))
    rules.loaded            # [Rule, ...] ready to evaluate
    rules.skipped           # [(rule name, reason), ...] - never silently dropped
    for alert in rules.alerts(event, hostname="web-1"):
        ...                 # Falco's own JSON alert shape

`fields` narrows what the sensor feeding the engine fills in (default: every field in
`secpipe.runtime.rules.fields.FIELDS`); a rule needing anything else is skipped with the
fields it lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from secpipe.formats.falco import PRIORITIES
from secpipe.model import Severity
from secpipe.runtime.rules.compiler import CompileError, Compiler
from secpipe.runtime.rules.condition import ConditionError, parse_condition
from secpipe.runtime.rules.fields import FIELDS
from secpipe.runtime.rules.loader import (ENGINE_VERSION, RulesError, collect, compile_macros,
                                          compile_rule, read_source)
from secpipe.runtime.rules.output import format_output, make_alert, output_tokens

Event = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    name: str
    desc: str
    condition: str                  # as evaluated: with the exceptions added
    output: str
    priority: str                   # Falco's spelling: Warning, Notice, ...
    tags: tuple[str, ...]
    source: str
    fields: frozenset[str]          # every field the condition reads, macros expanded
    match: Callable[[Event], bool] = field(repr=False, compare=False)
    where: str = ""

    @property
    def severity(self) -> Severity:
        return PRIORITIES[self.priority.lower()][1]

    def format(self, event: Event) -> str:
        return format_output(self.output, event)[0]


@dataclass
class RuleSet:
    loaded: list[Rule] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    lists: dict[str, list[str]] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)
    required_engine_version: str | None = None
    required_plugins: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str) -> Rule:
        for rule in self.loaded:
            if rule.name == name:
                return rule
        reason = dict(self.skipped).get(name)
        raise KeyError(f"rule {name!r} is not loaded" + (f": {reason}" if reason else ""))

    def match(self, event: Event) -> list[Rule]:
        """The loaded rules whose condition holds for the event, in file order."""
        return [rule for rule in self.loaded if rule.match(event)]

    def alerts(self, event: Event, *, hostname: str = "", when: Any = None) -> list[dict]:
        """Falco JSON alerts for every rule the event triggers."""
        return [make_alert(rule, event, hostname=hostname, when=when)
                for rule in self.match(event)]


def load_rules(*sources: Path | str | tuple[str, str],
               fields: Iterable[str] | None = None) -> RuleSet:
    """Load rules files in order (a Path is read; a str or (name, text) is YAML text)."""
    provided = frozenset(fields) if fields is not None else frozenset(FIELDS)
    col = collect(read_source(s) for s in sources)
    compiler = Compiler(col.lists, compile_macros(col))
    out = RuleSet(lists=dict(col.lists), macros=dict(col.macros),
                  required_plugins=list(col.plugins), warnings=list(col.warnings))
    if col.engine_version:
        out.required_engine_version = ".".join(map(str, col.engine_version))
    for info in col.rules.values():
        if info.source != "syscall":
            out.skipped.append((info.name, f"source '{info.source}' is not evaluated here "
                                           "(syscall events only)"))
            continue
        condition, compiled = compile_rule(compiler, info)
        missing = sorted(compiled.fields - provided)
        if missing:
            out.skipped.append((info.name, "needs fields the sensor cannot provide: "
                                + ", ".join(missing)))
            continue
        if not info.enabled:
            out.skipped.append((info.name, "disabled (enabled: false)"))
            continue
        unknown_out = [t for t in output_tokens(info.output) if t.split("[")[0] not in provided]
        if unknown_out:
            out.warnings.append(f"{info.where}: output fields printed as <NA>: "
                                + ", ".join(unknown_out))
        out.loaded.append(Rule(name=info.name, desc=info.desc, condition=condition,
                               output=info.output, priority=info.priority,
                               tags=tuple(info.tags), source=info.source,
                               fields=compiled.fields, match=compiled.match, where=info.where))
    return out


def compile_condition(condition: str, *, lists: Mapping[str, list[str]] | None = None,
                      macros: Mapping[str, str] | None = None) -> Callable[[Event], bool]:
    """One condition as a predicate (for tests and ad-hoc filters)."""
    try:
        asts = {name: parse_condition(text) for name, text in (macros or {}).items()}
        return Compiler(dict(lists or {}), asts).compile(parse_condition(condition)).match
    except (ConditionError, CompileError) as exc:
        raise RulesError("<condition>", str(exc)) from None


__all__ = ["ENGINE_VERSION", "FIELDS", "Rule", "RuleSet", "RulesError", "load_rules",
           "compile_condition", "make_alert", "format_output"]
