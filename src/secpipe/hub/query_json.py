"""Filters and sort keys answered from the stored ASFF document (`findings.doc`).

The keys with a column or side table of their own are answered there (`hub.query`); every
other key of `hub.filterspec` is read from the document, with the same semantics as
`hub.filtermatch` (any list element matches; a negative comparison passes when no value
matches it):

- SQLite: JSON1. A key's values are the rows of chained `json_each` calls, one per list on
  its path (`Resources[].Details.AwsEc2Instance.IpV4Addresses[]` is
  `json_each(doc, '$."Resources"')` then `json_each(r.value, '$."Details"...')`), tested in
  an EXISTS. Dates, CONTAINS_WORD and CIDRs go through Python functions registered on each
  connection (`filtermatch.register_sqlite`), the very ones `filtermatch` uses, so both
  agree exactly.
- PostgreSQL: jsonb. The values are `jsonb_path_query(doc::jsonb, 'lax $."Resources"[*]...')`;
  dates and addresses through `secpipe_ts` / `secpipe_inet` (SQL functions of migration
  0006 that answer NULL for a value that is no timestamp / address, where a cast would fail
  the whole query). Migration 0006 also builds a GIN index (jsonb_path_ops) on `doc::jsonb`,
  and every positive EQUALS adds the equivalent containment (`doc::jsonb @> {"Resources":
  [{"Details": {...: "v"}}]}`), which that index answers: an equality on any nested key is
  an index lookup.
- Both: a positive string comparison also requires the value's JSON spelling in the
  document's text (`instr` / `strpos`), a byte search that rejects most rows before any
  JSON is parsed (documents are stored by one encoder, so the spelling is known exactly).

- Both: the nested keys' values are also rows of `finding_map` (kind "X", key = the filter
  key, v = the value encoded so that text order is value order: strings (first 256
  characters), numbers (IEEE bits), canonical stamps, addresses; `filterspec.VALUE_INDEXED`,
  `filtermatch.encode`; written with the other side rows on import and update). EQUALS /
  PREFIX, number and date bounds and CIDRs are index ranges there, registered as planner
  terms (`hub.pages`): a rare value drives the page, and the document check above confirms
  each candidate (the rows are a superset: truncated strings, inclusive bounds).

  A positive CONTAINS / CONTAINS_WORD is a scan of that key's rows alone (`hub.query_contains`):
  the rows decide, and only a finding with a value cut at 256 characters reads its document.

  FindingProviderFields* and ResourceDetailsOther have rows too (only where FPF values
  differ from their top-level twin; a Map variant): `hub.query_fpf`.

What remains a scan is a negative-only filter and Keyword (deprecated by AWS: any string
anywhere in the finding, which no row holds; indexing every string of every finding would
multiply every import's side rows). `bench/hub_filters.py` measures them at scale.
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Float, String, and_, case, cast, exists, false, func, literal, literal_column
from sqlalchemy import not_, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement

from secpipe.hub import filtermatch as fm
from secpipe.hub import filterspec as fs
from secpipe.hub import query_contains as qc
from secpipe.hub import query_fpf
from secpipe.hub.query_contains import contains_word
from secpipe.hub.common import dumps, prefix_upper
from secpipe.hub.schema import MAP_VALUE_INDEXED
from secpipe.hub.schema import finding_map as M
from secpipe.hub.schema import findings as F


def _needle(comp: str, value: str) -> str | None:
    """The text a document holding a matching value must contain (None: no such text)."""
    quoted = dumps(value)
    return {"EQUALS": quoted, "PREFIX": quoted[:-1], "CONTAINS": quoted[1:-1]}.get(comp)


def _instr(needle: str, dialect: str) -> ColumnElement:
    fn = func.instr if dialect == "sqlite" else func.strpos
    return fn(F.c.doc, needle) > 0


# --- the values at a path ------------------------------------------------------------------

def _groups(path: tuple[str, ...]) -> list[tuple[list[str], bool]]:
    """The path cut after each list: [(names, ends_with_list)]."""
    out, cur = [], []
    for part in path:
        if part.endswith("[]"):
            out.append((cur + [part[:-2]], True))
            cur = []
        else:
            cur.append(part)
    if cur:
        out.append((cur, False))
    return out


def _jpath(names: list[str]) -> str:
    return "$" + "".join(f'."{n}"' for n in names)


def _member(name: str) -> str:
    """A jsonpath member accessor for any key (a map filter's Key is the client's text)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Values:
    """One dialect's view of the values at a key's path: `exists(pred)` builds
    EXISTS (a value v at the path with pred(v)); `text(v)`, `number(v)`, `kind(v)` read it."""

    def __init__(self, dialect: str, path: tuple[str, ...], mapped: bool = False) -> None:
        self.dialect, self.path, self.mapped = dialect, path, mapped

    def exists(self, pred: Callable[[Any], ColumnElement]) -> ColumnElement:
        if self.dialect == "sqlite":
            return self._sqlite(pred)
        return self._pg(pred)

    def _sqlite(self, pred: Callable[[Any], ColumnElement]) -> ColumnElement:
        source: Any = F.c.doc
        tables, conds = [], []
        groups = _groups(self.path)
        for i, (names, is_list) in enumerate(groups):
            last = i == len(groups) - 1
            t = func.json_each(source, _jpath(names)).table_valued(
                "key", "value", "type").alias(f"j{i}")
            tables.append(t)
            if is_list:
                conds.append(func.typeof(t.c.key) == "integer")
            elif last and not self.mapped:
                conds.append(t.c.key.is_(None))
            if not last:
                conds.append(t.c.type == "object")
                source = case((t.c.type == "object", t.c.value), else_="{}")
        q = select(literal_column("1")).select_from(tables[0])
        for t in tables[1:]:
            q = q.join(t, true())
        self.row = tables[-1]
        return exists(q.where(*conds, pred(tables[-1]))).correlate(F)

    def _pg(self, pred: Callable[[Any], ColumnElement]) -> ColumnElement:
        from sqlalchemy.dialects.postgresql import JSONB, JSONPATH   # not on SQLite hubs

        jp = "lax $" + "".join(f'.{_member(p[:-2])}[*]' if p.endswith("[]") else
                               f'.{_member(p)}' for p in self.path)
        v = func.jsonb_path_query(cast(F.c.doc, JSONB), cast(jp, JSONPATH),
                                  literal_column("'{}'::jsonb"), true()).column_valued("v")
        return exists(select(literal_column("1")).where(pred(v))).correlate(F)

    # readers of a value row (SQLite: the json_each row; PostgreSQL: the jsonb value)
    def is_text(self, r: Any) -> ColumnElement:
        if self.dialect == "sqlite":
            return r.c.type == "text"
        return func.jsonb_typeof(r) == "string"

    def text(self, r: Any) -> Any:
        if self.dialect == "sqlite":
            return r.c.value
        return r.op("#>>")(literal_column("'{}'"))

    def number(self, r: Any) -> tuple[ColumnElement, Any]:
        if self.dialect == "sqlite":
            return r.c.type.in_(("integer", "real")), r.c.value
        return func.jsonb_typeof(r) == "number", cast(r, Float)


