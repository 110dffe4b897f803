"""The suppression file: reviewed exceptions, each with a reason and an expiry date.

An exception without an end date becomes permanent by neglect, so `expires` is required and an
expired entry stops applying and is listed in every run until someone renews or removes it.
The file carries a version so later formats can be migrated, as detect-secrets does with its
baseline.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from pathlib import Path
from typing import Sequence

import yaml

from secpipe.config import ConfigError
from secpipe.pipeline.result import Suppression

DEFAULT_NAME = ".secpipe-suppressions.yml"


def load_suppressions(path: Path) -> list[Suppression]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read suppressions: {exc}") from None
    from pydantic import ValidationError

    from secpipe.pipeline.suppressions_file import SuppressionFile

    try:
        parsed = SuppressionFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: " + ".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()]
        raise ConfigError("invalid suppressions:\n  " + "\n  ".join(lines)) from None
    if parsed.version != 1:
        raise ConfigError(f"{path}: suppression file version {parsed.version} is not supported")
    return [Suppression(reason=e.reason, expires=e.expires.isoformat(), id=e.id, rule=e.rule,
                        path=e.path, tool=e.tool) for e in parsed.suppressions]


def split_expired(entries: Sequence[Suppression], today: dt.date | None = None
                  ) -> tuple[list[Suppression], list[Suppression]]:
    today = today or dt.date.today()
    active = [e for e in entries if dt.date.fromisoformat(e.expires) >= today]
    expired = [e for e in entries if dt.date.fromisoformat(e.expires) < today]
    return active, expired


def matches(entry: Suppression, *, asff_id: str, fingerprint: str, tool: str, rule: str,
            path: str | None) -> bool:
    """All the criteria an entry names must hold (id, rule, path glob, tool)."""
    if entry.id and entry.id not in (asff_id, fingerprint):
        return False
    if entry.rule and entry.rule != rule:
        return False
    if entry.tool and entry.tool != tool:
        return False
    if entry.path and not (path and fnmatch.fnmatch(path, entry.path)):
        return False
    return True
