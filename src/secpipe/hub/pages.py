"""GetFindings pages (sorting, keyset paging, plan choice), counts and insight groupings.

Paging is keyset paging: the NextToken carries the sort key of the last row returned (plus a
digest of the request it belongs to), so pages stay exact while other writers insert.

Plan choice (SQLite). A page is "filters + ORDER BY + LIMIT 100"; the fast plan is either to
*drive* from the rarest filter (fetch its few matches, sort them) or to *scan* the sort
key's index and stop after a page of matches. SQLite cannot estimate a subquery on a side
table nor a value of a low-cardinality column, and at 1M findings its guess cost seconds. So
`plan` counts each index-able term's matches, capped (one short index range scan each, the
cap shrinking to the best count so far), estimates how many rows a sorted scan would visit,
and spells the terms so SQLite has one choice left: the driving term index-able and the
others not, or every term except those on the sort key not index-able. PostgreSQL keeps
statistics and plans LIMIT queries itself, so it gets the plain spelling.

PostgreSQL at 1M findings (bench/hub_pg_split.py): planning takes ~1 ms, every block is a
shared-buffer hit after the first pass, and Q3 (Type + CRITICAL + ResourceId PREFIX) costs
what probing its ~2,000-3,300 resource candidates costs (~10k-20k buffer hits: each
candidate's severity in ix_findings_narrow, its Type in pk_finding_types). Its tail was the
planner trading those probes for a hash join over all 102,800 CRITICAL entries of the
severity index, 2-4x slower, whenever an ANALYZE sample put the PREFIX range's estimate
(1 to 2,400 rows for ~2,100-3,300) high enough under random_page_cost 4: the hub's sessions
use 1.1 (`store.open_store`). A page is one statement, run outside a transaction there.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.sql import ColumnElement

from secpipe.hub import query_sort
from secpipe.hub.query_hint import indexed_by
from secpipe.hub.common import bad_text, decode_token, encode_token, fingerprint
from secpipe.hub.interface import InvalidInput
from secpipe.hub.query import (
    DATES,
    INDEXED,
    NUMBERS,
    SIDE_STRINGS,
    STRINGS,
    Ctx,
    doc_product_field,
    noindex,
    text_clause,
    where_clause,
)
from secpipe.hub.schema import finding_map as M
from secpipe.hub.schema import findings as F
from secpipe.hub.validate import UNINDEXED_PRODUCT_FIELDS

COUNT_CAP = 5000
GROUPABLE = [*STRINGS, *SIDE_STRINGS]

# Sort keys: NULL-able columns sort through a sentinel so the keyset comparison stays total.
_SORTABLE: dict[str, tuple[Any, Any]] = {
    **{k: (c, "" if c.nullable else None) for k, c in STRINGS.items()},
    "SeverityLabel": (F.c.severity_rank, None),
    **{k: (c, -1 if c.nullable else None) for k, c in NUMBERS.items()},
    **{k: (c, "" if c.nullable else None) for k, c in DATES.items()},
    "ResourceId": (F.c.resource_id, None), "ResourceType": (F.c.resource_type, None),
    "Sample": (F.c.sample, None),
}
SORT_ALIASES = {"Severity.Label": "SeverityLabel", "Severity.Normalized": "SeverityNormalized",
                "Workflow.Status": "WorkflowStatus", "Compliance.Status": "ComplianceStatus"}
DEFAULT_SORT = ({"Field": "UpdatedAt", "SortOrder": "desc"},)


def sort_keys(sort: Sequence[Mapping[str, str]] | None) -> list[tuple[Any, bool, Any]]:
    """[(expression, descending, column)], ending with pk as the tie-breaker."""
    criteria = list(sort) if sort else list(DEFAULT_SORT)
    if len(criteria) > 5:
        raise InvalidInput("at most 5 SortCriteria are allowed")
    keys: list[tuple[Any, bool, Any]] = []
    for crit in criteria:
        if not isinstance(crit, Mapping):
            raise InvalidInput("SortCriteria entries must be objects")
        name = SORT_ALIASES.get(crit.get("Field"), crit.get("Field"))
        # any other single-valued key is read from the document (secpipe.hub.query_sort)
        entry = _SORTABLE.get(name) or (query_sort.sort_entry(name)
                                        if isinstance(name, str) else None)
        if entry is None:
            raise InvalidInput(f"SortCriteria Field {crit.get('Field')!r} is not sortable")
        order = str(crit.get("SortOrder", "asc")).lower()
        if order not in ("asc", "desc"):
            raise InvalidInput("SortOrder must be asc or desc")
        col, sentinel = entry
        keys.append((col if sentinel is None else func.coalesce(col, sentinel),
                     order == "desc", col))
    keys.append((F.c.pk, keys[-1][1], F.c.pk))
    return keys


def after_clause(keys: list[tuple[Any, bool, Any]], values: list[Any],
                 indexed: bool = True, dialect: str = "sqlite") -> ColumnElement:
    """Rows strictly after `values` in the order of `keys`.

    PostgreSQL estimates a row comparison by its first column alone, so `(updated_at, pk) <
    (v, p)` counts as `updated_at < v`: none, where many findings share the token's UpdatedAt
    (one import run). The planner then scanned the whole sort index for a rare filter's second
    page (Type + CRITICAL + ResourceId PREFIX at 1M: 695 ms against ~20 ms for the first).
    Spelt `<= (v, p)` and not the token's row itself (the last key, pk, is unique), the same
    rows keep the index condition and get an estimate near the truth."""
    exprs = [k if indexed else noindex(k) for k, _, _ in keys]
    if len({desc for _, desc, _ in keys}) == 1:
        left, right = tuple_(*exprs), tuple_(*values)
        if dialect == "postgresql":
            at = and_(*(e == v for e, v in zip(exprs, values)))
            return and_(left <= right if keys[0][1] else left >= right, ~at)
        return left < right if keys[0][1] else left > right
    alts = []
    for i, ((_, desc, _), expr) in enumerate(zip(keys, exprs)):
        eqs = [e == v for e, v in zip(exprs[:i], values[:i])]
        alts.append(and_(*eqs, expr < values[i] if desc else expr > values[i]))
    return or_(*alts)


def plan(conn, ctx: Ctx, sort_col: Any, limit: int) -> tuple[dict[int, bool] | None, bool]:
    """(term spellings, driving?) for SQLite; (None, False) leaves planning to the database."""
    if conn.dialect.name != "sqlite" or not ctx.terms:
        return None, False
    total = conn.execute(select(func.max(F.c.pk))).scalar() or 0
    if total <= COUNT_CAP:
        return None, False                                # small: any plan is fast
    counts: dict[int, int] = {}
    best, best_n = None, COUNT_CAP
    order = sorted(range(len(ctx.terms)), key=lambda i: ctx.terms[i].likely_common)
    for i in order:
        counter = ctx.terms[i].counter
        if counter is None:
            continue
        capped = counter.limit(best_n + 1).subquery()
        n = conn.execute(select(func.count()).select_from(capped)).scalar_one()
        counts[i] = n
        if n < best_n:
            best, best_n = i, n
    selectivity = 1.0
    for n in counts.values():
        selectivity *= max(n, 1) / total
    # a sorted scan stops after a page only if an index yields the sort order
    scan_rows = min(total, limit / selectivity) if sort_col in INDEXED else total
    if best is not None and best_n < scan_rows:
        return {i: i == best for i in range(len(ctx.terms))}, True
    return {i: sort_col in t.cols for i, t in enumerate(ctx.terms)}, False


def _driver(use_index: Mapping[int, bool] | None) -> int:
    """The position of the term a driving plan starts from."""
    return next(i for i, on in (use_index or {}).items() if on)


_INT_RANGE = (-2**63, 2**63 - 1)


def check_token_values(keys: list[tuple[Any, bool, Any]], values: list[Any]) -> None:
    """A NextToken is the client's to forge (its digest is no secret): each sort value must
    have its column's type, or the database would fail the comparison with a 500."""
    for (_, _, col), value in zip(keys, values):
        want = col.type.python_type
        if want is int:
            ok = type(value) is int and _INT_RANGE[0] <= value <= _INT_RANGE[1]
        elif want is str:
            ok = type(value) is str and bad_text(value) is None
        else:
            ok = type(value) is want
        if not ok:
            raise InvalidInput("NextToken is not valid")


