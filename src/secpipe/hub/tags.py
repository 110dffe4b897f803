"""TagResource / UntagResource / ListTagsForResource over the hub's own resources.

Security Hub tags its hub, automation rules and (here also) custom insights. An ARN that names
none of them - or names one of another account or region - is ResourceNotFound. A resource
whose table has a `tags` column keeps its tags there: the hub's are the ones EnableSecurityHub
stored with its subscription record (`hub.tags`), an automation rule's those of
CreateAutomationRule, so the create call's Tags and ListTagsForResource agree. Insights'
tags live in `resource_tags`, one row per (ARN, key), deleted with the insight.

Security Hub's validation, from botocore's model: 1-50 tags per call, a key 1-128 characters
of `^(?!aws:)[a-zA-Z+-=._:/]+$` (the `+-=` is a range, so digits are in), a value at most 256
characters, and at most `MAX_TAGS` tags on a resource (LimitExceeded beyond).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from secpipe.hub.common import bad_text, dumps, loads
from secpipe.hub.interface import InvalidInput, LimitExceeded, ResourceNotFound
from secpipe.hub.schema import hub as H
from secpipe.hub.schema import insights as I
from secpipe.hub.schema import metadata
from secpipe.hub.schema import resource_tags as T

MAX_TAGS = 50
_KEY = re.compile(r"^(?!aws:)[a-zA-Z+-=._:/]+$")
_ARN = re.compile(r"^arn:aws:securityhub:([a-z0-9-]+):(\d{12}):([a-z-]+)/(.+)$")


def _automation_rules() -> tuple[Any, Any] | None:
    """The rules' table and its ARN column, when it exists (`automation_rules.arn`)."""
    table = metadata.tables.get("automation_rules")
    if table is None or "arn" not in table.c:
        return None
    return table, table.c.arn


# ARN resource type -> (table, its ARN column). A table with a `tags` column keeps its tags
# there (the hub: EnableSecurityHub's; automation rules: CreateAutomationRule's), so the
# create call's Tags and ListTagsForResource agree; the others use `resource_tags`.
KINDS: dict[str, Callable[[], tuple[Any, Any] | None]] = {
    "hub": lambda: (H, H.c.hub_arn),
    "insight": lambda: (I, I.c.arn),
    "automation-rule": _automation_rules,
}


def resolve(conn: Connection, arn: Any) -> tuple[Any, Any]:
    """(table, ARN column) of the existing resource an ARN names; else ResourceNotFound
    (InvalidInput for what is no Security Hub ARN at all)."""
    if not isinstance(arn, str) or not arn.startswith("arn:aws:securityhub:") \
            or len(arn) > 256 or bad_text(arn):
        raise InvalidInput("ResourceArn must be a Security Hub ARN (arn:aws:securityhub:...)")
    found = _ARN.match(arn)
    where = KINDS.get(found.group(3) if found else "", lambda: None)()
    if where is None or conn.execute(select(where[1]).where(where[1] == arn)).first() is None:
        raise ResourceNotFound(f"Resource {arn} not found")
    return where


def _own_column(table: Any) -> Any:
    return table.c.tags if "tags" in table.c else None


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= 128 or not _KEY.match(key):
        raise InvalidInput(f"Tag key {key!r} must be 1-128 characters of letters, digits and "
                           "+-=._:/ and must not start with aws:")
    return key


def check_tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, Mapping) or not 1 <= len(tags) <= MAX_TAGS:
        raise InvalidInput(f"Tags must map 1-{MAX_TAGS} keys to values")
    for key, value in tags.items():
        _check_key(key)
        if not isinstance(value, str) or len(value) > 256 or bad_text(value):
            raise InvalidInput(f"Tag {key!r}: the value must be a string of at most 256 "
                               "characters")
    return dict(tags)


def list_(conn: Connection, arn: Any) -> dict[str, str]:
    table, col = resolve(conn, arn)
    own = _own_column(table)
    if own is not None:
        return dict(loads(conn.execute(select(own).where(col == arn)).scalar_one() or "{}"))
    return {r.key: r.value for r in conn.execute(
        select(T.c.key, T.c.value).where(T.c.arn == arn).order_by(T.c.key))}


def tag(conn: Connection, arn: Any, tags: Any) -> None:
    """Add or overwrite; more than MAX_TAGS on the resource afterwards is LimitExceeded."""
    new = check_tags(tags)
    table, col = resolve(conn, arn)
    current = list_(conn, arn)
    merged = {**current, **new}
    if len(merged) > MAX_TAGS:
        raise LimitExceeded(f"a resource may carry at most {MAX_TAGS} tags "
                            f"({len(current)} now, {len(merged)} after this call)")
    own = _own_column(table)
    if own is not None:
        conn.execute(update(table).where(col == arn).values({own: dumps(merged)}))
        return
    if current:
        conn.execute(delete(T).where(T.c.arn == arn, T.c.key.in_(list(new))))
    conn.execute(insert(T), [{"arn": arn, "key": k, "value": v} for k, v in new.items()])


def untag(conn: Connection, arn: Any, keys: Any) -> None:
    if not isinstance(keys, Sequence) or isinstance(keys, str) \
            or not 1 <= len(keys) <= MAX_TAGS:
        raise InvalidInput(f"TagKeys must list 1-{MAX_TAGS} keys")
    wanted = [_check_key(k) for k in keys]
    table, col = resolve(conn, arn)
    own = _own_column(table)
    if own is not None:
        kept = {k: v for k, v in list_(conn, arn).items() if k not in set(wanted)}
        conn.execute(update(table).where(col == arn).values({own: dumps(kept)}))
        return
    conn.execute(delete(T).where(T.c.arn == arn, T.c.key.in_(wanted)))


def forget(conn: Connection, arn: str) -> None:
    """A deleted resource's tags (call in the deleting transaction)."""
    conn.execute(delete(T).where(T.c.arn == arn))
