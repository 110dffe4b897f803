"""GetFindings: Security Hub's Filters, SortCriteria and paging, turned into one SQL statement.

Filters (AwsSecurityFindingFilters) follow Security Hub's rules: on one attribute, EQUALS /
PREFIX / CONTAINS are OR'd, NOT_EQUALS / PREFIX_NOT_EQUALS / NOT_CONTAINS are AND'd, and the
two groups are AND'd; EQUALS may not be combined with a negative comparison, CONTAINS and
NOT_CONTAINS only with themselves. Attributes are AND'd. Several Number/Date filter objects on
one attribute are alternatives (OR), the bounds inside one object all apply (AND).

Multi-valued attributes (Type, Resource*, ProductFields, UserDefinedFields, ResourceTags) are
answered from their side tables with `pk IN (subquery)` so either side can drive the plan. A
negative comparison there means "no value of the finding matches".

Paging is keyset paging: the NextToken carries the sort key of the last row returned (plus a
digest of the request it belongs to), so pages stay exact while other writers insert findings.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import and_, cast, exists, false, func, not_, or_, select, true, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

from secpipe.hub.common import canon_time, days_ago, decode_token, encode_token, fingerprint
from secpipe.hub.common import prefix_upper
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

# Sort keys: NULL-able columns sort through a sentinel so the keyset comparison stays total.
_SORTABLE: dict[str, tuple[Any, Any]] = {
    **{k: (c, "" if c.nullable else None) for k, c in STRINGS.items() if k != "Description"},
    "SeverityLabel": (F.c.severity_rank, None),
    **{k: (c, -1 if c.nullable else None) for k, c in NUMBERS.items()},
    **{k: (c, "" if c.nullable else None) for k, c in DATES.items()},
    "ResourceId": (F.c.resource_id, None), "ResourceType": (F.c.resource_type, None),
}
SORT_ALIASES = {"Severity.Label": "SeverityLabel", "Severity.Normalized": "SeverityNormalized",
                "Workflow.Status": "WorkflowStatus", "Compliance.Status": "ComplianceStatus"}
DEFAULT_SORT = ({"Field": "UpdatedAt", "SortOrder": "desc"},)


def _objects(key: str, values: Any) -> list[Mapping[str, Any]]:
    if not isinstance(values, list):
        raise InvalidInput(f"Filters.{key} must be a list")
    if len(values) > MAX_VALUES:
        raise InvalidInput(f"Filters.{key} has more than {MAX_VALUES} values")
    if not all(isinstance(v, Mapping) for v in values):
        raise InvalidInput(f"Filters.{key} values must be objects")
    return values


def _comparisons(key: str, values: list[Mapping[str, Any]], allowed: Sequence[str]
                 ) -> list[tuple[str, str]]:
    out = []
    for v in values:
        comp, value = v.get("Comparison"), v.get("Value")
        if comp not in allowed:
            raise InvalidInput(f"Filters.{key}: Comparison must be one of {', '.join(allowed)}")
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


class _Ctx:
    """What building a WHERE clause needs besides the filters.

    `estimate(select)` (GetFindings only) counts a side-table match up to DRIVE_LIMIT + 1.
    A rare value drives the plan (`pk IN (subquery)`: fetch those few findings, then sort);
    a common one becomes a per-row probe (`EXISTS`), so the planner can walk the sort
    index and stop after one page. SQLite cannot estimate a subquery itself; PostgreSQL
    plans both forms as the same semi-join.
    """

    def __init__(self, dialect: str, estimate: Callable[[Any], int] | None = None) -> None:
        self.dialect = dialect
        self.estimate = estimate
        fn = func.instr if dialect == "sqlite" else func.strpos
        self.contains = lambda col, value: fn(col, value) > 0

    def present(self, table: Any, cond_for: Callable[[Any], ColumnElement],
                can_estimate: bool) -> ColumnElement:
        """Findings with at least one `table` row matching `cond_for(alias)`."""
        side = table.alias()
        cond = cond_for(side)
        if self.estimate is not None and (
                not can_estimate
                or self.estimate(select(side.c.finding_pk).where(cond)) > DRIVE_LIMIT):
            return self.probe(table, cond_for)
        return F.c.pk.in_(select(side.c.finding_pk).where(cond))

    @staticmethod
    def probe(table: Any, cond_for: Callable[[Any], ColumnElement]) -> ColumnElement:
        """EXISTS a matching `table` row for the finding at hand (aliased: the outer query
        may itself read `table`)."""
        side = table.alias()
        return exists().where(side.c.finding_pk == F.c.pk, cond_for(side)).correlate(F)

    @classmethod
    def absent(cls, table: Any, cond_for: Callable[[Any], ColumnElement]) -> ColumnElement:
        return ~cls.probe(table, cond_for)


DRIVE_LIMIT = 2000


def _match(col: Any, comp: str, value: str, contains) -> ColumnElement:
    """The positive form of a string comparison (NOT_* are negated by the caller)."""
    if comp.startswith("PREFIX"):
        upper = prefix_upper(value)
        return col >= value if upper is None else and_(col >= value, col < upper)
    if comp.endswith("EQUALS"):
        if col is F.c.severity_label:        # answered by the severity_rank index
            rank = LABEL_RANK.get(value)
            return false() if rank is None else F.c.severity_rank == rank
        return col == value
    return contains(col, value)


def _string_filter(key: str, values: Any, ctx: _Ctx) -> ColumnElement:
    comps = _comparisons(key, _objects(key, values), POSITIVE + NEGATIVE)
    pos = [(c, v) for c, v in comps if c in POSITIVE]
    neg = [(c, v) for c, v in comps if c in NEGATIVE]
    contains = ctx.contains
    if key in STRINGS:
        col = STRINGS[key]
        parts = [or_(*(_match(col, c, v, contains) for c, v in pos))] if pos else []
        for c, v in neg:
            miss = not_(_match(col, c, v, contains))
            parts.append(or_(col.is_(None), miss) if col.nullable else miss)
        return and_(*parts)
    table, name = SIDE_STRINGS[key]
    parts = []
    if pos:
        parts.append(ctx.present(
            table, lambda t: or_(*(_match(t.c[name], c, v, contains) for c, v in pos)),
            can_estimate=all(c != "CONTAINS" for c, _ in pos)))
    for c, v in neg:
        parts.append(ctx.absent(table, lambda t, c=c, v=v: _match(t.c[name], c, v, contains)))
    return and_(*parts)


def _map_match(m: Any, comp: str, value: str, contains) -> ColumnElement:
    if comp.endswith("EQUALS"):
        if len(value) > MAP_VALUE_INDEXED:
            return and_(m.c.v == value[:MAP_VALUE_INDEXED], m.c.full == value)
        return and_(m.c.v == value, m.c.full.is_(None))
    return contains(func.coalesce(m.c.full, m.c.v), value)


def _doc_product_field(key: str, dialect: str) -> ColumnElement:
    """A ProductFields value read from the stored document (keys kept out of the side table)."""
    if dialect == "sqlite":
        return func.json_extract(F.c.doc, f'$."ProductFields"."{key}"')
    return func.jsonb_extract_path_text(cast(F.c.doc, JSONB), "ProductFields", key)


def _map_filter(key: str, values: Any, ctx: _Ctx) -> ColumnElement:
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
        expr = _doc_product_field(k, ctx.dialect)
        return expr == value if comp.endswith("EQUALS") else contains(expr, value)

    def entry(m: Any, k: str, c: str, v: str) -> ColumnElement:
        return and_(m.c.kind == kind, m.c.key == k, _map_match(m, c, v, contains))

    side_pos = [(k, c, v) for k, c, v in entries if not c.startswith("NOT_") and not in_doc(k)]
    alts = []
    if side_pos:
        alts.append(ctx.present(M, lambda m: or_(*(entry(m, *e) for e in side_pos)),
                                can_estimate=all(c == "EQUALS" for _, c, _ in side_pos)))
    alts += [doc_match(k, c, v) for k, c, v in entries if not c.startswith("NOT_") and in_doc(k)]
    parts = [or_(*alts)] if alts else []
    for k, c, v in entries:
        if not c.startswith("NOT_"):
            continue
        if in_doc(k):
            expr = _doc_product_field(k, ctx.dialect)
            parts.append(or_(expr.is_(None), not_(doc_match(k, c, v))))
        else:
            parts.append(ctx.absent(M, lambda m, k=k, c=c, v=v: entry(m, k, c, v)))
    return and_(*parts)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{where} must be a number")
    return value


def _number_filter(key: str, values: Any) -> ColumnElement:
    col = NUMBERS[key]
    alts = []
    for v in _objects(key, values):
        ops = {"Gte": col.__ge__, "Lte": col.__le__, "Eq": col.__eq__, "Gt": col.__gt__,
               "Lt": col.__lt__}
        unknown = set(v) - set(ops)
        if unknown or not v:
            raise InvalidInput(f"Filters.{key}: a NumberFilter takes Gte, Lte, Eq, Gt, Lt")
        alts.append(and_(*(ops[op](_number(n, f"Filters.{key}.{op}")) for op, n in v.items())))
    return or_(*alts)


def _date(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be a timestamp string")
    try:
        return canon_time(value)
    except ValueError:
        raise InvalidInput(f"{where} is not an ISO 8601 timestamp") from None


def _date_filter(key: str, values: Any) -> ColumnElement:
    col = DATES[key]
    alts = []
    for v in _objects(key, values):
        if set(v) - {"Start", "End", "DateRange"} or not v:
            raise InvalidInput(f"Filters.{key}: a DateFilter takes Start, End or DateRange")
        conds = []
        if "Start" in v:
            conds.append(col >= _date(v["Start"], f"Filters.{key}.Start"))
        if "End" in v:
            conds.append(col <= _date(v["End"], f"Filters.{key}.End"))
        if "DateRange" in v:
            rng = v["DateRange"]
            if (not isinstance(rng, Mapping) or rng.get("Unit") != "DAYS"
                    or isinstance(rng.get("Value"), bool) or not isinstance(rng.get("Value"), int)
                    or rng["Value"] < 0):
                raise InvalidInput(f"Filters.{key}.DateRange needs Value (days) and Unit DAYS")
            conds.append(col >= days_ago(rng["Value"]))
        alts.append(and_(col.is_not(None), *conds))
    return or_(*alts)


def _boolean_filter(key: str, values: Any) -> ColumnElement:
    col = BOOLEANS[key]
    alts = []
    for v in _objects(key, values):
        if not isinstance(v.get("Value"), bool):
            raise InvalidInput(f"Filters.{key}: Value must be a boolean")
        alts.append(col == v["Value"])
    return or_(*alts)


def where_clause(filters: Mapping[str, Any] | None, dialect: str,
                 estimate: Callable[[Any], int] | None = None) -> ColumnElement:
    """All filters as one boolean expression over `findings`; InvalidInput on a bad filter."""
    if not filters:
        return true()
    if not isinstance(filters, Mapping):
        raise InvalidInput("Filters must be an object")
    used = {k: v for k, v in filters.items() if v not in (None, [])}
    if len(used) > MAX_ATTRIBUTES:
        raise InvalidInput(f"at most {MAX_ATTRIBUTES} filter attributes are allowed")
    ctx = _Ctx(dialect, estimate)
    parts = []
    for key, values in used.items():
        if key in STRINGS or key in SIDE_STRINGS:
            parts.append(_string_filter(key, values, ctx))
        elif key in NUMBERS:
            parts.append(_number_filter(key, values))
        elif key in DATES:
            parts.append(_date_filter(key, values))
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
    pattern = "%" + (text.strip().lower().replace("\\", "\\\\").replace("%", "\\%")
                     .replace("_", "\\_")) + "%"
    return or_(
        func.lower(F.c.title).like(pattern, escape="\\"),
        func.lower(F.c.description).like(pattern, escape="\\"),
        _Ctx.probe(R, lambda r: func.lower(r.c.id).like(pattern, escape="\\")),
    )


def sort_keys(sort: Sequence[Mapping[str, str]] | None) -> list[tuple[Any, bool]]:
    """[(expression, descending)], ending with pk as the tie-breaker."""
    criteria = list(sort) if sort else list(DEFAULT_SORT)
    if len(criteria) > 5:
        raise InvalidInput("at most 5 SortCriteria are allowed")
    keys: list[tuple[Any, bool]] = []
    for crit in criteria:
        if not isinstance(crit, Mapping):
            raise InvalidInput("SortCriteria entries must be objects")
        name = SORT_ALIASES.get(crit.get("Field"), crit.get("Field"))
        if name not in _SORTABLE:
            raise InvalidInput(f"SortCriteria Field {crit.get('Field')!r} is not sortable")
        order = str(crit.get("SortOrder", "asc")).lower()
        if order not in ("asc", "desc"):
            raise InvalidInput("SortOrder must be asc or desc")
        col, sentinel = _SORTABLE[name]
        expr = col if sentinel is None else func.coalesce(col, sentinel)
        keys.append((expr, order == "desc"))
    keys.append((F.c.pk, keys[-1][1]))
    return keys


def after_clause(keys: list[tuple[Any, bool]], values: list[Any]) -> ColumnElement:
    """Rows strictly after `values` in the order of `keys`."""
    if len({desc for _, desc in keys}) == 1:
        left, right = tuple_(*(k for k, _ in keys)), tuple_(*values)
        return left < right if keys[0][1] else left > right
    alts = []
    for i, (expr, desc) in enumerate(keys):
        eqs = [k == v for (k, _), v in zip(keys[:i], values[:i])]
        alts.append(and_(*eqs, expr < values[i] if desc else expr > values[i]))
    return or_(*alts)


def findings_page(conn, filters: Mapping[str, Any] | None, sort, max_results: int,
                  next_token: str | None, text: str | None = None
                  ) -> tuple[list[str], str | None]:
    """One page of stored documents (JSON text) and the token of the next page."""
    if isinstance(max_results, bool) or not isinstance(max_results, int) \
            or not 1 <= max_results <= 100:
        raise InvalidInput("MaxResults must be between 1 and 100")
    keys = sort_keys(sort)
    digest = fingerprint([filters or {}, list(sort or DEFAULT_SORT), text or ""])
    def estimate(sub: Any) -> int:
        capped = sub.limit(DRIVE_LIMIT + 1).subquery()
        return conn.execute(select(func.count()).select_from(capped)).scalar_one()

    q = select(F.c.doc, *(k for k, _ in keys)).where(
        where_clause(filters, conn.dialect.name, estimate), text_clause(text))
    if next_token:
        token = decode_token(next_token)
        values = token.get("k")
        if token.get("q") != digest or not isinstance(values, list) or len(values) != len(keys):
            raise InvalidInput("NextToken does not belong to this request")
        q = q.where(after_clause(keys, values))
    q = q.order_by(*(k.desc() if desc else k.asc() for k, desc in keys)).limit(max_results + 1)
    rows = conn.execute(q).all()
    token_out = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token_out = encode_token({"q": digest, "k": list(rows[-1][1:])})
    return [r[0] for r in rows], token_out


def count(conn, filters: Mapping[str, Any] | None, text: str | None = None) -> int:
    q = select(func.count()).select_from(F).where(where_clause(filters, conn.dialect.name),
                                                  text_clause(text))
    return conn.execute(q).scalar_one()


GROUPABLE = [*STRINGS, *SIDE_STRINGS]


def group_counts(conn, group_by: str, filters: Mapping[str, Any] | None,
                 text: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """[{GroupByAttributeValue, Count}] for the findings matching `filters`, biggest first.

    `group_by` is any string attribute (Security Hub's GroupByAttribute) or, as a secpipe
    extension, `ProductFields.<key>` (e.g. `ProductFields.secpipe/Stage`).
    """
    where = and_(where_clause(filters, conn.dialect.name), text_clause(text))
    if group_by in STRINGS:
        col = STRINGS[group_by]
        n = func.count()
        q = select(col, n).where(where, col.is_not(None)).group_by(col)
    elif group_by in SIDE_STRINGS:
        table, name = SIDE_STRINGS[group_by]
        col = table.c[name]
        n = func.count(table.c.finding_pk.distinct())
        q = (select(col, n).select_from(table.join(F, F.c.pk == table.c.finding_pk))
             .where(where, col.is_not(None)).group_by(col))
    elif group_by[len("ProductFields."):] in UNINDEXED_PRODUCT_FIELDS:
        value = _doc_product_field(group_by[len("ProductFields."):], conn.dialect.name)
        n = func.count()
        q = select(value, n).where(where, value.is_not(None)).group_by(value)
    elif group_by.startswith("ProductFields.") and len(group_by) > len("ProductFields."):
        value = func.coalesce(M.c.full, M.c.v)
        n = func.count(M.c.finding_pk.distinct())
        q = (select(value, n).select_from(M.join(F, F.c.pk == M.c.finding_pk))
             .where(where, M.c.kind == "P", M.c.key == group_by[len("ProductFields."):])
             .group_by(value))
    else:
        raise InvalidInput(f"{group_by!r} is not a valid GroupByAttribute")
    q = q.order_by(n.desc(), q.selected_columns[0]).limit(limit)
    return [{"GroupByAttributeValue": str(v), "Count": int(c)} for v, c in conn.execute(q)]


__all__ = ["where_clause", "findings_page", "count", "group_counts", "GROUPABLE", "false"]