def page_query(conn, filters: Mapping[str, Any] | None, sort, max_results: int,
               next_token: str | None, text: str | None = None,
               scope: ColumnElement | None = None) -> tuple[Any, str]:
    """(SELECT doc + sort keys, request digest) of one GetFindings page; `scope` is the
    caller's partition and accounts (`secpipe.hub.partitions.visible`)."""
    if isinstance(max_results, bool) or not isinstance(max_results, int) \
            or not 1 <= max_results <= 100:
        raise InvalidInput("MaxResults must be between 1 and 100")
    keys = sort_keys(sort)
    digest = fingerprint([filters or {}, list(sort or DEFAULT_SORT), text or ""])
    values = None
    if next_token:
        token = decode_token(next_token)
        values = token.get("k")
        if token.get("q") != digest or not isinstance(values, list) or len(values) != len(keys):
            raise InvalidInput("NextToken does not belong to this request")
        check_token_values(keys, values)
    dialect = conn.dialect.name
    probe = Ctx(dialect)
    plain = where_clause(filters, dialect, ctx=probe)
    use_index, driving = plan(conn, probe, keys[0][2], max_results + 1)
    if use_index is not None or driving:     # SQLite chose the spellings: build them
        ctx = Ctx(dialect, use_index)
        ctx.value_probes = driving
        plain = where_clause(filters, dialect, ctx=ctx)
    # (else the plain spelling is the one to run: PostgreSQL, a small hub; building the
    # expression again cost ~1 ms of a PostgreSQL page's ~7 ms of client CPU)
    where = [plain, text_clause(text)]
    if scope is not None:
        where.append(scope)
    if values is not None:
        where.append(after_clause(keys, values, indexed=not driving, dialect=dialect))
    # The page's keys first, then the documents of those rows alone: filters and sort keys
    # are answered from indexes (narrow columns, side tables' keys), and the wide row - with
    # its document - is read for the page's rows only, not for every candidate a driving
    # plan sorts. PostgreSQL (Type + SeverityLabel + ResourceId at 1M): 75 -> 40 ms.
    page = select(F.c.pk.label("page_pk"),
                  *(k.label(f"page_k{i}") for i, (k, _, _) in enumerate(keys))).where(*where)
    page = page.order_by(*(k.desc() if desc else k.asc() for k, desc, _ in keys))
    if driving and probe.ranks and probe.terms[_driver(use_index)].side:
        # each candidate from the side table is checked in the (severity_rank, pk, narrow
        # columns, partition) covering index, one seek per rank, and not in its table row:
        # Type + CRITICAL + ResourceId PREFIX at 1M findings, cold, ~300 -> ~40 ms
        page = indexed_by(page, F, "ix_findings_severity_rank_cover")
        page = page.where(F.c.severity_rank.in_(probe.ranks))
    page = page.limit(max_results + 1).subquery("page")
    cols = [page.c[f"page_k{i}"] for i in range(len(keys))]
    q = select(F.c.doc, *cols).join_from(page, F, F.c.pk == page.c.page_pk)
    q = q.order_by(*(c.desc() if desc else c.asc() for c, (_, desc, _) in zip(cols, keys)))
    return q, digest


