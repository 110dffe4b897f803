"""Turn a parsed condition into a predicate on events, resolving macros and lists.

Each check becomes a closure that reads its field (with transformers), converts the rule's
literal once, at load time, into the field's type, and applies the operator; `and`/`or`/`not`
compose those closures. Compiling also collects every field a condition reads after macro
expansion, which is what decides whether a sensor can feed the rule at all.

List references are expanded wherever Falco would substitute them: a bare item inside `( ... )`
that names a list (recursively, lists of lists), or a list name right after a list operator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Callable, Iterable, Mapping

from secpipe.runtime.rules.condition import (And, Check, FieldRef, FieldValue, ListRef,
                                             ListValue, Literal, Macro, Node, Not, Or,
                                             parse_item)
from secpipe.runtime.rules.fields import (BOOL, INT, STRING, TRANSFORM, Many, as_type,
                                          field_type, raw_value)

Event = Mapping[str, Any]
Predicate = Callable[[Event], bool]


class CompileError(ValueError):
    """A condition that parses but cannot mean anything (undefined macro, bad number...)."""


@dataclass(frozen=True)
class Compiled:
    match: Predicate
    fields: frozenset[str]


class Compiler:
    def __init__(self, lists: Mapping[str, list[str]], macros: Mapping[str, Node]) -> None:
        self.lists = lists
        self.macros = macros
        self._macro_cache: dict[str, Compiled] = {}
        self._list_cache: dict[str, tuple[Literal, ...]] = {}
        self.used_lists: set[str] = set()
        self.used_macros: set[str] = set()

    # --- lists and macros --------------------------------------------------------------------
    def list_items(self, name: str, stack: tuple[str, ...] = ()) -> tuple[Literal, ...]:
        if name in self._list_cache:
            return self._list_cache[name]
        if name in stack:
            raise CompileError(f"list '{name}' refers to itself through "
                               + " -> ".join(stack + (name,)))
        self.used_lists.add(name)
        out: list[Literal] = []
        for raw in self.lists[name]:
            item = parse_item(raw)
            if not item.quoted and item.text in self.lists:
                out.extend(self.list_items(item.text, stack + (name,)))
            else:
                out.append(item)
        self._list_cache[name] = tuple(out)
        return self._list_cache[name]

    def expand(self, items: Iterable[Literal]) -> list[Literal]:
        out: list[Literal] = []
        for item in items:
            if not item.quoted and item.text in self.lists:
                out.extend(self.list_items(item.text))
            else:
                out.append(item)
        return out

    def macro(self, name: str, stack: tuple[str, ...]) -> Compiled:
        if name in self._macro_cache:
            return self._macro_cache[name]
        if name in stack:
            raise CompileError(f"macro '{name}' refers to itself through "
                               + " -> ".join(stack + (name,)))
        if name not in self.macros:
            raise CompileError(f"Undefined macro '{name}' used in filter.")
        self.used_macros.add(name)
        compiled = self.compile(self.macros[name], stack + (name,))
        self._macro_cache[name] = compiled
        return compiled

    # --- nodes -------------------------------------------------------------------------------
    def compile(self, node: Node, stack: tuple[str, ...] = ()) -> Compiled:
        if isinstance(node, Macro):
            return self.macro(node.name, stack)
        if isinstance(node, Not):
            inner = self.compile(node.child, stack)
            fn = inner.match
            return Compiled(lambda e: not fn(e), inner.fields)
        if isinstance(node, (And, Or)):
            parts = [self.compile(c, stack) for c in node.children]
            fns = tuple(p.match for p in parts)
            fields = frozenset().union(*(p.fields for p in parts))
            if isinstance(node, And):
                def all_of(e: Event, fns=fns) -> bool:
                    for f in fns:
                        if not f(e):
                            return False
                    return True
                return Compiled(all_of, fields)

            def any_of(e: Event, fns=fns) -> bool:
                for f in fns:
                    if f(e):
                        return True
                return False
            return Compiled(any_of, fields)
        if isinstance(node, Check):
            return self.check(node)
        raise CompileError(f"unexpected node {node!r}")

    def check(self, node: Check) -> Compiled:
        getter, kind = _getter(node.field)
        fields = {node.field.name}
        value = node.value
        if isinstance(value, FieldValue):
            fields.add(value.field.name)
        fields_f = frozenset(fields)
        if node.op == "exists":
            return Compiled(lambda e: getter(e) is not None, fields_f)
        if node.op == "truthy":
            def truthy(e: Event) -> bool:
                v = getter(e)
                if isinstance(v, Many):
                    return any(bool(x) for x in v)
                return bool(v)
            return Compiled(truthy, fields_f)
        if isinstance(value, FieldValue):
            return Compiled(self._field_check(node.op, getter, kind, value.field), fields_f)
        pred = self._predicate(node, kind)

        def run(e: Event) -> bool:
            v = getter(e)
            if v is None:
                return False
            if type(v) is Many:
                return any(x is not None and pred(x) for x in v)
            return pred(v)
        return Compiled(run, fields_f)

    # --- operators ---------------------------------------------------------------------------
    def _rhs_items(self, node: Check) -> list[Literal]:
        value = node.value
        if isinstance(value, ListValue):
            return self.expand(value.items)
        if isinstance(value, ListRef):
            if value.name not in self.lists:
                raise CompileError(f"'{value.name}' after '{node.op}' is not a defined list")
            return list(self.list_items(value.name))
        if isinstance(value, Literal):
            return [value]
        raise CompileError(f"operator '{node.op}' needs a value")

    def _predicate(self, node: Check, kind: str) -> Callable[[Any], bool]:
        op = node.op
        items = self._rhs_items(node)
        where = f"field '{node.field}'"
        if op in ("in", "intersects", "pmatch"):
            values = [_convert(i.text, kind, where) for i in items]
            if op == "pmatch":
                prefixes = [str(v) for v in values]
                return lambda v: any(_path_match(str(v), p) for p in prefixes)
            members = frozenset(values)
            return lambda v: v in members
        if len(items) != 1:
            raise CompileError(f"operator '{op}' on {where} takes one value, got a list")
        text = items[0].text
        if op in ("=", "=="):
            r = _convert(text, kind, where)
            return lambda v: v == r
        if op == "!=":
            r = _convert(text, kind, where)
            return lambda v: v != r
        if op in ("<", "<=", ">", ">="):
            r = _convert(text, kind, where)
            return _ORDER[op](r)
        if kind != STRING:
            raise CompileError(f"operator '{op}' does not apply to the {kind} {where}")
        if op == "contains":
            return lambda v: text in v
        if op == "icontains":
            low = text.lower()
            return lambda v: low in v.lower()
        if op == "startswith":
            return lambda v: v.startswith(text)
        if op == "endswith":
            return lambda v: v.endswith(text)
        if op == "glob":
            return lambda v: fnmatchcase(v, text)
        if op == "iglob":
            low = text.lower()
            return lambda v: fnmatchcase(v.lower(), low)
        if op == "regex":
            try:
                rx = re.compile(text)
            except re.error as exc:
                raise CompileError(f"invalid regex {text!r} on {where}: {exc}") from None
            return lambda v: rx.fullmatch(v) is not None
        if op in ("bcontains", "bstartswith"):
            try:
                needle = bytes.fromhex(text)
            except ValueError:
                raise CompileError(f"'{op}' needs hex bytes, got {text!r}") from None
            if op == "bcontains":
                return lambda v: needle in v.encode("utf-8", "surrogateescape")
            return lambda v: v.encode("utf-8", "surrogateescape").startswith(needle)
        raise CompileError(f"unsupported operator '{op}'")

    def _field_check(self, op: str, getter, kind: str, rhs: FieldRef) -> Predicate:
        """`field op val(other)`: the right side is read off the same event."""
        rget, _ = _getter(rhs)
        if op not in ("=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects", "contains",
                      "icontains", "startswith", "endswith", "glob", "iglob", "pmatch"):
            raise CompileError(f"operator '{op}' cannot compare with another field")

        def run(e: Event) -> bool:
            v, r = getter(e), rget(e)
            if v is None or r is None:
                return False
            rvals = list(r) if isinstance(r, Many) else [r]
            rvals = [as_type(x, kind) for x in rvals if x is not None]
            lvals = list(v) if isinstance(v, Many) else [v]
            for lv in lvals:
                if lv is None:
                    continue
                for rv in rvals:
                    if _compare(op, lv, rv):
                        return True
            return False
        return run


def _compare(op: str, v: Any, r: Any) -> bool:
    if op in ("=", "==", "in", "intersects"):
        return v == r
    if op == "!=":
        return v != r
    if op in ("<", "<=", ">", ">="):
        return _ORDER[op](r)(v)
    v, r = str(v), str(r)
    return {"contains": lambda: r in v, "icontains": lambda: r.lower() in v.lower(),
            "startswith": lambda: v.startswith(r), "endswith": lambda: v.endswith(r),
            "glob": lambda: fnmatchcase(v, r), "iglob": lambda: fnmatchcase(v.lower(), r.lower()),
            "pmatch": lambda: _path_match(v, r)}[op]()


_ORDER: dict[str, Callable[[Any], Callable[[Any], bool]]] = {
    "<": lambda r: (lambda v: v < r),
    "<=": lambda r: (lambda v: v <= r),
    ">": lambda r: (lambda v: v > r),
    ">=": lambda r: (lambda v: v >= r),
}


def _path_match(path: str, prefix: str) -> bool:
    """pmatch: the path is the prefix or lies below it (glob characters allowed)."""
    if any(c in prefix for c in "*?["):
        return fnmatchcase(path, prefix) or fnmatchcase(path, prefix.rstrip("/") + "/*")
    if path == prefix:
        return True
    base = prefix if prefix.endswith("/") else prefix + "/"
    return path.startswith(base)


def _convert(text: str, kind: str, where: str) -> Any:
    if kind == INT:
        try:
            return int(text, 0)
        except ValueError:
            try:
                return int(float(text))
            except ValueError:
                raise CompileError(f"{text!r} is not a number ({where})") from None
    if kind == BOOL:
        low = text.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        raise CompileError(f"{text!r} is not true or false ({where})")
    return text


def _getter(ref: FieldRef) -> tuple[Callable[[Event], Any], str]:
    """A reader of the field's typed value (after transformers) and the resulting type."""
    name, arg, transformers = ref.name, ref.arg, ref.transformers
    kind = field_type(name, transformers)
    fns = [TRANSFORM[t] for t in transformers]

    def one(v: Any) -> Any:
        if v is None:
            return None
        for fn in fns:
            v = fn(v)
        return as_type(v, kind)

    def get(e: Event) -> Any:
        v = raw_value(e, name, arg)
        if type(v) is Many:
            vals = Many(x for x in (one(x) for x in v) if x is not None)
            return vals or None
        return one(v)
    return get, kind


__all__ = ["Compiler", "Compiled", "CompileError", "Predicate", "Event"]
