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
    for _rel, path, _st in walk_stat(root, exclude):
        yield Path(path)


def walk_stat(root: Path, exclude: Sequence[str] = ()
              ) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, path, lstat) of every regular file under root that is not a symlink:
    top-down with sorted names, as os.walk visits (symlinked directories not entered,
    unreadable directories left out), relative paths checked against the excludes.

    The directory entries' types say which entries are plain files, and one lstat per file
    gives the scan cache's signature: an unchanged tree of 3,000 files is walked on every
    run, and a Path per file with three system calls each (is_file, is_symlink, stat) was
    most of a re-run's manifest."""
    yield from _walk_dir(str(root), "", _matcher(tuple(exclude)))


def _walk_dir(path: str, rel_dir: str, matcher: tuple[tuple[str, ...], Callable[[str], object]]
              ) -> Iterator[tuple[str, str, os.stat_result]]:
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError:
        return  # os.walk's default: a directory it cannot list is left out
    dirs, files = [], []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False  # as os.walk: listed with the files
        (dirs if is_dir else files).append(entry)
    prefixes, match = matcher
    # `excluded(rel, ...)`, knowing that every directory above passed it: of the path's
    # components only the entry's own name is left to match (3,000 files per manifest)
    for entry in sorted(files, key=lambda e: e.name):
        rel = f"{rel_dir}{entry.name}"
        if match(rel) or match(entry.name) or rel.startswith(prefixes) \
                or not entry.is_file(follow_symlinks=False):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # gone since it was listed
        yield rel, entry.path, st
    for entry in sorted(dirs, key=lambda e: e.name):
        rel = f"{rel_dir}{entry.name}"
        if match(rel) or match(entry.name) or rel.startswith(prefixes) or entry.is_symlink():
            continue
        yield from _walk_dir(entry.path, rel + "/", matcher)


def find_named(root: Path, exclude: Sequence[str], predicate) -> list[Path]:
    return [p for p in walk(root, exclude) if predicate(p.name)]