def _string(p: fs.Parsed, vals: _Values, dialect: str, positive: bool = True) -> ColumnElement:
    """`positive=False`: the negative comparisons alone (an exact index term answers the
    positive ones)."""
    def match(r: Any, comp: str, value: str) -> ColumnElement:
        col = vals.text(r)
        if comp.endswith("EQUALS") and not comp.startswith("PREFIX"):
            hit = col == value
        elif comp.startswith("PREFIX"):
            hit = func.substr(col, 1, len(value)) == value
        elif comp == "CONTAINS_WORD":
            hit = contains_word(col, value, dialect)
        else:
            fn = func.instr if dialect == "sqlite" else func.strpos
            hit = fn(col, value) > 0
        return and_(vals.is_text(r), hit)

    parts = []
    pos = p.positive if positive else []
    if pos:
        alts = []
        for comp, value in pos:
            needle = _needle(comp, value)
            cond = vals.exists(lambda r, c=comp, v=value: match(r, c, v))
            if needle is not None:
                cond = and_(_instr(needle, dialect), cond)
            if comp == "EQUALS" and dialect == "postgresql":
                cond = and_(_contains(p.key, value), cond)
            alts.append(cond)
        parts.append(or_(*alts))
    for comp, value in p.negative:
        parts.append(not_(vals.exists(lambda r, c=comp, v=value: match(r, c, v))))
    return and_(true(), *parts)


def _contains(key: str, value: Any) -> ColumnElement:
    """`doc::jsonb @> {...}` holding `value` at `key`'s path: what the GIN index answers."""
    from sqlalchemy.dialects.postgresql import JSONB   # PostgreSQL only: not on SQLite hubs

    node: Any = value
    for part in reversed(fs.ALL_KEYS[key].path):
        node = {part[:-2]: [node]} if part.endswith("[]") else {part: node}
    return cast(F.c.doc, JSONB).op("@>")(literal(node, JSONB))


