"""AwsSecurityFindingFilters evaluated in Python on one ASFF document.

Automation rules judge a finding against their Criteria before it is stored, so there is no
row to run SQL on; this module answers the same question from the document, driven by the
same key table (`hub.filterspec`) and the same parsed criteria as GetFindings' SQL, with
Security Hub's rules:

- attributes are AND'd; on one attribute the positive string comparisons (EQUALS, PREFIX,
  CONTAINS, CONTAINS_WORD) are OR'd, the negative ones (NOT_EQUALS, PREFIX_NOT_EQUALS,
  NOT_CONTAINS) AND'd, and the two groups AND'd;
- a key on a nested list (Resources, Vulnerabilities, Malware, ...) matches when any element
  matches a positive comparison, and passes a negative one only when no element matches it;
  a finding without the member passes negative comparisons and fails positive ones;
- Number and Date filter objects are alternatives (OR), the bounds inside one all apply;
- Map filters: positive entries OR'd, a negative entry passes when no map has that key with
  a matching value;
- CONTAINS_WORD: the value as a whole word (bounded by non-[A-Za-z0-9_] characters or the
  ends), case-insensitively; IpFilter: an address inside the CIDR (IPv4 and IPv6);
  Keyword: any string anywhere in the finding equal to the value.

It also writes the import side of the SQL index on nested keys: `indexed_values` gives a
finding's finding_map rows of kind "X" (`filterspec.VALUE_INDEXED`), with `encode` spelling
numbers, stamps and addresses so that text order is value order (see `hub.query_json`).
"""

from __future__ import annotations

import ipaddress
import re
import struct
from functools import lru_cache
from typing import Any, Iterator, Mapping

from secpipe.hub import filterspec as fs
from secpipe.hub.common import canon_time
from secpipe.hub.interface import InvalidInput

_WORD = "A-Za-z0-9_"


@lru_cache(maxsize=1024)
def word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![{_WORD}]){re.escape(word)}(?![{_WORD}])", re.IGNORECASE)


def has_word(text: str | None, word: str | None) -> bool:
    """CONTAINS_WORD (also registered as a SQLite function, so both paths agree)."""
    if text is None or word is None:
        return False
    return word_pattern(word).search(text) is not None


def instant(text: Any) -> str | None:
    """A date value in canonical form, or None when it is not a timestamp."""
    if not isinstance(text, str):
        return None
    try:
        return canon_time(text)
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def _net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def in_cidr(value: Any, cidr: str | None) -> bool:
    """An IP address string inside `cidr` (the same family); anything else is no match."""
    if not isinstance(value, str) or cidr is None or "/" in value:
        return False
    try:
        return ipaddress.ip_address(value) in _net(cidr)
    except ValueError:
        return False


