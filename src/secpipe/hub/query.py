"""Security Hub's Filters (AwsSecurityFindingFilters) as one SQL condition over `findings`.

Filters follow Security Hub's rules: on one attribute, EQUALS / PREFIX / CONTAINS /
CONTAINS_WORD are OR'd, NOT_EQUALS / PREFIX_NOT_EQUALS / NOT_CONTAINS are AND'd, and the two
groups are AND'd; EQUALS may not be combined with a negative comparison, CONTAINS and
NOT_CONTAINS only with themselves. Attributes are AND'd. Several Number/Date filter objects on
one attribute are alternatives (OR), the bounds inside one object all apply (AND). DateRange
is WITHIN (at or after now - N days) or OLDER_THAN (before it).

Every key of `hub.filterspec` is accepted (and checked there, `filterspec.parse`). The keys
below with a column or side table are answered here (the fast path); all the others are
read from the stored document by `hub.query_json`, with the same semantics.

Multi-valued attributes (Type, Resource*, ProductFields, UserDefinedFields, ResourceTags) are
answered from their side tables; a negative comparison there means "no value of the finding
matches". PREFIX is a range (`>= p AND < next(p)`), exact and index-friendly in SQLite's
BINARY and PostgreSQL's "C" collation, where LIKE's case rules and escaping differ.

Every positive condition that an index could answer is registered as a *term* with two
spellings: one the database may use an index for, one it cannot (`col || ''`, an EXISTS
probe). `pages.plan` picks per term, because SQLite's planner cannot tell a rare value from a
common one behind a subquery or a low-cardinality column (see `secpipe.hub.pages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import and_, cast, exists, false, func, not_, or_, select, true
from sqlalchemy.sql import ColumnElement

from secpipe.hub import filterspec as fs
from secpipe.hub import query_json
from secpipe.hub.common import bad_text
from secpipe.hub.interface import InvalidInput
from secpipe.hub.query_hint import indexed_by
from secpipe.hub.query_terms import _map_match, _match, noindex
from secpipe.hub.schema import finding_map as M
from secpipe.hub.schema import finding_resources as R
from secpipe.hub.schema import finding_types as T
from secpipe.hub.schema import findings as F
from secpipe.hub.validate import LABEL_RANK, UNINDEXED_PRODUCT_FIELDS

MAX_ATTRIBUTES = fs.MAX_ATTRIBUTES
POSITIVE, NEGATIVE = fs.POSITIVE, fs.NEGATIVE

STRINGS: dict[str, Any] = {
    "Id": F.c.id, "ProductArn": F.c.product_arn, "ProductName": F.c.product_name,
    "CompanyName": F.c.company_name, "GeneratorId": F.c.generator_id, "Title": F.c.title,
    "Description": F.c.description, "AwsAccountId": F.c.aws_account_id, "Region": F.c.region,
    "SeverityLabel": F.c.severity_label, "WorkflowStatus": F.c.workflow_status,
    "RecordState": F.c.record_state, "VerificationState": F.c.verification_state,
    "ComplianceStatus": F.c.compliance_status,
}
SIDE_STRINGS: dict[str, tuple[Any, str]] = {
    "Type": (T, "type"), "ResourceId": (R, "id"), "ResourceType": (R, "type"),
    "ResourcePartition": (R, "partition"), "ResourceRegion": (R, "region"),
}
# the side tables' indexes on (value, finding_pk) (schema.py), for `Ctx.probe`
VALUE_INDEX = {(T, "type"): "ix_finding_types_type", (R, "id"): "ix_finding_resources_id",
               (R, "type"): "ix_finding_resources_type"}
NUMBERS = {"SeverityNormalized": F.c.severity_normalized, "Confidence": F.c.confidence,
           "Criticality": F.c.criticality}
DATES = {"CreatedAt": F.c.created_at, "UpdatedAt": F.c.updated_at,
         "FirstObservedAt": F.c.first_observed_at, "LastObservedAt": F.c.last_observed_at,
         "ProcessedAt": F.c.processed_at}
MAPS = {"ProductFields": "P", "UserDefinedFields": "U", "ResourceTags": "T"}
BOOLEANS = {"Sample": F.c.sample}
# columns with an index of their own (`id` leads the unique key)
INDEXED = {F.c.id, F.c.product_name, F.c.generator_id, F.c.title, F.c.severity_rank,
           F.c.severity_normalized, F.c.workflow_status, F.c.record_state, F.c.created_at,
           F.c.updated_at, F.c.first_observed_at, F.c.last_observed_at}


LOW_CARDINALITY = {F.c.severity_rank, F.c.severity_normalized, F.c.workflow_status,
                   F.c.record_state}


@dataclass
class Term:
    """A positive condition an index could answer (see the module docstring)."""

    count_query: Callable[[], Any] | None   # builds the SELECT of the matching keys, for
    cols: frozenset         # estimating (None: not estimable); findings columns it constrains
    side: bool = False      # index-able spelling `pk IN (side-table keys)`

    @property
    def counter(self) -> Any:
        """SELECT of the matching keys (built on demand: only plans on SQLite count)."""
        return None if self.count_query is None else self.count_query()

    @property
    def likely_common(self) -> bool:
        """Counted last: a few values shared by most findings (the cap is small by then)."""
        return bool(self.cols & LOW_CARDINALITY)


class Ctx:
    """What building a WHERE clause needs besides the filters; collects the terms.

    `use_index` maps a term's position to the spelling to use (True: index-able); without
    it every term keeps its index-able spelling and the database plans alone.
    """

    def __init__(self, dialect: str, use_index: Mapping[int, bool] | None = None) -> None:
        self.dialect = dialect
        self.use_index = use_index
        self.terms: list[Term] = []
        # SeverityLabel EQUALS's ranks (None: no such filter): a page driven from a side table
        # checks its candidates in the (severity_rank, pk) covering index (`pages.page_query`)
        self.ranks: list[int] | None = None
        # set for a page driven from one term (SQLite): the other side-table terms probe the
        # value's index, not the side table's primary key (`present`)
        self.value_probes = False
        fn = func.instr if dialect == "sqlite" else func.strpos
        self.contains = lambda col, value: fn(col, value) > 0

    def term(self, indexed: Callable[[], ColumnElement], unindexed: Callable[[], ColumnElement],
             counter: Callable[[], Any] | None, cols: Sequence[Any] = (),
             side: bool = False) -> ColumnElement:
        """The spelling `use_index` asks for, built alone (SQLAlchemy's expression building
        is a good part of a page's CPU): the other spelling and the counter are built only
        if asked for."""
        position = len(self.terms)
        self.terms.append(Term(counter, frozenset(cols), side))
        if self.use_index is None or self.use_index.get(position, True):
            return indexed()
        return unindexed()

    def column_term(self, col: Any, build: Callable[[Any], ColumnElement],
                    estimable: bool = True) -> ColumnElement:
        """`build(col)` as a term when `col` has an index, else as a plain condition."""
        if col not in INDEXED:
            return build(col)
        counter = (lambda: select(F.c.pk).where(build(col))) if estimable else None
        return self.term(lambda: build(col), lambda: build(noindex(col)), counter, [col])

    def present(self, table: Any, cond_for: Callable[[Any], ColumnElement],
                estimable: bool, value_index: str | None = None) -> ColumnElement:
        """Findings with at least one `table` row matching `cond_for(alias)`. `value_index`:
        an index on `table` that `cond_for` fixes every column of before finding_pk (EQUALS
        only), which the probe may seek instead of the primary key (see `probe`)."""
        def keys() -> Any:
            side = table.alias()
            return select(side.c.finding_pk).where(cond_for(side))

        by_value = value_index if self.value_probes else None
        return self.term(lambda: F.c.pk.in_(keys()),
                         lambda: self.probe(table, cond_for, by_value),
                         keys if estimable else None, side=True)

    @staticmethod
    def probe(table: Any, cond_for: Callable[[Any], ColumnElement],
              value_index: str | None = None) -> ColumnElement:
        """EXISTS a matching `table` row for the finding at hand (aliased: the outer query
        may itself read `table`).

        With `value_index` (SQLite) the probe seeks (value, finding_pk) there: candidates
        that come from another term have scattered pks, and a primary-key probe reads a random
        page of the whole side table for each (cold at 1M findings: ~0.1 ms), where one
        value's index entries are a small contiguous slice that stays cached."""
        side = table.alias()
        sel = select(1).select_from(side).where(side.c.finding_pk == F.c.pk, cond_for(side))
        if value_index is not None:
            sel = indexed_by(sel, side, value_index)
        return sel.correlate(F).exists()

    @classmethod
    def absent(cls, table: Any, cond_for: Callable[[Any], ColumnElement]) -> ColumnElement:
        return ~cls.probe(table, cond_for)


def _string_filter(p: fs.Parsed, ctx: Ctx) -> ColumnElement:
    key = p.key
    pos, neg = p.positive, p.negative
    estimable = all(c not in ("CONTAINS", "CONTAINS_WORD") for c, _ in pos)
    parts = []
    if key in STRINGS:
        col = STRINGS[key]
        if key == "SeverityLabel" and pos and all(c == "EQUALS" for c, _ in pos):
            ranks = [LABEL_RANK[v] for _, v in pos if v in LABEL_RANK]   # the indexed twin
            ctx.ranks = ranks
            parts.append(ctx.column_term(F.c.severity_rank, lambda c: c.in_(ranks))
                         if ranks else false())
        elif pos:
            parts.append(ctx.column_term(
                col, lambda c: or_(*(_match(c, cmp, v, ctx) for cmp, v in pos)),
                estimable=estimable))
        for c, v in neg:
            miss = not_(_match(noindex(col), c, v, ctx))
            parts.append(or_(col.is_(None), miss) if col.nullable else miss)
        return and_(*parts)
    table, name = SIDE_STRINGS[key]
    if pos:
        equals = all(c == "EQUALS" for c, _ in pos)
        parts.append(ctx.present(
            table, lambda t: or_(*(_match(t.c[name], c, v, ctx) for c, v in pos)),
            estimable=estimable, value_index=VALUE_INDEX.get((table, name)) if equals else None))
    for c, v in neg:
        parts.append(ctx.absent(table, lambda t, c=c, v=v: _match(t.c[name], c, v, ctx)))
    return and_(*parts)


def doc_product_field(key: str, dialect: str) -> ColumnElement:
    """A ProductFields value read from the stored document (keys kept out of the side table)."""
    if dialect == "sqlite":
        return func.json_extract(F.c.doc, f'$."ProductFields"."{key}"')
    from sqlalchemy.dialects.postgresql import JSONB   # not on SQLite hubs

    return func.jsonb_extract_path_text(cast(F.c.doc, JSONB), "ProductFields", key)


def _map_filter(p: fs.Parsed, ctx: Ctx) -> ColumnElement:
    kind = MAPS[p.key]
    contains = ctx.contains
    entries = list(p.items)

    def in_doc(k: str) -> bool:
        return kind == "P" and k in UNINDEXED_PRODUCT_FIELDS

    def doc_match(k: str, comp: str, value: str) -> ColumnElement:
        expr = doc_product_field(k, ctx.dialect)
        return expr == value if comp.endswith("EQUALS") else contains(expr, value)

    def entry(m: Any, k: str, c: str, v: str) -> ColumnElement:
        return and_(m.c.kind == kind, m.c.key == k, _map_match(m, c, v, contains))

    side_pos = [(k, c, v) for k, c, v in entries if not c.startswith("NOT_") and not in_doc(k)]
    alts = []
    if side_pos:
        alts.append(ctx.present(M, lambda m: or_(*(entry(m, *e) for e in side_pos)),
                                estimable=all(c == "EQUALS" for _, c, _ in side_pos)))
    alts += [doc_match(k, c, v) for k, c, v in entries if not c.startswith("NOT_") and in_doc(k)]
    parts = [or_(*alts)] if alts else []
    for k, c, v in entries:
        if not c.startswith("NOT_"):
            continue
        if in_doc(k):
            expr = doc_product_field(k, ctx.dialect)
            parts.append(or_(expr.is_(None), not_(doc_match(k, c, v))))
        else:
            parts.append(ctx.absent(M, lambda m, k=k, c=c, v=v: entry(m, k, c, v)))
    return and_(*parts)


def _number_filter(p: fs.Parsed, ctx: Ctx) -> ColumnElement:
    def build(col: Any) -> ColumnElement:
        ops = {"Gte": col.__ge__, "Lte": col.__le__, "Eq": col.__eq__, "Gt": col.__gt__,
               "Lt": col.__lt__}
        return or_(*(and_(*(ops[op](n) for op, n in alt.items())) for alt in p.items))

    return ctx.column_term(NUMBERS[p.key], build)


def _date_filter(p: fs.Parsed, ctx: Ctx) -> ColumnElement:
    def build(col: Any) -> ColumnElement:
        ops = {">=": col.__ge__, "<=": col.__le__, "<": col.__lt__}
        return or_(*(and_(col.is_not(None), *(ops[op](b) for op, b in bounds))
                     for bounds in p.items))

    return ctx.column_term(DATES[p.key], build)


def _boolean_filter(p: fs.Parsed) -> ColumnElement:
    return or_(*(BOOLEANS[p.key] == v for v in p.items))


def where_clause(filters: Mapping[str, Any] | None, dialect: str,
                 use_index: Mapping[int, bool] | None = None, ctx: Ctx | None = None
                 ) -> ColumnElement:
    """All filters as one boolean expression over `findings`; InvalidInput on a bad filter.

    Pass `ctx` to see the terms collected; `use_index` chooses their spellings."""
    ctx = ctx or Ctx(dialect, use_index)
    if not filters:
        return true()
    problem = bad_text(filters)
    if problem:
        raise InvalidInput(f"Filters: {problem}")
    if not isinstance(filters, Mapping):
        raise InvalidInput("Filters must be an object")
    used = {k: v for k, v in filters.items() if v not in (None, [])}
    if len(used) > MAX_ATTRIBUTES:
        raise InvalidInput(f"at most {MAX_ATTRIBUTES} filter attributes are allowed")
    parts = []
    for key, values in used.items():
        p = fs.parse(key, values)
        if key in STRINGS or key in SIDE_STRINGS:
            parts.append(_string_filter(p, ctx))
        elif key in NUMBERS:
            parts.append(_number_filter(p, ctx))
        elif key in DATES:
            parts.append(_date_filter(p, ctx))
        elif key in MAPS:
            parts.append(_map_filter(p, ctx))
        elif key in BOOLEANS:
            parts.append(_boolean_filter(p))
        else:      # every other key of the table: read from the stored document
            parts.append(query_json.condition(p, ctx))
    return and_(*parts) if parts else true()


def text_clause(text: str | None) -> ColumnElement:
    """The dashboard's free-text search: case-insensitive, over title, description, resources."""
    if not text or not text.strip():
        return true()
    problem = bad_text(text)
    if problem:
        raise InvalidInput(f"search text: {problem}")
    pattern = "%" + (text.strip().lower().replace("\\", "\\\\").replace("%", "\\%")
                     .replace("_", "\\_")) + "%"
    return or_(
        func.lower(F.c.title).like(pattern, escape="\\"),
        func.lower(F.c.description).like(pattern, escape="\\"),
        Ctx.probe(R, lambda r: func.lower(r.c.id).like(pattern, escape="\\")),
    )
