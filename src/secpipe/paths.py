"""Where secpipe keeps per-user state: one rule for every cache (tools, vulnerability DB)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/secpipe, else ~/.cache/secpipe (a relative XDG value is invalid and
    ignored, as the XDG spec says)."""
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "secpipe"


def from_env_or_cache(var: str, name: str) -> Path:
    """$VAR when set, else `name` under secpipe's cache dir."""
    explicit = os.environ.get(var, "").strip()
    return Path(explicit).expanduser() if explicit else cache_dir() / name