def values(doc: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """Every value at `path` ("name[]" visits each element of a list)."""
    if not path:
        yield doc
        return
    head, rest = path[0], path[1:]
    if not isinstance(doc, Mapping):
        return
    name = head[:-2] if head.endswith("[]") else head
    node = doc.get(name)
    if node is None:
        return
    if head.endswith("[]"):
        if isinstance(node, list):
            for item in node:
                yield from values(item, rest)
    else:
        yield from values(node, rest)


Steps = tuple[tuple[str, bool], ...]


def encode_number(x: float) -> str:
    """16 hex digits whose text order is the number order (IEEE 754 bits, sign-flipped)."""
    bits = struct.unpack(">Q", struct.pack(">d", float(x) + 0.0))[0]
    bits = (~bits & 0xFFFFFFFFFFFFFFFF) if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def encode_ip(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """"4:" or "6:" and 32 hex digits: within a family, text order is address order."""
    return f"{addr.version}:{int(addr):032x}"


def encode(kind: str, value: Any) -> str | None:
    """How a value of a `kind` key is written in finding_map's `v` (None: not indexed)."""
    if kind == fs.STRING:      # "" too: EQUALS "" matches an empty value, as Security Hub's
        return value if type(value) is str else None
    if kind == fs.NUMBER:
        if type(value) in (int, float):
            try:
                return encode_number(value)
            except OverflowError:
                return None
        return None
    if kind == fs.DATE:
        return instant(value)
    if type(value) is str and "/" not in value:
        try:
            return encode_ip(ipaddress.ip_address(value))
        except ValueError:
            return None
    return None


def _steps(key: str) -> Steps:
    return tuple((p.removesuffix("[]"), p.endswith("[]")) for p in fs.KEYS[key].path)


def _tree() -> dict[str, list[tuple[str, str, Steps, Steps | None]]]:
    """{top-level member: [(key, kind, steps, the twin's steps or None)]}"""
    out: dict[str, list[tuple[str, str, Steps, Steps | None]]] = {}
    for key in fs.VALUE_INDEXED:
        steps = _steps(key)
        twin = _steps(fs.TWINS[key]) if key in fs.TWINS else None
        out.setdefault(steps[0][0], []).append((key, fs.KEYS[key].kind, steps, twin))
    return out


def _leaves_at(doc: Any, steps: Steps) -> list[Any]:
    """`values` for the import path: plain dicts and lists (what json.loads and the
    importer give), iterative."""
    nodes = [doc]
    for name, many in steps:
        nxt = []
        for node in nodes:
            if type(node) is dict:
                child = node.get(name)
                if child is None:
                    continue
                if many:
                    if type(child) is list:
                        nxt.extend(child)
                else:
                    nxt.append(child)
        nodes = nxt
        if not nodes:
            return []
    return nodes


_BY_MEMBER = _tree()
_OTHER = _steps(fs.OTHER_KEY)

# Every path `indexed_values` reads (value-indexed keys, their twins, Details.Other) as one
# trie, so a prefix shared by many keys (Resources[].Details, FindingProviderFields) is walked
# once per document rather than once per key (the per-key walks were a fifth of the import's
# Python time). A trie level: [(name, many, paths ending here, next level)].
_Level = list[tuple[str, bool, list[Steps], "_Level"]]


def _trie() -> dict[str, _Level]:
    """{top-level member: its level-1 entries}."""
    nested: dict = {}
    paths = [_OTHER] + [p for entries in _BY_MEMBER.values()
                        for _k, _kind, steps, twin in entries for p in (steps, twin) if p]
    for path in dict.fromkeys(paths):
        level = nested
        for depth, step in enumerate(path):
            ends, deeper = level.setdefault(step, ([], {}))
            if depth == len(path) - 1:
                ends.append(path)
            level = deeper

    def freeze(level: dict) -> _Level:
        return [(name, many, ends, freeze(deeper))
                for (name, many), (ends, deeper) in level.items()]

    out: dict[str, _Level] = {}
    for entry in freeze(nested):
        out.setdefault(entry[0], []).append(entry)
    return out


_ROOTS = _trie()
_ROOT_NAMES = frozenset(_ROOTS)
# the keys (with kind and twin) to judge when a path has leaves: its own, and those it twins
_BY_PATH: dict[Steps, list[tuple[str, str, Steps, Steps | None]]] = {}
for _entries in _BY_MEMBER.values():
    for _entry in _entries:
        _BY_PATH.setdefault(_entry[2], []).append(_entry)
        if _entry[3] is not None:
            _BY_PATH.setdefault(_entry[3], []).append(_entry)


def _walk(nodes: list[Any], level: _Level, found: dict[Steps, list[Any]]) -> None:
    """`found[path]` = `_leaves_at(doc, path)` for every path under `level` with leaves."""
    for name, many, ends, deeper in level:
        nxt: list[Any] = []
        for node in nodes:
            if type(node) is dict:
                child = node.get(name)
                if child is None:
                    continue
                if many:
                    if type(child) is list:
                        nxt.extend(child)
                else:
                    nxt.append(child)
        if nxt:
            for path in ends:
                found[path] = nxt
            if deeper:
                _walk(nxt, deeper, found)


def _same(leaves: list[Any], twin: list[Any]) -> bool:
    """The twin's index answers `leaves` exactly: the same strings (lists as sets)."""
    if leaves == twin:             # the usual case: FindingProviderFields as filled in
        return True
    a = {v for v in leaves if type(v) is str}
    return a == {v for v in twin if type(v) is str}


def indexed_values(doc: Mapping[str, Any], limit: int
                   ) -> dict[tuple[str, str, str], str | None]:
    """The finding_map rows of the nested keys: {(kind, key, v[:limit]): full value or None}.
    Kind "X" for `fs.VALUE_INDEXED` (FindingProviderFields keys with a twin: only where they
    differ from it, plus the marker row, see `fs.TWINS`), kind "O" for
    Resources[].Details.Other's entries. Only the paths the document has are walked (most
    findings have few of them), and only keys where their path or their twin's has leaves
    are judged (with neither, a key has no row)."""
    out: dict[tuple[str, str, str], str | None] = {}
    if type(doc) is not dict:
        doc = dict(doc)
    found: dict[Steps, list[Any]] = {}
    for name in _ROOT_NAMES & doc.keys():
        _walk([doc], _ROOTS[name], found)
    if not found:
        return out
    none: list[Any] = []
    judged = [e for path in found for e in _BY_PATH.get(path, none)]
    if len(judged) > 1:
        judged = list(dict.fromkeys(judged))
    for key, kind, steps, twin in judged:
        leaves = found.get(steps, none)
        if twin is not None:
            if _same(leaves, found.get(twin, none)):
                continue
            out[(fs.DIVERGENT_KIND, key, "")] = None
        for leaf in leaves:
            v = encode(kind, leaf)
            if v is not None:
                out[(fs.VALUE_KIND, key, v[:limit])] = None
    for other in found.get(_OTHER, none):
        if type(other) is dict:
            for k, v in other.items():
                if type(v) is str and type(k) is str and len(k) <= fs.OTHER_KEY_MAX:
                    out.setdefault((fs.OTHER_KIND, k, v[:limit]),
                                   v if len(v) > limit else None)
    return out


def strings_in(doc: Any) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, Mapping):
        for v in doc.values():
            yield from strings_in(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from strings_in(v)


def string_match(text: str, comp: str, value: str) -> bool:
    """The positive form of a comparison (NOT_X tests X and the caller negates)."""
    if comp in ("EQUALS", "NOT_EQUALS"):
        return text == value
    if comp in ("PREFIX", "PREFIX_NOT_EQUALS"):
        return text.startswith(value)
    if comp == "CONTAINS_WORD":
        return has_word(text, value)
    return value in text


def _string(parsed: fs.Parsed, found: list[Any]) -> bool:
    texts = [v for v in found if isinstance(v, str)]
    pos, neg = parsed.positive, parsed.negative
    if pos and not any(string_match(t, c, v) for t in texts for c, v in pos):
        return False
    return not any(string_match(t, c, v) for t in texts for c, v in neg)


def _map(parsed: fs.Parsed, found: list[Any]) -> bool:
    maps = [m for m in found if isinstance(m, Mapping)]

    def hit(k: str, comp: str, value: str) -> bool:
        return any(isinstance(m.get(k), str) and string_match(m[k], comp, value) for m in maps)

    pos, neg = parsed.positive, parsed.negative
    if pos and not any(hit(*e) for e in pos):
        return False
    return not any(hit(*e) for e in neg)


_OPS = {"Gte": lambda a, b: a >= b, "Lte": lambda a, b: a <= b, "Eq": lambda a, b: a == b,
        "Gt": lambda a, b: a > b, "Lt": lambda a, b: a < b}
_DATE_OPS = {">=": _OPS["Gte"], "<=": _OPS["Lte"], "<": _OPS["Lt"]}


def _number(parsed: fs.Parsed, found: list[Any]) -> bool:
    nums = [v for v in found if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return any(all(_OPS[op](n, bound) for op, bound in alt.items())
               for n in nums for alt in parsed.items)


def _date(parsed: fs.Parsed, found: list[Any]) -> bool:
    stamps = [s for s in map(instant, found) if s is not None]
    return any(all(_DATE_OPS[op](s, bound) for op, bound in alt)
               for s in stamps for alt in parsed.items)


def _boolean(parsed: fs.Parsed, found: list[Any]) -> bool:
    flags = [v for v in found if isinstance(v, bool)] or [False]   # absent: Security Hub's false
    return any(f == want for f in flags for want in parsed.items)


def _ip(parsed: fs.Parsed, found: list[Any]) -> bool:
    return any(in_cidr(v, str(net)) for v in found for net in parsed.items)


def _keyword(parsed: fs.Parsed, doc: Mapping[str, Any]) -> bool:
    wanted = set(parsed.items)
    return any(s in wanted for s in strings_in(doc))


_KINDS = {fs.STRING: _string, fs.MAP: _map, fs.NUMBER: _number, fs.DATE: _date,
          fs.BOOLEAN: _boolean, fs.IP: _ip}


def parse_all(filters: Mapping[str, Any] | None) -> list[fs.Parsed]:
    """Every used attribute parsed (empty lists and None ignored, as GetFindings does)."""
    if not filters:
        return []
    if not isinstance(filters, Mapping):
        raise InvalidInput("Filters must be an object")
    used = {k: v for k, v in filters.items() if v not in (None, [])}
    if len(used) > fs.MAX_ATTRIBUTES:
        raise InvalidInput(f"at most {fs.MAX_ATTRIBUTES} filter attributes are allowed")
    return [fs.parse(k, v) for k, v in used.items()]


def matches_parsed(parsed: list[fs.Parsed], doc: Mapping[str, Any]) -> bool:
    for p in parsed:
        if p.kind == fs.KEYWORD:
            ok = _keyword(p, doc)
        else:
            ok = _KINDS[p.kind](p, list(values(doc, fs.ALL_KEYS[p.key].path)))
        if not ok:
            return False
    return True


def matches(filters: Mapping[str, Any] | None, doc: Mapping[str, Any]) -> bool:
    """Whether `doc` (an ASFF finding) passes `filters` (AwsSecurityFindingFilters);
    InvalidInput for a filter GetFindings would refuse."""
    return matches_parsed(parse_all(filters), doc)
