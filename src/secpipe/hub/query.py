"""Security Hub's Filters (AwsSecurityFindingFilters) as one SQL condition over `findings`.

Filters follow Security Hub's rules: on one attribute, EQUALS / PREFIX / CONTAINS are OR'd,
NOT_EQUALS / PREFIX_NOT_EQUALS / NOT_CONTAINS are AND'd, and the two groups are AND'd; EQUALS
may not be combined with a negative comparison, CONTAINS and NOT_CONTAINS only with
themselves. Attributes are AND'd. Several Number/Date filter objects on one attribute are
alternatives (OR), the bounds inside one object all apply (AND).

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

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import String, and_, cast, exists, false, func, not_, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

from secpipe.hub.common import bad_text, canon_time, days_ago, prefix_upper
from secpipe.hub.interface import InvalidInput
from secpipe.hub.schema import MAP_VALUE_INDEXED
from secpipe.hub.schema import finding_map as M
from secpipe.hub.schema import finding_resources as R
from secpipe.hub.schema import finding_types as T
from secpipe.hub.schema import findings as F
from secpipe.hub.validate import LABEL_RANK, UNINDEXED_PRODUCT_FIELDS

MAX_ATTRIBUTES = 10
MAX_VALUES = 20
POSITIVE = ("EQUALS", "PREFIX", "CONTAINS")
NEGATIVE = ("NOT_EQUALS", "PREFIX_NOT_EQUALS", "NOT_CONTAINS")

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


def noindex(col: Any) -> ColumnElement:
    """`col` spelt so no index can serve it (`col || ''`, `col + 0`): SQLite's own idiom."""
    return col + ("" if isinstance(col.type, String) else 0)


@dataclass
class Term:
    """A positive condition an index could answer (see the module docstring)."""

    counter: Any            # SELECT of the matching keys, for estimating; None: not estimable
    cols: frozenset         # findings columns it constrains (a term on the sort key stays)

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
        fn = func.instr if dialect == "sqlite" else func.strpos
        self.contains = lambda col, value: fn(col, value) > 0

    def term(self, indexed: ColumnElement, unindexed: ColumnElement, counter: Any,
             cols: Sequence[Any] = ()) -> ColumnElement:
        position = len(self.terms)
        self.terms.append(Term(counter, frozenset(cols)))
        if self.use_index is None or self.use_index.get(position, True):
            return indexed
        return unindexed

    def column_term(self, col: Any, build: Callable[[Any], ColumnElement],
                    estimable: bool = True) -> ColumnElement:
        """`build(col)` as a term when `col` has an index, else as a plain condition."""
        if col not in INDEXED:
            return build(col)
        cond = build(col)
        counter = select(F.c.pk).where(cond) if estimable else None
        return self.term(cond, build(noindex(col)), counter, [col])

    def present(self, table: Any, cond_for: Callable[[Any], ColumnElement],
                estimable: bool) -> ColumnElement:
        """Findings with at least one `table` row matching `cond_for(alias)`."""
        side = table.alias()
        cond = cond_for(side)
        sub = select(side.c.finding_pk).where(cond)
        return self.term(F.c.pk.in_(sub), self.probe(table, cond_for),
                         sub if estimable else None)

    @staticmethod
    def probe(table: Any, cond_for: Callable[[Any], ColumnElement]) -> ColumnElement:
        """EXISTS a matching `table` row for the finding at hand (aliased: the outer query
        may itself read `table`)."""
        side = table.alias()
        return exists().where(side.c.finding_pk == F.c.pk, cond_for(side)).correlate(F)

    @classmethod
    def absent(cls, table: Any, cond_for: Callable[[Any], ColumnElement]) -> ColumnElement:
        return ~cls.probe(table, cond_for)


def _objects(key: str, values: Any) -> list[Mapping[str, Any]]:
    if not isinstance(values, list):
        raise InvalidInput(f"Filters.{key} must be a list")
    if len(values) > MAX_VALUES:
        raise InvalidInput(f"Filters.{key} has more than {MAX_VALUES} values")
    if not all(isinstance(v, Mapping) for v in values):
        raise InvalidInput(f"Filters.{key} values must be objects")
    return values