def _map(p: fs.Parsed, vals: _Values, dialect: str) -> ColumnElement:
    """SQLite iterates each map's members (`mapped`); PostgreSQL reads `path."Key"`."""
    def entry(k: str, comp: str, value: str) -> ColumnElement:
        on = vals if dialect == "sqlite" else _Values(dialect, (*vals.path, k))

        def pred(r: Any) -> ColumnElement:
            col = on.text(r)
            if comp.endswith("EQUALS"):
                hit = col == value
            else:
                fn = func.instr if dialect == "sqlite" else func.strpos
                hit = fn(col, value) > 0
            keyed = [r.c.key == k] if dialect == "sqlite" else []
            return and_(*keyed, on.is_text(r), hit)
        return on.exists(pred)

    parts = []
    if p.positive:
        alts = []
        for k, comp, value in p.positive:
            cond = and_(_instr(dumps(k) + ":", dialect), entry(k, comp, value))
            if comp == "EQUALS" and dialect == "postgresql":
                cond = and_(_contains(p.key, {k: value}), cond)
            alts.append(cond)
        parts.append(or_(*alts))
    for e in p.negative:
        parts.append(not_(entry(*e)))
    return and_(true(), *parts)


def _number(p: fs.Parsed, vals: _Values) -> ColumnElement:
    def pred(r: Any) -> ColumnElement:
        typed, n = vals.number(r)
        ops = {"Gte": n.__ge__, "Lte": n.__le__, "Eq": n.__eq__, "Gt": n.__gt__, "Lt": n.__lt__}
        return and_(typed, or_(*(and_(*(ops[op](b) for op, b in alt.items()))
                                 for alt in p.items)))
    return vals.exists(pred)


def _date(p: fs.Parsed, vals: _Values, dialect: str) -> ColumnElement:
    def pred(r: Any) -> ColumnElement:
        at = func.secpipe_ts(vals.text(r))   # SQLite: Python; PG: migration 0006
        ops = {">=": at.__ge__, "<=": at.__le__, "<": at.__lt__}
        return and_(vals.is_text(r), or_(*(and_(*(ops[op](b) for op, b in alt))
                                           for alt in p.items)))
    return vals.exists(pred)


def _ip(p: fs.Parsed, vals: _Values, dialect: str) -> ColumnElement:
    def pred(r: Any) -> ColumnElement:
        col = vals.text(r)
        if dialect == "sqlite":
            hits = [func.secpipe_in_cidr(col, str(net)) == 1 for net in p.items]
        else:
            hits = [func.secpipe_inet(col).op("<<=")(cast(str(net), _INET)) for net in p.items]
        return and_(vals.is_text(r), or_(*hits))
    return vals.exists(pred)


def _keyword(p: fs.Parsed, dialect: str) -> ColumnElement:
    alts = []
    for value in p.items:
        if dialect == "sqlite":
            t = func.json_tree(F.c.doc).table_valued("atom", "type").alias("kw")
            found = exists(select(literal_column("1")).select_from(t).where(
                t.c.type == "text", t.c.atom == value)).correlate(F)
        else:
            from sqlalchemy.dialects.postgresql import JSONB   # not on SQLite hubs

            v = func.jsonb_path_query(cast(F.c.doc, JSONB),
                                      literal_column("'lax $.**'::jsonpath")).column_valued("v")
            found = exists(select(literal_column("1")).where(
                func.jsonb_typeof(v) == "string",
                v.op("#>>")(literal_column("'{}'")) == value)).correlate(F)
        alts.append(and_(_instr(dumps(value), dialect), found))
    return or_(*alts) if alts else false()


class _InetType(String):
    pass


@compiles(_InetType, "postgresql")
def _inet(_type: Any, _compiler: Any, **_kw: Any) -> str:
    return "INET"


_INET = _InetType()


_EXACT_NUMBER = 2.0 ** 53


