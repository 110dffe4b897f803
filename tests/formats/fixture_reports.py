"""Every fixture report of a tool, and a parse that gives a refused report's error as a value:
the differential tests parse each report two ways and compare (tests/formats/test_shared_*)."""

from __future__ import annotations

from pathlib import Path

import pytest

from secpipe.formats import get_format
from secpipe.model import FingerprintKey, keyed
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES

KEY = FingerprintKey(b"k" * 32)


def fixture_reports(*folders: str) -> list[Path]:
    """The reports in the folders of that name, own fixtures and shared ones (README.md and
    other notes left out)."""
    found = []
    for name in folders:
        for root in (OWN_FIXTURES, SHARED_FIXTURES):
            if (root / name).is_dir():
                found += sorted(p for p in (root / name).iterdir() if p.suffix != ".md")
    return found


def reports_of(tool: str, *folders: str) -> list[Path]:
    """`fixture_reports`, skipping (saying why) in a clone without ../shared where the repo
    holds no report of that tool; with ../shared beside it, no report at all is a failure."""
    found = fixture_reports(*folders)
    if not found and not SHARED_FIXTURES.is_dir():
        pytest.skip(f"{SHARED_FIXTURES} is absent and tests/fixtures holds no {tool} report")
    assert found, f"no {tool} fixture"
    return found


def parse_or_error(tool: str, path: Path) -> list:
    """The findings, or [exception name, message] for a report the parser refuses (kept as
    fixtures on purpose: both ways must refuse it alike)."""
    try:
        with keyed(KEY):
            return list(get_format(tool).parse(path.read_bytes(), path.name))
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
