"""Keeping a report secpipe could not parse, so the reader can see why, without its secrets.

An unparsable report is the one whose secrets no parser saw, so the run's SecretCollector cannot
scrub them. It is kept anyway (raw/<stage>/<name>, next to logs/<stage>-<tool>.log), with every
credential-looking token masked: runs of 16+ characters of the base64/hex alphabet that mix
letters and digits (access keys, tokens, PEM bodies) keep only their ends.
"""

from __future__ import annotations

import re
from typing import Any

from secpipe.model.secret import mask
from secpipe.scanners.interface import RawReport

_TOKEN = re.compile(rb"[A-Za-z0-9+/_\-]{16,}={0,2}")


def _mask_token(m: re.Match[bytes]) -> bytes:
    token = m.group(0)
    if not (re.search(rb"[A-Za-z]", token) and re.search(rb"[0-9]", token)):
        return token
    return mask(token.decode("ascii")).encode("utf-8")


def scrub_unparsed(data: bytes) -> bytes:
    return _TOKEN.sub(_mask_token, data)


def kept_unparsable(stage: str, outcome: Any) -> list[RawReport]:
    """The outcome's reports, masked, named as write_raw expects (stage/name)."""
    if outcome is None:
        return []
    return [RawReport(f"{stage}/{r.name}", scrub_unparsed(r.data)) for r in outcome.reports]
