"""Walking the scanned tree the same way for every adapter: excludes honoured, no symlink loops."""

from __future__ import annotations

import fnmatch
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Sequence

ALWAYS_EXCLUDED = (".git", ".secpipe", "node_modules", ".venv", "__pycache__", ".terraform")


def excluded(rel: str, patterns: Sequence[str]) -> bool:
    """Whether any path component, or the whole path, matches a pattern (fnmatch), or the path
    is under one. One compiled alternation per pattern set: the scan cache's manifest asks
    this for every file of the tree on every run."""
    prefixes, match = _matcher(tuple(patterns))
    if match(rel) or any(match(part) for part in rel.split("/")):
        return True
    return rel.startswith(prefixes)


@lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]) -> tuple[tuple[str, ...], Callable[[str], object]]:
    cleaned = [p.rstrip("/") for p in (*ALWAYS_EXCLUDED, *patterns)]
    # fnmatch.fnmatch is normcase (nothing on POSIX) + a match of fnmatch.translate's regex
    combined = re.compile("|".join(f"(?:{fnmatch.translate(os.path.normcase(p))})"
                                   for p in cleaned))
    return tuple(p + "/" for p in cleaned), combined.match


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
