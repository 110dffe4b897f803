"""What an import may do, beyond "is this valid ASFF": the rules that keep one key from
overwriting, freezing or pre-triaging findings that are not its own.

Two hooks, so the importer's hot path stays the importer's:
- `check_times` (pure, every import, every caller): CreatedAt / UpdatedAt more than the allowed
  clock skew in the future, and any timestamp outside the years 1970-9999 (in UTC), fail that
  finding alone (FailedFindings). A finding "frozen" at UpdatedAt 9999-12-31 would otherwise
  make every later, real scanner update look older and be ignored.
- `screen` (in the write transaction, for a remote principal): a ci or runtime key imports only
  under its ProductArns and, when its scope names repositories, only findings of those
  repositories - both the incoming finding's `secpipe/Repo` and the stored one it would update;
  and nobody without the triage permission creates a finding already SUPPRESSED or RESOLVED.
Plus `update_denial` (BatchUpdateFindings by a scoped triage key) and `may_archive` (which
findings a run may mark fixed).
"""

from __future__ import annotations

import re
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

from sqlalchemy.engine import Connection

from secpipe.hub.authz import DEFAULT_FUTURE_SKEW, FINDINGS_UPDATE, Principal
from secpipe.hub.interface import Partition
from secpipe.hub.partitions import covers_account
from secpipe.hub.validate import BadFinding

REPO_KEY = "secpipe/Repo"
TIME_FIELDS = ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt")
FUTURE_FIELDS = ("CreatedAt", "UpdatedAt")
TRIAGED = ("SUPPRESSED", "RESOLVED")
_STAMP = re.compile(r"^\s*([+-]?\d+)-(\d{1,2})-(\d{1,2})[Tt ](\d{1,2}):(\d{1,2})"
                    r"(?::(\d{1,2})(?:[.,]\d+)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?\s*$")
_LOOKUP_CHUNK = 900


@lru_cache(maxsize=8192)
def _instant(text: str) -> datetime | None:
    """The UTC instant of an ISO 8601 stamp; None when it does not parse (validation reports
    that); BadFinding when it is outside the years 1970-9999.

    Cached (a BadFinding is not, it is raised again): a run stamps its findings with a few
    instants, and this runs four times per imported finding, unchanged re-imports included."""
    m = _STAMP.match(text)
    if not m:
        return None
    year = int(m.group(1))
    if not 1970 <= year <= 9999:
        raise BadFinding(f"timestamp {text[:40]!r} is outside the years 1970-9999")
    zone = m.group(7)
    tz = timezone.utc
    try:
        if zone and zone not in ("Z", "z"):
            digits = zone[1:].replace(":", "")
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        dt = datetime(year, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                      int(m.group(5)), int(m.group(6) or 0), tzinfo=tz)
        dt = dt.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None if not zone else _out_of_range(text)
    if not 1970 <= dt.year <= 9999:
        _out_of_range(text)
    return dt


def _out_of_range(text: str) -> None:
    raise BadFinding(f"timestamp {text[:40]!r} is outside the years 1970-9999 in UTC")


def future_limit(future_skew: float = DEFAULT_FUTURE_SKEW, now: datetime | None = None
                 ) -> datetime:
    """The latest CreatedAt/UpdatedAt accepted now (computed once per batch by the importer)."""
    return (now or datetime.now(timezone.utc)) + timedelta(seconds=future_skew)


def check_times(obj: Any, future_skew: float = DEFAULT_FUTURE_SKEW,
                now: datetime | None = None, *, limit: datetime | None = None) -> None:
    """BadFinding for a timestamp out of range or too far in the future (see the module).
    `limit` (from `future_limit`) replaces `now` + `future_skew` when given."""
    if type(obj) is not dict and not isinstance(obj, Mapping):
        return
    if limit is None:
        limit = future_limit(future_skew, now)
    get = obj.get
    for key in TIME_FIELDS:
        value = get(key)
        if type(value) is not str and not isinstance(value, str):
            continue
        try:
            instant = _instant(value)
        except BadFinding as exc:  # name the field, as every other FailedFindings message does
            raise BadFinding(f"{key}: {exc}") from None
        if instant is not None and key in FUTURE_FIELDS and instant > limit:
            hours = future_skew / 3600
            raise BadFinding(f"{key} {value[:40]!r} is more than {hours:g} h in the future")