def findings_page(conn, filters: Mapping[str, Any] | None, sort, max_results: int,
                  next_token: str | None, text: str | None = None,
                  scope: ColumnElement | None = None) -> tuple[list[str], str | None]:
    """One page of stored documents (JSON text) and the token of the next page."""
    q, digest = page_query(conn, filters, sort, max_results, next_token, text, scope)
    rows = conn.execute(q).all()
    token_out = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token_out = encode_token({"q": digest, "k": list(rows[-1][1:])})
    return [r[0] for r in rows], token_out


def count(conn, filters: Mapping[str, Any] | None, text: str | None = None,
          scope: ColumnElement | None = None) -> int:
    q = select(func.count()).select_from(F).where(where_clause(filters, conn.dialect.name),
                                                  text_clause(text), *_scoped(scope))
    return conn.execute(q).scalar_one()


def _scoped(scope: ColumnElement | None) -> list[ColumnElement]:
    return [] if scope is None else [scope]


def group_counts(conn, group_by: str, filters: Mapping[str, Any] | None,
                 text: str | None = None, limit: int = 100,
                 scope: ColumnElement | None = None) -> list[dict[str, Any]]:
    """[{GroupByAttributeValue, Count}] for the findings matching `filters`, biggest first.

    `group_by` is any string attribute (Security Hub's GroupByAttribute) or, as a secpipe
    extension, `ProductFields.<key>` (e.g. `ProductFields.secpipe/Stage`).
    """
    where = and_(where_clause(filters, conn.dialect.name), text_clause(text), *_scoped(scope))
    field = group_by[len("ProductFields."):] if group_by.startswith("ProductFields.") else ""
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
    elif field in UNINDEXED_PRODUCT_FIELDS:
        value = doc_product_field(field, conn.dialect.name)
        n = func.count()
        q = select(value, n).where(where, value.is_not(None)).group_by(value)
    elif field:
        value = func.coalesce(M.c.full, M.c.v)
        n = func.count(M.c.finding_pk.distinct())
        q = (select(value, n).select_from(M.join(F, F.c.pk == M.c.finding_pk))
             .where(where, M.c.kind == "P", M.c.key == field).group_by(value))
    else:
        raise InvalidInput(f"{group_by!r} is not a valid GroupByAttribute")
    q = q.order_by(n.desc(), q.selected_columns[0]).limit(limit)
    return [{"GroupByAttributeValue": str(v), "Count": int(c)} for v, c in conn.execute(q)]
