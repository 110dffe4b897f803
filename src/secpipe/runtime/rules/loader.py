"""Reading Falco rules files: lists, macros, rules, exceptions, append and override.

Loading has Falco's two phases. Collecting walks the files in order and applies every
definition, `append: true` and `override:` to what came before (a later file tunes an earlier
one, as `falco_rules.local.yaml` does). Compiling then parses every condition, adds the
exceptions the way Falco's rule compiler writes them (`(cond) and not ((f1 = v1 and ...) or
...)`), resolves macros and lists, and sorts each rule into `loaded` or `skipped` with its
reason: a source other than syscall, fields the sensor cannot provide, or `enabled: false`.
Nothing is dropped silently. What Falco refuses (bad syntax, an undefined macro, a rule with
no condition, an engine version newer than ours) raises RulesError naming file and item.

YAML scalars are read as strings except true/false/null, because Falco's lists hold words
(`010`, `on`) that YAML 1.1 would turn into numbers and booleans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from secpipe.formats.falco import priority_of
from secpipe.runtime.rules.compiler import CompileError, Compiler
from secpipe.runtime.rules.condition import ConditionError, parse_condition
from secpipe.runtime.rules.fields import FIELDS

ENGINE_VERSION = (0, 57, 0)
LIST_OPS = ("in", "intersects", "pmatch")
_APPENDABLE = {"condition", "output", "desc", "tags", "exceptions"}
_REPLACEABLE = _APPENDABLE | {"priority", "enabled", "warn_evttypes", "skip-if-unknown-filter",
                              "capture", "capture_duration"}


class RulesError(Exception):
    """A rules file Falco itself would refuse."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps every scalar a string except true/false/null."""


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                              ["~", "n", "N", ""])


@dataclass
class ExceptionInfo:
    name: str
    fields: str | list[str]
    comps: str | list[str]
    values: list[Any]


@dataclass
class RuleInfo:
    name: str
    where: str
    condition: str = ""
    output: str = ""
    desc: str = ""
    priority: str = ""
    tags: list[str] = field(default_factory=list)
    enabled: bool = True
    source: str = "syscall"
    exceptions: list[ExceptionInfo] = field(default_factory=list)


@dataclass
class Collected:
    lists: dict[str, list[str]] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)
    macro_where: dict[str, str] = field(default_factory=dict)
    rules: dict[str, RuleInfo] = field(default_factory=dict)
    engine_version: tuple[int, int, int] | None = None
    plugins: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _version(value: Any, where: str) -> tuple[int, int, int]:
    text = str(value).strip()
    if text.isdigit():
        return (0, int(text), 0)          # the old integer form means 0.N.0
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise RulesError(where, f"required_engine_version {text!r} is not a version")
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def _str(item: dict, key: str, where: str, required: bool = True) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            raise RulesError(where, f"item has no mapping for key '{key}'")
        return None
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise RulesError(where, f"'{key}' should be a string")
    return str(value)


def _strings(value: Any, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RulesError(where, f"'{key}' should be a list")
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in value]


def _exceptions(raw: Any, where: str) -> list[ExceptionInfo]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RulesError(where, "'exceptions' should be a list")
    out = []
    for ex in raw:
        if not isinstance(ex, dict) or not ex.get("name"):
            raise RulesError(where, "each exception needs a 'name'")
        name = str(ex["name"])
        fields, comps = ex.get("fields"), ex.get("comps")
        values = ex.get("values") or []
        if not isinstance(values, list):
            raise RulesError(where, f"exception '{name}': 'values' should be a list")
        if isinstance(fields, list):
            fields = [str(f) for f in fields]
            if comps is None:
                comps = ["="] * len(fields)
            if not isinstance(comps, list) or len(comps) != len(fields):
                raise RulesError(where, f"exception '{name}': fields and comps lists must "
                                        "have equal length")
            comps = [str(c) for c in comps]
        elif fields is not None:
            fields = str(fields)
            comps = "in" if comps is None else str(comps)
            if comps not in LIST_OPS:
                raise RulesError(where, f"exception '{name}': when fields is a single value, "
                                        "comps must be one of (in, pmatch, intersects)")
        out.append(ExceptionInfo(name, fields if fields is not None else [], comps or [], values))
    return out


def _quote(item: Any) -> str:
    text = str(item).lower() if isinstance(item, bool) else str(item)
    if " " in text and text[:1] not in ("'", '"'):
        return f'"{text}"'
    return text