def _repo(doc: Mapping[str, Any]) -> str | None:
    value = (doc.get("ProductFields") or {}).get(REPO_KEY)
    return value if isinstance(value, str) else None


def stored_repos(conn: Connection, keys: Sequence[tuple[str, str]],
                 partition: Partition | None = None) -> dict[tuple[str, str], str | None]:
    """{(Id, ProductArn): stored secpipe/Repo or None} for the keys that exist (in
    `partition`; None: Partition())."""
    part = partition or Partition()
    wanted = set(keys)
    out: dict[tuple[str, str], str | None] = {}
    ids = sorted({k[0] for k in wanted})
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    for i in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[i:i + _LOOKUP_CHUNK]
        sql = ("SELECT f.id, f.product_arn, m.v FROM findings f LEFT JOIN finding_map m "
               f"ON m.finding_pk = f.pk AND m.kind = 'P' AND m.key = {mark} "
               "WHERE f.id IN (" + ", ".join(mark for _ in chunk) + ")"
               f" AND f.hub_account = {mark} AND f.hub_region = {mark}")
        for fid, arn, repo in conn.exec_driver_sql(sql, (REPO_KEY, *chunk, part.account,
                                                         part.region)):
            if (fid, arn) in wanted:
                out[(fid, arn)] = repo
    return out


def _denied(doc: Mapping[str, Any], message: str) -> dict[str, str]:
    fid = doc.get("Id")
    return {"Id": fid if isinstance(fid, str) else "", "ErrorCode": "AccessDenied",
            "ErrorMessage": message}


def screen(conn: Connection, principal: Principal | None, good: list,
           partition: Partition | None = None) -> tuple[list, list[dict[str, str]]]:
    """Split checked findings (importer.Checked) into those `principal` may write and
    FailedFindings entries for the rest. None (local) and admin pass everything."""
    if principal is None or principal.role == "admin":
        return good, []
    scope = principal.scope
    triage = principal.can(FINDINGS_UPDATE)
    stored = stored_repos(conn, [it.key for it in good], partition)
    kept, failed = [], []
    for it in good:
        doc = it.doc
        arn = doc["ProductArn"]
        if not scope.covers_product(arn):
            failed.append(_denied(doc, f"{principal.describe()} may not import under "
                                       f"ProductArn {arn} (its scope: "
                                       f"{','.join(scope.product_arns)})"))
            continue
        if not covers_account(principal, doc.get("AwsAccountId")):
            failed.append(_denied(doc, f"{principal.describe()} may not import findings of "
                                       f"account {doc.get('AwsAccountId')}"))
            continue
        exists = it.key in stored
        if scope.repos != ("*",):
            repo = _repo(doc)
            if not scope.covers_repo(repo):
                failed.append(_denied(doc, f"{principal.describe()} may not import findings of "
                                           f"repository {repo!r}"))
                continue
            if exists and not scope.covers_repo(stored[it.key]):
                failed.append(_denied(doc, f"{principal.describe()} may not update a finding of "
                                           f"repository {stored[it.key]!r}"))
                continue
        status = (doc.get("Workflow") or {}).get("Status")
        if not exists and not triage and status in TRIAGED:
            failed.append(_denied(doc, f"creating a finding with Workflow.Status {status} needs "
                                       f"the {FINDINGS_UPDATE} permission, which "
                                       f"{principal.describe()} does not have"))
            continue
        kept.append(it)
    return kept, failed


def update_denial(principal: Principal | None, doc: Mapping[str, Any]) -> str | None:
    """Why a (scoped) principal may not triage this stored finding, or None."""
    if principal is None or principal.role == "admin":
        return None
    scope = principal.scope
    if not scope.covers_product(str(doc.get("ProductArn", ""))):
        return f"{principal.describe()} may not update findings of ProductArn {doc.get('ProductArn')}"
    if not covers_account(principal, doc.get("AwsAccountId")):
        return f"{principal.describe()} may not update findings of account {doc.get('AwsAccountId')}"
    if scope.repos != ("*",) and not scope.covers_repo(_repo(doc)):
        return f"{principal.describe()} may not update findings of repository {_repo(doc)!r}"
    return None


def may_archive(principal: Principal | None, product_arn: str) -> bool:
    """A run marks fixed only findings under its writer's own ProductArns."""
    if principal is None or principal.role == "admin":
        return True
    return principal.scope.covers_product(product_arn)
