"""Where findings live: the hub's account and region (Security Hub's partition), and which
member accounts a principal may see.

Security Hub keeps findings, insights and the subscription itself apart per account and region;
the hub takes its account from its configuration (`hub serve --account-id`, remembered in
`hub_settings`) and the region from each request's SigV4 scope. Every store query over
`findings` or `insights` is AND'ed with one condition from here (`visible`, `insights_in`), in
one place, so the filter compiler (`hub.query`) and the importer stay unaware of partitions.

The hub's account is the *administrator* account: its findings may carry any AwsAccountId
(its members'), as an administrator's Security Hub shows its members' findings. A principal
whose scope names member accounts (`Scope.accounts`, AwsAccountId globs) imports, reads and
updates only findings of those accounts; admin sees all.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import and_, insert, or_, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from secpipe.hub.authz import Principal
from secpipe.hub.interface import InvalidInput, Partition
from secpipe.hub.schema import findings as F
from secpipe.hub.schema import hub_settings as S
from secpipe.hub.schema import insights as I

DEFAULT = Partition()
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
# aws, aws-cn, aws-us-gov and aws-iso* region names: us-east-1, cn-north-1, us-gov-west-1,
# us-isob-east-1, ap-southeast-4, il-central-1
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")
ACCOUNT_KEY = "account_id"
ENABLED_KEY = "enabled-on-first-start"     # + ":account:region"


class AccountConflict(InvalidInput):
    """`--account-id` names another account than the one the hub was created for."""


def check_account(value: Any) -> str:
    if not isinstance(value, str) or not ACCOUNT_ID.match(value):
        raise InvalidInput(f"account id {value!r} must be 12 digits")
    return value


def check_region(value: Any) -> str:
    if not isinstance(value, str) or not REGION.match(value):
        raise InvalidInput(f"region {value!r} is not an AWS region name (e.g. us-east-1)")
    return value


def of(store: Any, partition: Partition | None) -> Partition:
    """`partition`, or the store's own account and region when None."""
    if partition is not None:
        return partition
    return Partition(getattr(store, "account_id", DEFAULT.account),
                     getattr(store, "region", DEFAULT.region))


def findings_in(partition: Partition) -> ColumnElement:
    return and_(F.c.hub_account == partition.account, F.c.hub_region == partition.region)


def insights_in(partition: Partition) -> ColumnElement:
    return and_(I.c.hub_account == partition.account, I.c.hub_region == partition.region)


def _like(glob: str) -> str:
    return glob.replace("*", "%").replace("?", "_")


def member_accounts(principal: Principal | None, column: Any = F.c.aws_account_id
                    ) -> ColumnElement:
    """The AwsAccountIds `principal` may see: all for the local caller and admin, else its
    scope's account globs."""
    globs = accounts_of(principal)
    if globs is None:
        return true()
    exact = [g for g in globs if "*" not in g and "?" not in g]
    parts = [column.in_(exact)] if exact else []
    parts += [column.like(_like(g)) for g in globs if g not in exact]
    return or_(*parts)


def accounts_of(principal: Principal | None) -> tuple[str, ...] | None:
    """The principal's member-account globs, or None for "every account"."""
    if principal is None or principal.role == "admin":
        return None
    globs = getattr(principal.scope, "accounts", ("*",))
    return None if "*" in globs else globs


def covers_account(principal: Principal | None, account: Any) -> bool:
    globs = accounts_of(principal)
    return globs is None or (isinstance(account, str)
                             and any(fnmatchcase(account, g) for g in globs))


def visible(partition: Partition, principal: Principal | None = None) -> ColumnElement:
    """The one condition every findings query is AND'ed with."""
    return and_(findings_in(partition), member_accounts(principal))


# --- hub settings -------------------------------------------------------------------------------
def setting(conn: Connection, key: str) -> str | None:
    return conn.execute(select(S.c.value).where(S.c.key == key)).scalar()


def put_setting(conn: Connection, key: str, value: str) -> None:
    if setting(conn, key) is None:
        conn.execute(insert(S).values(key=key, value=value))
    else:
        conn.execute(update(S).where(S.c.key == key).values(value=value))


def settle_account(conn: Connection, requested: str | None) -> str:
    """The hub's account. Once given (`--account-id`) it is remembered and another one is
    AccountConflict; None means the remembered one, else the default (not remembered, so
    keys can be made before the first `hub serve --account-id`). A hub that already holds
    findings or insights of another account refuses to be given a new one: they would vanish
    from its partitions."""
    if requested is not None:
        check_account(requested)
    stored = setting(conn, ACCOUNT_KEY)
    if stored is not None:
        if requested is not None and requested != stored:
            raise AccountConflict(
                f"this hub belongs to account {stored}; --account-id {requested} does not "
                f"match (its findings and insights are kept for {stored}). Use another hub "
                f"database for another account")
        return stored
    if requested is None:
        return DEFAULT.account
    for table in (F, I):
        held = conn.execute(select(table.c.hub_account).where(
            table.c.hub_account != requested).limit(1)).scalar()
        if held is not None:
            raise AccountConflict(
                f"this hub belongs to account {held} (it holds its findings or insights); "
                f"--account-id {requested} does not match. Use another hub database for "
                f"another account")
    put_setting(conn, ACCOUNT_KEY, requested)
    return requested