def exception_condition(condition: str, exceptions: list[ExceptionInfo], where: str) -> str:
    """The rule's condition with its exceptions, written as Falco's compiler writes it."""
    out = f"({condition})"
    for ex in exceptions:
        icond = ""
        if isinstance(ex.fields, str):
            vals = []
            for val in ex.values:
                if isinstance(val, list):
                    raise RulesError(where, f"exception '{ex.name}': expected values array to "
                                            "contain a list of strings")
                vals.append(_quote(val))
            if vals:
                icond = f"({ex.fields} {ex.comps} ({', '.join(vals)}))"
        else:
            parts = []
            for row in ex.values:
                if not isinstance(row, list) or len(row) != len(ex.fields):
                    raise RulesError(where, f"exception '{ex.name}': fields and values lists "
                                            "must have equal length")
                checks = []
                for fname, comp, val in zip(ex.fields, ex.comps, row):
                    if isinstance(val, list):
                        rhs = "(" + ", ".join(_quote(v) for v in val) + ")"
                    elif comp in LIST_OPS:
                        text = str(val)
                        rhs = text if text.startswith("(") else f"({text})"
                    else:
                        rhs = _quote(val)
                    checks.append(f"{fname} {comp} {rhs}")
                parts.append("(" + " and ".join(checks) + ")")
            if parts:
                icond = "(" + " or ".join(parts) + ")"
        if icond:
            out += " and not " + icond
    return out


def _apply_list(col: Collected, item: dict, where: str) -> None:
    name = _str(item, "list", where)
    items = _strings(item.get("items"), where, "items")
    mode = _mode(item, where, {"items"})
    if mode.get("items") == "append":
        if name not in col.lists:
            raise RulesError(where, f"list '{name}' has 'append' but no earlier definition")
        col.lists[name] = col.lists[name] + items
    else:
        col.lists[name] = items


def _apply_macro(col: Collected, item: dict, where: str) -> None:
    name = _str(item, "macro", where)
    cond = _str(item, "condition", where)
    mode = _mode(item, where, {"condition"})
    if mode.get("condition") == "append":
        if name not in col.macros:
            raise RulesError(where, f"macro '{name}' has 'append' but no earlier definition")
        col.macros[name] = col.macros[name] + " " + cond
    else:
        col.macros[name] = cond
    col.macro_where[name] = where


def _mode(item: dict, where: str, allowed: set[str]) -> dict[str, str]:
    """{key: append|replace} from `append: true` (legacy) or `override:`."""
    append, override = item.get("append"), item.get("override")
    if append is True and override is not None:
        raise RulesError(where, "keys 'override' and 'append: true' cannot be used together")
    if append is True:
        return {k: "append" for k in allowed if k in item}
    if override is None:
        return {}
    if not isinstance(override, dict):
        raise RulesError(where, "'override' should be a mapping of key: append|replace")
    modes: dict[str, str] = {}
    for key, how in override.items():
        how = str(how)
        if how not in ("append", "replace") or key not in allowed | _REPLACEABLE:
            raise RulesError(where, f"cannot override '{key}' with '{how}'")
        if how == "append" and key not in allowed:
            raise RulesError(where, f"key '{key}' cannot be appended to, use 'replace'")
        if key not in item:
            raise RulesError(where, f"'override' names '{key}' but the item has no '{key}'")
        modes[str(key)] = how
    return modes


def _priority(value: Any, where: str) -> str:
    found = priority_of(value)
    if found is None:
        raise RulesError(where, f"invalid priority {value!r}")
    return found[0]


def _apply_rule(col: Collected, item: dict, where: str) -> None:
    name = _str(item, "rule", where)
    where = f"{where} (rule '{name}')"
    prev = col.rules.get(name)
    modes = _mode(item, where, _APPENDABLE)
    if modes:
        if prev is None:
            raise RulesError(where, "rule has 'append'/'override' but no earlier definition")
        for key, how in modes.items():
            _update(prev, key, item[key], how, where)
        return
    keys = set(item) - {"rule"}
    if keys == {"enabled"}:
        if prev is None:
            raise RulesError(where, "rule has 'enabled' key but no rule by that name already "
                                    "exists")
        prev.enabled = item["enabled"] is True
        return
    info = RuleInfo(
        name=name, where=where, condition=_str(item, "condition", where),
        output=_str(item, "output", where), desc=_str(item, "desc", where),
        priority=_priority(_str(item, "priority", where), where),
        tags=_strings(item.get("tags"), where, "tags"),
        enabled=item.get("enabled", True) is not False,
        source=str(item.get("source") or "syscall"),
        exceptions=_exceptions(item.get("exceptions"), where),
    )
    if prev is not None and prev.source != info.source:
        raise RulesError(where, "rule has been re-defined with a different source")
    col.rules.pop(name, None)
    col.rules[name] = info