def _comparisons(key: str, values: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for v in values:
        comp, value = v.get("Comparison"), v.get("Value")
        if comp not in POSITIVE + NEGATIVE:
            raise InvalidInput(f"Filters.{key}: Comparison must be one of "
                               + ", ".join(POSITIVE + NEGATIVE))
        if not isinstance(value, str):
            raise InvalidInput(f"Filters.{key}: Value must be a string")
        out.append((comp, value))
    kinds = {c for c, _ in out}
    if "EQUALS" in kinds and kinds & {"NOT_EQUALS", "PREFIX_NOT_EQUALS"}:
        raise InvalidInput(f"Filters.{key}: EQUALS cannot be combined with NOT_EQUALS or "
                           "PREFIX_NOT_EQUALS on the same field")
    for only in ("CONTAINS", "NOT_CONTAINS"):
        if only in kinds and len(kinds) > 1:
            raise InvalidInput(f"Filters.{key}: {only} can only be combined with {only}")
    return out


def _match(col: Any, comp: str, value: str, contains) -> ColumnElement:
    """The positive form of a string comparison (NOT_* are negated by the caller)."""
    if comp.startswith("PREFIX"):
        upper = prefix_upper(value)
        return col >= value if upper is None else and_(col >= value, col < upper)
    if comp.endswith("EQUALS"):
        return col == value
    return contains(col, value)


def _string_filter(key: str, values: Any, ctx: Ctx) -> ColumnElement:
    comps = _comparisons(key, _objects(key, values))
    pos = [(c, v) for c, v in comps if c in POSITIVE]
    neg = [(c, v) for c, v in comps if c in NEGATIVE]
    contains = ctx.contains
    parts = []
    if key in STRINGS:
        col = STRINGS[key]
        if key == "SeverityLabel" and pos and all(c == "EQUALS" for c, _ in pos):
            ranks = [LABEL_RANK[v] for _, v in pos if v in LABEL_RANK]   # the indexed twin
            parts.append(ctx.column_term(F.c.severity_rank, lambda c: c.in_(ranks))
                         if ranks else false())
        elif pos:
            parts.append(ctx.column_term(
                col, lambda c: or_(*(_match(c, cmp, v, contains) for cmp, v in pos)),
                estimable=all(cmp != "CONTAINS" for cmp, _ in pos)))
        for c, v in neg:
            miss = not_(_match(noindex(col), c, v, contains))
            parts.append(or_(col.is_(None), miss) if col.nullable else miss)
        return and_(*parts)
    table, name = SIDE_STRINGS[key]
    if pos:
        parts.append(ctx.present(
            table, lambda t: or_(*(_match(t.c[name], c, v, contains) for c, v in pos)),
            estimable=all(c != "CONTAINS" for c, _ in pos)))
    for c, v in neg:
        parts.append(ctx.absent(table, lambda t, c=c, v=v: _match(t.c[name], c, v, contains)))
    return and_(*parts)


def _map_match(m: Any, comp: str, value: str, contains) -> ColumnElement:
    if comp.endswith("EQUALS"):
        if len(value) > MAP_VALUE_INDEXED:
            return and_(m.c.v == value[:MAP_VALUE_INDEXED], m.c.full == value)
        return and_(m.c.v == value, m.c.full.is_(None))
    return contains(func.coalesce(m.c.full, m.c.v), value)


def doc_product_field(key: str, dialect: str) -> ColumnElement:
    """A ProductFields value read from the stored document (keys kept out of the side table)."""
    if dialect == "sqlite":
        return func.json_extract(F.c.doc, f'$."ProductFields"."{key}"')
    return func.jsonb_extract_path_text(cast(F.c.doc, JSONB), "ProductFields", key)


def _map_filter(key: str, values: Any, ctx: Ctx) -> ColumnElement:
    kind = MAPS[key]
    contains = ctx.contains
    entries = []
    for v in _objects(key, values):
        k, comp, value = v.get("Key"), v.get("Comparison"), v.get("Value")
        if not isinstance(k, str) or not isinstance(value, str):
            raise InvalidInput(f"Filters.{key}: Key and Value must be strings")
        if comp not in ("EQUALS", "NOT_EQUALS", "CONTAINS", "NOT_CONTAINS"):
            raise InvalidInput(f"Filters.{key}: Comparison must be EQUALS, NOT_EQUALS, "
                               "CONTAINS or NOT_CONTAINS")
        entries.append((k, comp, value))

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


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{where} must be a number")
    if isinstance(value, int) and -2**63 <= value < 2**63:
        return value
    try:        # a NumberFilter holds a double: bigger integers than SQLite's become one
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidInput(f"{where} is out of range")
    return number


def _number_filter(key: str, values: Any, ctx: Ctx) -> ColumnElement:
    alts = []
    for v in _objects(key, values):
        unknown = set(v) - {"Gte", "Lte", "Eq", "Gt", "Lt"}
        if unknown or not v:
            raise InvalidInput(f"Filters.{key}: a NumberFilter takes Gte, Lte, Eq, Gt, Lt")
        alts.append({op: _number(n, f"Filters.{key}.{op}") for op, n in v.items()})

    def build(col: Any) -> ColumnElement:
        ops = {"Gte": col.__ge__, "Lte": col.__le__, "Eq": col.__eq__, "Gt": col.__gt__,
               "Lt": col.__lt__}
        return or_(*(and_(*(ops[op](n) for op, n in alt.items())) for alt in alts))

    return ctx.column_term(NUMBERS[key], build)


def _date(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be a timestamp string")
    try:
        return canon_time(value)
    except ValueError:
        raise InvalidInput(f"{where} is not an ISO 8601 timestamp") from None


def _date_filter(key: str, values: Any, ctx: Ctx) -> ColumnElement:
    alts = []
    for v in _objects(key, values):
        if set(v) - {"Start", "End", "DateRange"} or not v:
            raise InvalidInput(f"Filters.{key}: a DateFilter takes Start, End or DateRange")
        bounds: list[tuple[str, str]] = []
        if "Start" in v:
            bounds.append((">=", _date(v["Start"], f"Filters.{key}.Start")))
        if "End" in v:
            bounds.append(("<=", _date(v["End"], f"Filters.{key}.End")))
        if "DateRange" in v:
            rng = v["DateRange"]
            if (not isinstance(rng, Mapping) or rng.get("Unit") != "DAYS"
                    or isinstance(rng.get("Value"), bool) or not isinstance(rng.get("Value"), int)
                    or rng["Value"] < 0):
                raise InvalidInput(f"Filters.{key}.DateRange needs Value (days) and Unit DAYS")
            # beyond ~1900 years ago every stored instant matches; no datetime overflow
            bounds.append((">=", days_ago(min(rng["Value"], 700_000))))
        alts.append(bounds)

    def build(col: Any) -> ColumnElement:
        return or_(*(and_(col.is_not(None), *((col >= b) if op == ">=" else (col <= b)
                                               for op, b in bounds)) for bounds in alts))

    return ctx.column_term(DATES[key], build)


def _boolean_filter(key: str, values: Any) -> ColumnElement:
    col = BOOLEANS[key]
    alts = []
    for v in _objects(key, values):
        if not isinstance(v.get("Value"), bool):
            raise InvalidInput(f"Filters.{key}: Value must be a boolean")
        alts.append(col == v["Value"])
    return or_(*alts)


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
        if key in STRINGS or key in SIDE_STRINGS:
            parts.append(_string_filter(key, values, ctx))
        elif key in NUMBERS:
            parts.append(_number_filter(key, values, ctx))
        elif key in DATES:
            parts.append(_date_filter(key, values, ctx))
        elif key in MAPS:
            parts.append(_map_filter(key, values, ctx))
        elif key in BOOLEANS:
            parts.append(_boolean_filter(key, values))
        else:
            raise InvalidInput(f"{key} is not a supported filter attribute")
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
