"""Falco's condition language: a recursive-descent parser producing a small AST.

The grammar and the lexical rules follow libsinsp's filter parser, because rules written for
Falco must mean the same here:

    Or    := And ('or' And)*             keywords need a blank or '(' after them
    And   := Not ('and' Not)*
    Not   := ('not' blank)* Check | 'not(' Or ')'
    Check := '(' Or ')' | Field Op Value | Field 'exists' | Field | Macro
    Field := name('.'name)+ ['[' arg ']'] | transformer '(' Field ')'
    Value := number | quoted | barestring | '(' item (',' item)* ')' | list-name | val(Field)

A field with no operator is a truthiness check (an extension: libsinsp insists on an
operator). List names inside `( ... )` and macro names are resolved later, by the compiler,
so this module knows nothing about a rules file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union


class ConditionError(ValueError):
    """A condition that does not parse; `pos` is the 0-based offset where it broke."""

    def __init__(self, message: str, text: str, pos: int) -> None:
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"{message} (line {line}, column {col})")
        self.message, self.pos = message, pos


@dataclass(frozen=True)
class FieldRef:
    name: str
    arg: str | None = None
    transformers: tuple[str, ...] = ()    # innermost first: tolower(basename(x)) -> (basename, tolower)

    def __str__(self) -> str:
        text = self.name + (f"[{self.arg}]" if self.arg is not None else "")
        for tr in self.transformers:
            text = f"{tr}({text})"
        return text


@dataclass(frozen=True)
class Literal:
    text: str
    quoted: bool = False


@dataclass(frozen=True)
class ListValue:
    items: tuple[Literal, ...]


@dataclass(frozen=True)
class ListRef:
    name: str


@dataclass(frozen=True)
class FieldValue:
    field: FieldRef


Value = Union[Literal, ListValue, ListRef, FieldValue]


@dataclass(frozen=True)
class Check:
    field: FieldRef
    op: str                     # '=', 'in', 'exists', 'truthy', ...
    value: Value | None = None


@dataclass(frozen=True)
class Macro:
    name: str


@dataclass(frozen=True)
class Not:
    child: "Node"


@dataclass(frozen=True)
class And:
    children: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    children: tuple["Node", ...]


Node = Union[Check, Macro, Not, And, Or]

UNARY_OPS = ("exists",)
NUM_OPS = ("<=", "<", ">=", ">")
STR_OPS = ("==", "=", "!=")
WORD_OPS = ("glob", "iglob", "contains", "icontains", "bcontains", "startswith", "bstartswith",
            "endswith", "regex")
LIST_OPS = ("intersects", "in", "pmatch")
OPERATORS = UNARY_OPS + NUM_OPS + STR_OPS + WORD_OPS + LIST_OPS
TRANSFORMERS = ("tolower", "toupper", "b64", "basename", "len")

_BLANK = " \t\b\r\n"
_NOT_BLANK = re.compile(r"not[ \t\b\r\n]+")
_IDENTIFIER = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
_FIELD_NAME = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
_FIELD_ARG_BARE = re.compile(r"[^\]\[\"'\s]+")
_HEX = re.compile(r"0[xX][0-9a-zA-Z]+")
_NUMBER = re.compile(r"[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?")
_BARE = re.compile(r"[^()\"'\s=,]+")
_WORD_END = re.compile(r"[ \t\b\r\n(]")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"',
            "'": "'"}
MAX_DEPTH = 1000


def unescape(body: str) -> str:
    """Backslash escapes inside a quoted string; an unknown escape keeps its backslash."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.depth = 0
        self.last = ""

    # --- lexing ---------------------------------------------------------------------------
    def fail(self, message: str) -> ConditionError:
        return ConditionError(message, self.s, self.i)

    def blank(self) -> bool:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in _BLANK:
            self.i += 1
        return self.i > start

    def lit(self, token: str) -> bool:
        if self.s.startswith(token, self.i):
            self.i += len(token)
            self.last = token
            return True
        return False

    def rgx(self, pattern: re.Pattern[str]) -> bool:
        m = pattern.match(self.s, self.i)
        if m and m.end() > self.i:
            self.last = m.group(0)
            self.i = m.end()
            return True
        return False

    def word(self, token: str) -> bool:
        """A keyword or word operator: the token followed by a blank or '('."""
        end = self.i + len(token)
        if self.s.startswith(token, self.i) and end < len(self.s) and \
                _WORD_END.match(self.s, end):
            self.i = end
            self.last = token
            return True
        return False

    def quoted(self) -> bool:
        if self.i >= len(self.s) or self.s[self.i] not in "'\"":
            return False
        delim = self.s[self.i]
        j = self.i + 1
        prev = ""
        while j < len(self.s):
            ch = self.s[j]
            if ch == delim and prev != "\\":
                self.last = unescape(self.s[self.i + 1:j])
                self.i = j + 1
                return True
            prev = "" if (ch == "\\" and prev == "\\") else ch
            j += 1
        raise self.fail("unterminated quoted string")

    # --- grammar -----------------------------------------------------------------------------
    def enter(self) -> None:
        self.depth += 1
        if self.depth >= MAX_DEPTH:
            raise self.fail(f"condition nested deeper than {MAX_DEPTH}")

    def parse(self) -> Node:
        if not self.s.strip():
            raise self.fail("the condition is empty")
        node = self.parse_or()
        self.blank()
        if self.i != len(self.s):
            raise self.fail(f"unexpected token after {self.last!r}, expecting 'or', 'and'")
        return node

    def parse_or(self) -> Node:
        self.enter()
        self.blank()
        children = [self.parse_and()]
        self.blank()
        while self.word("or"):
            children.append(self.after_keyword("or", self.parse_and))
            self.blank()
        self.depth -= 1
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        self.enter()
        self.blank()
        children = [self.parse_not()]
        self.blank()
        while self.word("and"):
            children.append(self.after_keyword("and", self.parse_not))
            self.blank()
        self.depth -= 1
        return children[0] if len(children) == 1 else And(tuple(children))

    def after_keyword(self, keyword: str, then) -> Node:
        if self.blank():
            return then()
        if self.lit("("):
            return self.embedded()
        raise self.fail(f"expected blank or '(' after '{keyword}'")

    def parse_not(self) -> Node:
        self.enter()
        self.blank()
        negate = False
        while self.rgx(_NOT_BLANK):
            negate = not negate
        if self.lit("not("):
            negate = not negate
            child = self.embedded()
        else:
            child = self.parse_check()
        self.depth -= 1
        return Not(child) if negate else child

    def embedded(self) -> Node:
        """The rest of `( Or )` after its '('."""
        self.blank()
        node = self.parse_or()
        self.blank()
        if not self.lit(")"):
            raise self.fail("expected a ')' token")
        return node

    def parse_check(self) -> Node:
        self.blank()
        if self.lit("("):
            return self.embedded()
        field = self.field_or_transformer()
        if field is not None:
            return self.condition(field)
        if self.rgx(_IDENTIFIER):
            return Macro(self.last)
        raise self.fail("expected a '(' token, a field check, or an identifier")

    def transformer_name(self, include_val: bool = False) -> str | None:
        for name in (("val",) if include_val else ()) + TRANSFORMERS:
            if self.lit(name + "("):
                return name
        return None

    def field_or_transformer(self) -> FieldRef | None:
        start = self.i
        name = self.transformer_name()
        if name is not None:
            self.blank()
            inner = self.field_or_transformer()
            if inner is None:
                raise self.fail(f"expected a field inside '{name}('")
            self.blank()
            if not self.lit(")"):
                raise self.fail("expected a ')' token closing the transformer")
            return FieldRef(inner.name, inner.arg, inner.transformers + (name,))
        if self.rgx(_FIELD_NAME):
            fname = self.last
            arg = None
            if self.lit("["):
                if not (self.quoted() or self.rgx(_FIELD_ARG_BARE)):
                    raise self.fail("expected a field argument: a quoted or a bare string")
                arg = self.last
                if not self.lit("]"):
                    raise self.fail("expected a ']' token")
            return FieldRef(fname, arg)
        self.i = start
        return None

    def condition(self, field: FieldRef) -> Node:
        self.blank()
        for op in UNARY_OPS:
            if self.lit(op):
                return Check(field, op)
        for op in NUM_OPS:
            if self.lit(op):
                return Check(field, op, self.num_value())
        for op in STR_OPS:
            if self.lit(op):
                return Check(field, op, self.str_value())
        for op in WORD_OPS:
            if self.word(op):
                return Check(field, op, self.str_value())
        for op in LIST_OPS:
            if self.lit(op):
                return Check(field, op, self.list_value())
        if self.i >= len(self.s) or self.s[self.i] == ")" or self.peek_keyword():
            return Check(field, "truthy")
        raise self.fail("expected a valid check operator: one of " +
                        ", ".join(f"'{o}'" for o in OPERATORS))

    def peek_keyword(self) -> bool:
        save = self.i
        found = self.word("and") or self.word("or")
        self.i = save
        return found

    def rhs_field(self) -> FieldValue | None:
        start = self.i
        name = self.transformer_name(include_val=True)
        if name is None:
            return None
        self.blank()
        inner = self.field_or_transformer()
        if inner is None:
            self.i = start
            raise self.fail(f"expected a field inside '{name}('")
        self.blank()
        if not self.lit(")"):
            raise self.fail("expected a ')' token closing the transformer")
        if name != "val":
            inner = FieldRef(inner.name, inner.arg, inner.transformers + (name,))
        return FieldValue(inner)

    def num_value(self) -> Value:
        self.blank()
        rhs = self.rhs_field()
        if rhs is not None:
            return rhs
        if self.rgx(_HEX) or self.rgx(_NUMBER):
            return Literal(self.last)
        raise self.fail("expected a number or a field with a transformer")

    def str_value(self) -> Value:
        self.blank()
        rhs = self.rhs_field()
        if rhs is not None:
            return rhs
        if self.quoted():
            return Literal(self.last, quoted=True)
        if self.rgx(_BARE):
            return Literal(self.last)
        raise self.fail("expected a string value")

    def list_value(self) -> Value:
        self.blank()
        if self.lit("("):
            items: list[Literal] = []
            self.blank()
            if not self.lit(")"):
                while True:
                    self.blank()
                    if self.quoted():
                        items.append(Literal(self.last, quoted=True))
                    elif self.rgx(_BARE):
                        items.append(Literal(self.last))
                    else:
                        raise self.fail("expected a list item")
                    self.blank()
                    if self.lit(")"):
                        break
                    if not self.lit(","):
                        raise self.fail("expected ',' or ')' in a list")
            return ListValue(tuple(items))
        rhs = self.rhs_field()
        if rhs is not None:
            return rhs
        if self.rgx(_IDENTIFIER):
            return ListRef(self.last)
        raise self.fail("expected a list, a list name, or a field with a transformer")


def parse_condition(text: str) -> Node:
    """Parse one condition (a rule's, a macro's or an exception's)."""
    return _Parser(text).parse()


def parse_item(text: str) -> Literal:
    """A list item as the condition would read it after Falco's textual list substitution:
    a quoted item is a string literal, anything else is taken as it is."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] in "'\"" and stripped[-1] == stripped[0]:
        p = _Parser(stripped)
        if p.quoted() and p.i == len(stripped):
            return Literal(p.last, quoted=True)
    return Literal(stripped)
