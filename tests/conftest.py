"""Shared test helpers: where the third-party fixtures live and how MANIFEST.tsv reads."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# SECPIPE_SHARED_FIXTURES points elsewhere (.ci/run sets it to a missing folder to collect the
# suite as a bare clone from GitHub would, where ../shared is absent)
SHARED_FIXTURES = Path(os.environ.get("SECPIPE_SHARED_FIXTURES")
                       or ROOT.parent / "shared" / "fixtures")
OWN_FIXTURES = ROOT / "tests" / "fixtures"
# Tests run their tools for real: the user's scan cache never answers for them (the cache's
# own tests turn it on, with a cache dir of their own).
os.environ.setdefault("SECPIPE_NO_CACHE", "1")


def shared_fixture_dir(tool: str) -> Path:
    """The folder of third-party reports for `tool`, or skip saying why it is absent."""
    folder = SHARED_FIXTURES / tool
    if not folder.is_dir():
        pytest.skip(
            f"{folder} is absent: the third-party fixtures live in ../shared/fixtures beside "
            "the checkout and are not copied into the repo"
        )
    return folder


def manifest(tool: str) -> dict[str, str]:
    """file -> expected_findings for `tool` (values may be 'unknown')."""
    path = SHARED_FIXTURES / "MANIFEST.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared is not beside this checkout)")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return {r["file"]: r["expected_findings"] for r in rows if r["tool"] == tool}
