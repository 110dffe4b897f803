"""TagResource / UntagResource / ListTagsForResource over the hub's own resources.

Security Hub tags its hub, automation rules and (here also) custom insights. An ARN that names
none of them - or names one of another account or region - is ResourceNotFound. The hub's tags
are the ones EnableSecurityHub stored with its subscription record (`hub.tags`), so
`EnableSecurityHub(Tags=...)` and `ListTagsForResource(hub ARN)` agree; every other resource's
tags live in `resource_tags`, one row per (ARN, key), deleted with the resource.

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


def _is_hub(conn: Connection, arn: str) -> bool:
    return conn.execute(select(H.c.hub_arn).where(H.c.hub_arn == arn)).first() is not None


def _is_insight(conn: Connection, arn: str) -> bool:
    return conn.execute(select(I.c.seq).where(I.c.arn == arn)).first() is not None


def _is_rule(conn: Connection, arn: str) -> bool:
    """An automation rule, when the rules' table exists (`automation_rules`, its ARN in a
    column `rule_arn` or `arn`); without that table no rule exists."""
    table = metadata.tables.get("automation_rules")
    col = None if table is None else (table.c.get("rule_arn") if "rule_arn" in table.c
                                      else table.c.get("arn"))
    if col is None:
        return False
    return conn.execute(select(col).where(col == arn)).first() is not None


# ARN resource type -> does it exist. Another resource kind registers itself here.
KINDS: dict[str, Callable[[Connection, str], bool]] = {
    "hub": _is_hub, "insight": _is_insight, "automation-rule": _is_rule,
}


def resolve(conn: Connection, arn: Any) -> str:
    """The resource kind of an ARN that names an existing resource; else ResourceNotFound
    (InvalidInput for what is no Security Hub ARN at all)."""
    if not isinstance(arn, str) or not arn.startswith("arn:aws:securityhub:") \
            or len(arn) > 256 or bad_text(arn):
        raise InvalidInput("ResourceArn must be a Security Hub ARN (arn:aws:securityhub:...)")
    found = _ARN.match(arn)
    kind = found.group(3) if found else ""
    check = KINDS.get(kind)
    if check is None or not check(conn, arn):
        raise ResourceNotFound(f"Resource {arn} not found")
    return kind


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
    kind = resolve(conn, arn)
    if kind == "hub":
        raw = conn.execute(select(H.c.tags).where(H.c.hub_arn == arn)).scalar_one()
        return dict(loads(raw) or {})
    return {r.key: r.value for r in conn.execute(
        select(T.c.key, T.c.value).where(T.c.arn == arn).order_by(T.c.key))}


def tag(conn: Connection, arn: Any, tags: Any) -> None:
    """Add or overwrite; more than MAX_TAGS on the resource afterwards is LimitExceeded."""
    new = check_tags(tags)
    kind = resolve(conn, arn)
    current = list_(conn, arn)
    merged = {**current, **new}
    if len(merged) > MAX_TAGS:
        raise LimitExceeded(f"a resource may carry at most {MAX_TAGS} tags "
                            f"({len(current)} now, {len(merged)} after this call)")
    if kind == "hub":
        conn.execute(update(H).where(H.c.hub_arn == arn).values(tags=dumps(merged)))
        return
    if current:
        conn.execute(delete(T).where(T.c.arn == arn, T.c.key.in_(list(new))))
    conn.execute(insert(T), [{"arn": arn, "key": k, "value": v} for k, v in new.items()])


def untag(conn: Connection, arn: Any, keys: Any) -> None:
    if not isinstance(keys, Sequence) or isinstance(keys, str) \
            or not 1 <= len(keys) <= MAX_TAGS:
        raise InvalidInput(f"TagKeys must list 1-{MAX_TAGS} keys")
    wanted = [_check_key(k) for k in keys]
    kind = resolve(conn, arn)
    if kind == "hub":
        current = list_(conn, arn)
        kept = {k: v for k, v in current.items() if k not in set(wanted)}
        conn.execute(update(H).where(H.c.hub_arn == arn).values(tags=dumps(kept)))
        return
    conn.execute(delete(T).where(T.c.arn == arn, T.c.key.in_(wanted)))


def forget(conn: Connection, arn: str) -> None:
    """A deleted resource's tags (call in the deleting transaction)."""
    conn.execute(delete(T).where(T.c.arn == arn))