def _update(rule: RuleInfo, key: str, value: Any, how: str, where: str) -> None:
    if key in ("condition", "output", "desc"):
        text = "" if value is None else str(value)
        old = getattr(rule, key)
        setattr(rule, key, (old + " " + text) if how == "append" and text else
                (old if how == "append" else text))
    elif key == "tags":
        tags = _strings(value, where, "tags")
        rule.tags = list(dict.fromkeys(rule.tags + tags)) if how == "append" else tags
    elif key == "exceptions":
        new = _exceptions(value, where) if how == "replace" else None
        if new is not None:
            rule.exceptions = new
            return
        for ex in value or []:
            name = str((ex or {}).get("name", ""))
            match = next((e for e in rule.exceptions if e.name == name), None)
            if match is None:
                rule.exceptions.extend(_exceptions([ex], where))
            else:
                if "fields" in ex or "comps" in ex:
                    raise RulesError(where, f"can not append fields or comps to exception "
                                            f"'{name}', only values")
                match.values = match.values + list(ex.get("values") or [])
    elif key == "priority":
        rule.priority = _priority(value, where)
    elif key == "enabled":
        rule.enabled = value is True


def collect(sources: Iterable[tuple[str, str]]) -> Collected:
    """Apply every (name, YAML text) in order."""
    col = Collected()
    for source, text in sources:
        try:
            doc = yaml.load(text, Loader=_Loader)   # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise RulesError(source, f"not valid YAML: {exc}") from None
        if doc is None:
            continue
        if not isinstance(doc, list):
            raise RulesError(source, "a rules file is a YAML list of items")
        for index, item in enumerate(doc):
            where = f"{source} item {index}"
            if not isinstance(item, dict):
                raise RulesError(where, "each item should be a mapping")
            if "required_engine_version" in item:
                need = _version(item["required_engine_version"], where)
                if need > ENGINE_VERSION:
                    raise RulesError(where, "rules require engine version "
                                     + ".".join(map(str, need)) + ", but engine version is "
                                     + ".".join(map(str, ENGINE_VERSION)))
                col.engine_version = max(col.engine_version or need, need)
            elif "required_plugin_versions" in item:
                for req in item["required_plugin_versions"] or []:
                    if isinstance(req, dict):
                        col.plugins.append({"name": str(req.get("name", "")),
                                            "version": str(req.get("version", ""))})
            elif "list" in item:
                _apply_list(col, item, where)
            elif "macro" in item:
                _apply_macro(col, item, where)
            elif "rule" in item:
                _apply_rule(col, item, where)
            else:
                col.warnings.append(f"{where}: unknown top level item "
                                    f"{sorted(item)[:3]}, ignored")
    return col


def read_source(source: Path | str | tuple[str, str]) -> tuple[str, str]:
    """A Path is read from disk; a (name, text) pair and a plain str are YAML text."""
    if isinstance(source, Path):
        try:
            return str(source), source.read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesError(str(source), f"cannot read: {exc.strerror or exc}") from None
    if isinstance(source, tuple):
        return source
    return "<rules>", source


def compile_macros(col: Collected) -> dict[str, Any]:
    asts = {}
    for name, cond in col.macros.items():
        try:
            asts[name] = parse_condition(cond)
        except ConditionError as exc:
            raise RulesError(f"{col.macro_where[name]} (macro '{name}')",
                             f"condition does not parse: {exc}") from None
    return asts


def compile_rule(compiler: Compiler, info: RuleInfo):
    condition = exception_condition(info.condition, info.exceptions, info.where) \
        if info.exceptions else info.condition
    try:
        ast = parse_condition(condition)
        return condition, compiler.compile(ast)
    except ConditionError as exc:
        raise RulesError(info.where, f"condition does not parse: {exc}") from None
    except CompileError as exc:
        raise RulesError(info.where, str(exc)) from None


__all__ = ["ENGINE_VERSION", "FIELDS", "RulesError", "collect", "read_source",
           "compile_macros", "compile_rule", "exception_condition", "RuleInfo", "Collected"]
