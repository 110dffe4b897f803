"""Falco's condition language, operator by operator, on hand-made events."""

from __future__ import annotations

import pytest

from secpipe.runtime.rules import RulesError, compile_condition
from secpipe.runtime.rules.condition import (And, Check, ConditionError, FieldRef, ListRef,
                                             ListValue, Literal, Macro, Not, Or,
                                             parse_condition, parse_item)

EVENT = {
    "evt.type": "execve", "evt.num": 7, "proc.name": "sh", "proc.exepath": "/bin/sh",
    "proc.args": "-c cat /etc/shadow", "proc.pid": 4242, "user.name": "www-data",
    "user.uid": 33, "proc.aname": ["nginx", "containerd-shim", "systemd"],
    "fd.name": "/etc/pam.d/common-auth", "evt.is_open_read": True, "evt.is_open_write": False,
    "container.id": "3ad7b26ded6d", "proc.tty": 0,
}


def holds(condition: str, event: dict | None = None, **kw) -> bool:
    return compile_condition(condition, **kw)(EVENT if event is None else event)


@pytest.mark.parametrize("condition,expected", [
    ("proc.name = sh", True), ("proc.name == sh", True), ("proc.name=bash", False),
    ("proc.name != bash", True), ("proc.name!=sh", False),
    ("user.uid < 100", True), ("user.uid <= 33", True), ("user.uid > 33", False),
    ("user.uid >= 34", False), ("user.uid = 0x21", True),
    ("proc.args contains /etc/shadow", True), ('proc.args contains "cat /etc"', True),
    ("proc.args icontains ETC/SHADOW", True), ("proc.args contains ETC", False),
    ("proc.exepath startswith /bin/", True), ("proc.exepath endswith /sh", True),
    ("fd.name glob '/etc/*/common-*'", True), ("fd.name glob '/etc/*.conf'", False),
    ("fd.name iglob '/ETC/PAM.D/*'", True),
    ("proc.name in (bash, sh, zsh)", True), ("proc.name in (bash, zsh)", False),
    ("proc.name in ()", False),
    ("proc.name intersects (sh, nope)", True),
    ("fd.name pmatch (/etc/pam.d, /usr/bin)", True), ("fd.name pmatch (/etc/pam)", False),
    ("fd.name pmatch (/etc)", True),
    ("proc.exepath regex '/(usr/)?bin/[a-z]+'", True), ("proc.exepath regex 'bin'", False),
    ("proc.name exists", True), ("fd.sport exists", False),
    ("evt.is_open_read", True), ("evt.is_open_write", False),
    ("evt.is_open_read = true", True), ("evt.is_open_write = false", True),
    ("not proc.name = bash", True), ("not not proc.name = sh", True),
    ("not(proc.name = sh)", False),
    ("proc.name = sh and user.name = www-data", True), ("proc.name = sh and(user.uid = 1)", False),
    ("proc.name = bash or user.name = www-data", True), ("proc.name = bash or(user.uid = 1)", False),
    ("(proc.name = bash or proc.name = sh) and not (user.uid = 0)", True),
    ("proc.aname = containerd-shim", True),            # no index: any ancestor
    ("proc.aname in (sshd, systemd)", True),
    ("proc.aname[1] = nginx", True), ("proc.aname[2] = nginx", False),
    ("proc.aname[0] = sh", True), ("proc.aname[9] exists", False),
    ("proc.pname = nginx", True),                      # derived from the ancestors
    ("fd.directory = /etc/pam.d", True), ("fd.filename = common-auth", True),
    ("proc.cmdline = 'sh -c cat /etc/shadow'", True),
    ("tolower(proc.name) = SH", False), ("toupper(proc.name) = SH", True),
    ("basename(proc.exepath) = sh", True), ("len(proc.name) = 2", True),
    ("proc.name = val(proc.name)", True), ("proc.pname = val(proc.name)", False),
    ("proc.exepath endswith val(proc.name)", True),
])
def test_operators(condition: str, expected: bool) -> None:
    assert holds(condition) is expected, condition


def test_a_missing_field_makes_every_check_false() -> None:
    event = {"proc.name": "sh"}
    for cond in ("fd.name = x", "fd.name != x", "fd.name contains x", "fd.name in (x)",
                 "fd.name exists", "user.uid < 5"):
        assert holds(cond, event) is False, cond
    assert holds("not fd.name = x", event) is True


def test_lists_and_macros() -> None:
    lists = {"shells": ["ash", "bash", "sh"], "spawners": ["nginx", "shells_and_more"],
             "shells_and_more": ["shells", "'zsh'"], "quoted": ['"75-system-updat"'],
             "empty": []}
    macros = {"spawned": "evt.type in (execve, execveat)", "shell": "proc.name in (shells)",
              "both": "spawned and shell"}
    assert holds("both", lists=lists, macros=macros)
    assert holds("proc.name in (zsh, shells)", lists=lists)
    assert holds("proc.name in shells", lists=lists)          # a list name after the operator
    assert holds("proc.aname in (spawners)", lists=lists)     # lists of lists
    assert not holds("proc.name in (empty)", lists=lists)
    assert holds("proc.name in (quoted)", {"proc.name": "75-system-updat"}, lists=lists)
    assert not holds("proc.name in ('shells')", lists=lists)  # quoted: never a list name
    with pytest.raises(RulesError, match="Undefined macro 'nope'"):
        compile_condition("spawned and nope", macros=macros)
    with pytest.raises(RulesError, match="refers to itself"):
        compile_condition("a", macros={"a": "b", "b": "a"})


def test_the_ast() -> None:
    node = parse_condition("not proc.name in (sh, 'b c') and (fd.name exists or m)")
    assert node == And((
        Not(Check(FieldRef("proc.name"), "in",
                  ListValue((Literal("sh"), Literal("b c", quoted=True))))),
        Or((Check(FieldRef("fd.name"), "exists"), Macro("m"))),
    ))
    assert parse_condition("proc.aname[2]=x") == Check(FieldRef("proc.aname", "2"), "=",
                                                       Literal("x"))
    assert parse_condition("proc.name in my_list") == Check(FieldRef("proc.name"), "in",
                                                           ListRef("my_list"))
    assert parse_condition("tolower(basename(proc.exe)) = x").field.transformers == \
        ("basename", "tolower")
    assert parse_item('"sh -c node -e \\"require(\'nan\')\\""') == \
        Literal("sh -c node -e \"require('nan')\"", quoted=True)


@pytest.mark.parametrize("bad,where", [
    ("", "empty"), ("proc.name =", "string value"), ("proc.name = (x", "string value"),
    ("(proc.name = x", "')'"), ("proc.name in (a, b", "','"), ("proc.name = x and", "unexpected"),
    ("proc.name = x orr y", "unexpected token"), ("proc.name < abc", "number"),
    ("proc.name = 'open", "unterminated"), ("proc.name foo bar", "operator"),
    ("proc.aname[2 = x", "']'"), ("= x", "expected a '('"),
])
def test_syntax_errors_say_where(bad: str, where: str) -> None:
    with pytest.raises(ConditionError) as err:
        parse_condition(bad)
    assert where in str(err.value) and "column" in str(err.value)


def test_type_errors_are_load_errors() -> None:
    for bad in ("user.uid = abc", "user.uid contains 3", "evt.is_open_read = maybe",
                "proc.name regex '('"):
        with pytest.raises(RulesError):
            compile_condition(bad)
