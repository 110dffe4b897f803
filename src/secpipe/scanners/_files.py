"""Walking the scanned tree the same way for every adapter: excludes honoured, no symlink loops."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Iterator, Sequence

ALWAYS_EXCLUDED = (".git", ".secpipe", "node_modules", ".venv", "__pycache__", ".terraform")


def excluded(rel: str, patterns: Sequence[str]) -> bool:
    parts = rel.split("/")
    for pattern in (*ALWAYS_EXCLUDED, *patterns):
        pattern = pattern.rstrip("/")
        if any(fnmatch.fnmatch(part, pattern) for part in parts):
            return True
        if fnmatch.fnmatch(rel, pattern) or rel.startswith(pattern + "/"):
            return True
    return False


def walk(root: Path, exclude: Sequence[str] = ()) -> Iterator[Path]:
    """Every regular file under root, relative paths checked against the excludes."""
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        rel_dir = base.relative_to(root).as_posix()
        dirnames[:] = sorted(
            d for d in dirnames
            if not excluded(d if rel_dir == "." else f"{rel_dir}/{d}", exclude)
        )
        for name in sorted(filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not excluded(rel, exclude):
                path = base / name
                if path.is_file() and not path.is_symlink():
                    yield path


def find_named(root: Path, exclude: Sequence[str], predicate) -> list[Path]:
    return [p for p in walk(root, exclude) if predicate(p.name)]