def value_term(p: fs.Parsed, ctx: Any) -> tuple[ColumnElement | None, bool]:
    """For a key of `fs.VALUE_INDEXED`: (the findings with a matching value in finding_map
    (kind "X", values encoded by `filtermatch.encode`), exact?): a `Ctx` term the planner can
    count and drive from; (None, False) when the comparisons have no index range (negatives
    only, an empty CONTAINS). CONTAINS / CONTAINS_WORD scan the key's rows (not exact: see
    `query_contains`). Exact means the rows decide the positive comparisons alone: strings
    shorter than the 256 indexed characters (PREFIX: up to 256), stamps, addresses, and
    numbers when every bound is below 2**53 in magnitude (where the doubles the rows hold
    order integers exactly). Otherwise the rows are a superset and the document check stays;
    exact or not, negative comparisons are checked on the document."""
    if p.key not in fs.VALUE_INDEXED:
        return None, False
    exact = True

    def between(m: Any, lo: str | None, hi: str | None) -> ColumnElement:
        return and_(true() if lo is None else m.c.v >= lo, true() if hi is None else m.c.v <= hi)

    ranges: list[Callable[[Any], ColumnElement]] = []
    if p.kind == fs.STRING:
        pos = p.positive
        if not pos or not (qc.applies(pos) or all(c in ("EQUALS", "PREFIX") for c, _ in pos)):
            return None, False
        for comp, value in pos:
            if comp in qc.SUBSTRING:
                exact = False
                ranges.append(qc.candidate(comp, value, ctx.dialect))
                continue
            v = value[:MAP_VALUE_INDEXED]
            exact = exact and len(value) < MAP_VALUE_INDEXED + (comp == "PREFIX")
            upper = prefix_upper(v) if comp == "PREFIX" else None
            if comp == "EQUALS":
                ranges.append(lambda m, v=v: m.c.v == v)
            elif upper is None:
                ranges.append(lambda m, v=v: m.c.v >= v)
            else:
                ranges.append(lambda m, v=v, u=upper: and_(m.c.v >= v, m.c.v < u))
    elif p.kind == fs.NUMBER:
        for alt in p.items:
            exact = exact and all(abs(b) < _EXACT_NUMBER for b in alt.values())
            ranges.append(lambda m, alt=alt: _number_range(m, alt))
    elif p.kind == fs.DATE:
        for alt in p.items:
            ops = {">=": lambda m, b: m.c.v >= b, "<=": lambda m, b: m.c.v <= b,
                   "<": lambda m, b: m.c.v < b}
            ranges.append(lambda m, alt=alt, ops=ops: and_(*(ops[op](m, b) for op, b in alt)))
    elif p.kind == fs.IP:
        for net in p.items:
            ranges.append(lambda m, net=net: between(m, fm.encode_ip(net.network_address),
                                                     fm.encode_ip(net.broadcast_address)))
    else:
        return None, False

    if p.key in fs.TWINS:
        return query_fpf.twin_term(p, ctx, ranges, exact)

    def cond(m: Any) -> ColumnElement:
        return and_(m.c.kind == fs.VALUE_KIND, m.c.key == p.key, or_(*(r(m) for r in ranges)))

    return ctx.present(M, cond, estimable=True), exact


def _number_range(m: Any, alt: dict[str, float]) -> ColumnElement:
    """One NumberFilter object on encoded values (order-preserving, see filtermatch)."""
    ops = {"Gte": m.c.v.__ge__, "Lte": m.c.v.__le__, "Eq": m.c.v.__eq__, "Gt": m.c.v.__gt__,
           "Lt": m.c.v.__lt__}
    return and_(*(ops[op](fm.encode_number(b)) for op, b in alt.items()))


def condition(p: fs.Parsed, ctx: Any) -> ColumnElement:
    """The SQL of one parsed filter key, read from the stored document (`ctx`: hub.query's
    Ctx, which collects the index-able terms)."""
    dialect = ctx.dialect
    spec = fs.ALL_KEYS[p.key]
    if p.kind == fs.KEYWORD:
        return _keyword(p, dialect)
    if p.key == fs.OTHER_KEY:
        rows = query_fpf.other_condition(p, ctx)
        if rows is not None:
            return rows
    vals = _Values(dialect, spec.path, mapped=p.kind == fs.MAP)
    term, exact = value_term(p, ctx)
    if term is not None and exact:
        # the rows decide the positive comparisons; negative ones still read the document
        return and_(term, _string(p, vals, dialect, positive=False)) \
            if p.kind == fs.STRING else term
    if p.kind == fs.STRING and term is not None and qc.applies(p.positive):
        # a row decides, or (a value cut at 256 characters) the document does
        only_pos = fs.Parsed(p.key, p.kind, tuple(p.positive))
        # (twin keys keep their values in the twin's rows: their document always decides)
        guard = true() if p.key in fs.TWINS else qc.has_cut(p, ctx)
        return and_(term, or_(qc.decided(p, ctx),
                              and_(guard, _string(only_pos, vals, dialect))),
                    _string(p, vals, dialect, positive=False))
    if p.kind == fs.STRING:
        cond = _string(p, vals, dialect)
    elif p.kind == fs.MAP:
        cond = _map(p, vals, dialect)
    elif p.kind == fs.NUMBER:
        cond = _number(p, vals)
    elif p.kind == fs.DATE:
        cond = _date(p, vals, dialect)
    elif p.kind == fs.IP:
        cond = _ip(p, vals, dialect)
    else:
        raise AssertionError(p.kind)     # BOOLEAN keys all have columns
    return cond if term is None else and_(term, cond)
