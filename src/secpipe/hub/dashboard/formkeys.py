"""A finding's (ProductArn, Id) as one form value and back: what the findings page writes into
its checkboxes (app.py) and the triage actions read (triage.py)."""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote, unquote


def finding_key(doc: Mapping[str, Any]) -> str:
    """A finding's identifier as one form value: both parts percent-encoded, then joined."""
    arn, fid = str(doc.get("ProductArn", "")), str(doc.get("Id", ""))
    return f"{quote(arn, safe='')},{quote(fid, safe='')}"


def identifiers(values: list[str]) -> list[dict[str, str]]:
    out = []
    for value in values:
        arn, sep, fid = value.partition(",")
        if sep and arn and fid:
            out.append({"ProductArn": unquote(arn), "Id": unquote(fid)})
    return out
