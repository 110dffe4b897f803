"""ZAP baseline's rules file (`zap-baseline.py -c FILE`), read strictly.

    # comment
    10020\tFAIL\t(Missing Anti-clickjacking Header)
    10038\tIGNORE\t(Content Security Policy (CSP) Header Not Set)\tour own message
    10096\tOUTOFSCOPE\thttp://127.0.0.1:8080/static/.*
    *\tOUTOFSCOPE\t.*/logout

Fields are tab-separated: rule id(s) (comma-separated allowed, as zap_common.py splits them),
level, then the name in brackets (informational only) and an optional user message. For
OUTOFSCOPE the third field is a URL regex matched at the start of the URL (Python `re.match`,
as ZAP's `is_in_scope` does); id `*` applies it to every rule. Rules absent from the file are
WARN. zap-baseline.py crashes with a bare ValueError on a malformed line; this names the file,
the line and what is wrong instead, because a silently half-read rules file weakens a gate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

LEVELS = ("IGNORE", "INFO", "WARN", "FAIL", "OUTOFSCOPE")


class RulesFileError(ValueError):
    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source}:{line}: {problem}")
        self.source, self.line, self.problem = source, line, problem


@dataclass
class RulesConfig:
    """Levels and messages by plugin id, plus out-of-scope URL patterns."""

    levels: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    out_of_scope: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)

    def level(self, plugin_id: int | str) -> str:
        return self.levels.get(str(plugin_id), "WARN")

    def ignored(self) -> set[int]:
        return {int(k) for k, v in self.levels.items() if v == "IGNORE" and k.isdigit()}

    def in_scope(self, plugin_id: int | str, url: str) -> bool:
        """False when `url` matches an OUTOFSCOPE regex of this rule or of `*`."""
        for key in ("*", str(plugin_id)):
            if any(p.match(url) for p in self.out_of_scope.get(key, ())):
                return False
        return True

    def crawl_excluded(self, url: str) -> bool:
        """OUTOFSCOPE for every rule (`*`): no rule could report it, so it is not fetched."""
        return any(p.match(url) for p in self.out_of_scope.get("*", ()))


def parse_rules(text: str, source: str = "<rules>") -> RulesConfig:
    config = RulesConfig()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            hint = " (fields must be separated by tabs, not spaces)" if " " in line.strip() else ""
            expected = "expected '<id>\\t<level>\\t(<name>)'"
            raise RulesFileError(source, number, f"{expected}{hint}: {line!r}")
        key, level = fields[0].strip(), fields[1].strip().upper()
        if level not in LEVELS:
            raise RulesFileError(
                source, number, f"unknown level {fields[1].strip()!r} (use {', '.join(LEVELS)})"
            )
        ids = [i.strip() for i in key.split(",")]
        for plugin_id in ids:
            if not (plugin_id.isdigit() or (plugin_id == "*" and level == "OUTOFSCOPE")):
                allowed = "a numeric plugin id" + (" or *" if level == "OUTOFSCOPE" else "")
                raise RulesFileError(source, number, f"rule id {plugin_id!r} is not {allowed}")
        if level == "OUTOFSCOPE":
            if len(fields) < 3 or not fields[2].strip():
                raise RulesFileError(source, number, "OUTOFSCOPE needs a URL regex as 3rd field")
            try:
                pattern = re.compile(fields[2].strip())
            except re.error as exc:
                raise RulesFileError(source, number, f"bad OUTOFSCOPE regex: {exc}") from None
            for plugin_id in ids:
                config.out_of_scope.setdefault(plugin_id, []).append(pattern)
            continue
        for plugin_id in ids:
            config.levels[plugin_id] = level
            config.messages[plugin_id] = fields[3].strip() if len(fields) > 3 else ""
    return config


def load_rules(path: str | Path) -> RulesConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesFileError(str(path), 0, f"cannot read rules file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RulesFileError(str(path), 0, "rules file is not UTF-8 text") from None
    return parse_rules(text, str(path))


def generate_rules(rules: Iterable[tuple[int, str]]) -> str:
    """A default rules file (every rule WARN), like `zap-baseline.py -g`."""
    head = (
        "# zap-baseline rule configuration file\n"
        "# Change WARN to IGNORE to ignore rule or FAIL to fail if rule matches\n"
        "# Only the rule identifiers are used - the names are just for info\n"
        "# You can add your own messages to each rule by appending them after a tab on each line.\n"
    )
    return head + "".join(f"{pid}\tWARN\t({name})\n" for pid, name in sorted(rules))
