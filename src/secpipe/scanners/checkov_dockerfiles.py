"""Dockerfiles checkov would not read by itself, and the report merge that brings them in.

checkov's dockerfile runner picks files by name only (`[x.]Dockerfile[.y]`), and filters the
`--file` list by the same mask, so `Dockerfile_web`, `Containerfile` or a Dockerfile found by
its content are never checked however they are passed. They are copied into a staging folder
as `s<i>/Dockerfile`, checked in one extra `--framework dockerfile` run, and every path of that
report is rewritten back to the original file before it is merged into the main report: the
findings point at the files the user has.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

_RESULT_LISTS = ("failed_checks", "passed_checks", "skipped_checks")


def stage_dockerfiles(root: Path, rels: Sequence[str], staging: Path) -> dict[str, str]:
    """Copy each file to staging/s<i>/Dockerfile; returns {staged prefix: original rel}."""
    mapping: dict[str, str] = {}
    for i, rel in enumerate(rels):
        dest = staging / f"s{i}"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dest / "Dockerfile")
        mapping[f"/s{i}/Dockerfile"] = rel
    return mapping


def _rewrite(value: Any, mapping: dict[str, str], staging: str, root: str) -> Any:
    if not isinstance(value, str):
        return value
    for prefix, rel in mapping.items():
        abs_prefix = staging + prefix
        if value.startswith(abs_prefix):
            return f"{root}/{rel}" + value[len(abs_prefix):]
        if value.startswith(prefix) and (len(value) == len(prefix)
                                         or value[len(prefix)] in ".:/ "):
            return "/" + rel + value[len(prefix):]
    return value


def rewrite_report(data: bytes, mapping: dict[str, str], staging: Path, root: Path
                   ) -> list[dict[str, Any]]:
    """The staged run's report objects with every staged path mapped back to the original.

    Raises ValueError when the report is not JSON (the caller turns it into a tool error)."""
    doc = json.loads(data)
    reports = doc if isinstance(doc, list) else [doc]
    out: list[dict[str, Any]] = []
    for rep in reports:
        if not isinstance(rep, dict) or "results" not in rep:
            continue  # the bare summary: nothing was checked
        results = rep.get("results") or {}
        for key in _RESULT_LISTS:
            for item in results.get(key) or []:
                if isinstance(item, dict):
                    for field in list(item):
                        item[field] = _rewrite(item[field], mapping, str(staging), str(root))
        out.append(rep)
    return out


def merge_reports(main: bytes, extra: list[dict[str, Any]]) -> bytes:
    """The main report (object, list, or bare summary) with the extra report objects added."""
    if not extra:
        return main
    doc = json.loads(main)
    if isinstance(doc, list):
        merged = [*doc, *extra]
    elif isinstance(doc, dict) and "results" in doc:
        merged = [doc, *extra]
    else:  # a bare summary: the main run checked nothing
        merged = list(extra)
    return json.dumps(merged if len(merged) > 1 else merged[0], indent=1).encode("utf-8")
