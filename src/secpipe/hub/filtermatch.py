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
numbers, stamps and addresses so that text order is value order (see `hub.query_json`),
kind "O" for ResourceDetailsOther and kind "D" for FindingProviderFields that differ from
their twin (`hub.query_fpf`). It runs for every imported finding, so it walks a trie of the
indexed paths: each member the finding has is visited once, whatever the number of keys
below it (30 under Resources[]).
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


def register_sqlite(dbapi_conn: Any) -> None:
    """The functions `hub.query_json`'s SQLite filters call, on each new connection (here, so
    opening a hub does not import the query modules)."""
    dbapi_conn.create_function("secpipe_word", 2, has_word, deterministic=True)
    dbapi_conn.create_function("secpipe_ts", 1, instant, deterministic=True)
    dbapi_conn.create_function("secpipe_in_cidr", 2, in_cidr, deterministic=True)


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


class _Node:
    """One member name of the paths of the indexed keys (a trie: paths sharing a prefix,
    like the 30 under Resources[].Details, are walked once per finding)."""

    __slots__ = ("many", "keys", "children")

    def __init__(self, many: bool) -> None:
        self.many = many
        self.keys: list[tuple[str, str]] = []        # (key, kind) whose path ends here
        self.children: dict[str, _Node] = {}


def _trie() -> dict[str, _Node]:
    """Every key of `fs.VALUE_INDEXED` except the twins (`_twins` checks those), and the
    ResourceDetailsOther map (kind MAP: its entries become kind "O" rows)."""
    root: dict[str, _Node] = {}
    for key in [k for k in fs.VALUE_INDEXED if k not in fs.TWINS] + [fs.OTHER_KEY]:
        level, node = root, None
        for name, many in _steps(key):
            node = level.setdefault(name, _Node(many))
            level = node.children
        assert node is not None
        node.keys.append((key, fs.KEYS[key].kind))
    return root


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


_TRIE = _trie()
# twin key: (its steps, the twin's steps, the FindingProviderFields member and the top-level
# member whose equality proves the same values at once: import copies them)
_TWINS = [(key, _steps(key), _steps(twin),
           None if key.endswith("Original") else fs.KEYS[key].path[1].removesuffix("[]"))
          for key, twin in fs.TWINS.items()]
_Rows = dict[tuple[str, str, str], "str | None"]


# The trie as nested tuples (name, many, keys, children or None) for the walk: a tuple
# unpacked per member instead of a dict intersection and three attribute reads per level.
# With `_twins`' straight paths: 6.7 against 7.6-8.4 us per bench/hub_store.py finding
# (3 alternated runs, load ~7); tests/hub/test_indexed_walk.py compares the rows with one
# walk per key.
_Level = tuple[tuple[str, bool, tuple[tuple[str, str], ...], Any], ...]


def _compiled(level: dict[str, _Node]) -> _Level:
    return tuple((name, node.many, tuple(node.keys),
                  _compiled(node.children) if node.children else None)
                 for name, node in level.items())


_WALK = _compiled(_TRIE)


def _walk(obj: dict[str, Any], level: _Level, out: _Rows, limit: int) -> None:
    get = obj.get
    for name, many, keys, children in level:
        child = get(name)
        if child is None:
            continue
        if many:
            if type(child) is not list:
                continue
            items = child
        else:
            items = (child,)
        for item in items:
            for key, kind in keys:
                if kind == _STRING:                  # `encode`'s first case, inlined
                    if type(item) is str:
                        out[(_VALUE_KIND, key, item[:limit])] = None
                elif kind == _MAP:
                    _map_rows(item, out, limit)
                else:
                    v = encode(kind, item)
                    if v is not None:
                        out[(_VALUE_KIND, key, v[:limit])] = None
            if children is not None and type(item) is dict:
                _walk(item, children, out, limit)


def _map_rows(other: Any, out: _Rows, limit: int) -> None:
    """Details.Other's entries: several resources may hold the same key (first value wins
    when two long ones share their first `limit` characters, as ResourceTags)."""
    if type(other) is not dict:
        return
    for k, v in other.items():
        if type(v) is str and type(k) is str and len(k) <= fs.OTHER_KEY_MAX:
            out.setdefault((fs.OTHER_KIND, k, v[:limit]), v if len(v) > limit else None)


def _same(leaves: list[Any], twin: list[Any]) -> bool:
    """The twin's index answers `leaves` exactly: the same strings (lists as sets)."""
    a = {v for v in leaves if type(v) is str}
    return a == {v for v in twin if type(v) is str}


def _twins(doc: dict[str, Any], fpf: Any, out: _Rows, limit: int) -> None:
    for key, steps, twin, member in _TWINS:
        if member is not None and type(fpf) is dict and fpf.get(member) == doc.get(member):
            continue               # the member as import copied it: the same values
        if key in _STRAIGHT:
            # no list on either path: at most one leaf each (`_leaves_at` as one value)
            leaf, other = _leaf_at(doc, steps), _leaf_at(doc, twin)
            if type(leaf) is not str:
                leaf = None
            if leaf == (other if type(other) is str else None):
                continue
            out[(fs.DIVERGENT_KIND, key, "")] = None
            if leaf is not None:
                out[(_VALUE_KIND, key, leaf[:limit])] = None
            continue
        leaves = _leaves_at(doc, steps)
        if _same(leaves, _leaves_at(doc, twin)):
            continue
        out[(fs.DIVERGENT_KIND, key, "")] = None
        for leaf in leaves:
            v = encode(fs.STRING, leaf)
            if v is not None:
                out[(fs.VALUE_KIND, key, v[:limit])] = None


def _leaf_at(doc: Any, steps: Steps) -> Any:
    """`_leaves_at` for a path without lists: its one leaf, or None where it has none."""
    node = doc
    for name, _many in steps:
        if type(node) is not dict:
            return None
        node = node.get(name)
    return node


# the twins whose two paths hold no list
_STRAIGHT = frozenset(key for key, steps, twin, _m in _TWINS
                      if not any(many for _n, many in steps + twin))
_STRING, _MAP, _VALUE_KIND = fs.STRING, fs.MAP, fs.VALUE_KIND


def top_level_members() -> set[str]:
    """The document members `indexed_values` reads (hub.validate.side_inputs)."""
    out = set(_TRIE)
    for _key, steps, twin, _member in _TWINS:
        out.update((steps[0][0], twin[0][0]))
    return out


def indexed_values(doc: Mapping[str, Any], limit: int) -> _Rows:
    """The finding_map rows of the nested keys: {(kind, key, v[:limit]): full value or None}.
    Kind "X" for `fs.VALUE_INDEXED` (FindingProviderFields keys with a twin: only where they
    differ from it, plus the marker row, see `fs.TWINS`), kind "O" for
    Resources[].Details.Other's entries. Only members the document has are walked."""
    out: _Rows = {}
    if type(doc) is not dict:
        doc = dict(doc)
    _walk(doc, _WALK, out, limit)
    _twins(doc, doc.get("FindingProviderFields"), out, limit)
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
