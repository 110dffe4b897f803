"""Shared fixtures: a database of the real advisories in fixtures/osv, SBOM builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import pytest

from secpipe.vulndb import VulnDB

FIXTURES = Path(__file__).parent / "fixtures" / "osv"
DEMO = Path(__file__).parents[2] / "examples" / "web" / "osv-demo"


def sbom(purls: Iterable[str], subject: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CycloneDX 1.5 SBOM listing `purls` (bom-ref = purl, like syft writes them)."""
    comps = []
    for purl in purls:
        name, _, version = purl.split("?")[0].rsplit("/", 1)[-1].partition("@")
        comps.append({"type": "library", "bom-ref": purl, "name": name, "version": version,
                      "purl": purl})
    doc: dict[str, Any] = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
                           "components": comps}
    if subject:
        doc["metadata"] = {"component": subject}
    return doc


def sbom_bytes(purls: Iterable[str], **kw: Any) -> bytes:
    return json.dumps(sbom(purls, **kw)).encode()


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> VulnDB:
    db = VulnDB(tmp_path_factory.mktemp("vulndb") / "vulndb.sqlite")
    result = db.import_path(FIXTURES)
    assert not result.rejected and result.imported == len(list(FIXTURES.glob("*.json")))
    return db


@pytest.fixture
def empty_db(tmp_path: Path) -> VulnDB:
    return VulnDB(tmp_path / "empty.sqlite")
