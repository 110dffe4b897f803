"""secpipe's own SBOM for a tree (and an image): one CycloneDX 1.6 document, valid by its schema."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path

import pytest

from secpipe.sbom import LOCATION_PROPERTY, LockfileError, build_sbom, parser_for, to_json
from secpipe.scanners._files import walk
from tests.sbom.imagetar import docker_archive

FIX = Path(__file__).parent / "fixtures"


@lru_cache(maxsize=1)
def _validator():
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    return JsonStrictValidator(SchemaVersion.V1_6)


def _valid_cyclonedx(data: bytes) -> dict:
    """Valid by the official CycloneDX 1.6 JSON schema (cyclonedx-python-lib's validator)."""
    error = _validator().validate_str(data.decode())
    assert error is None, error
    return json.loads(data)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "web").mkdir(parents=True)
    shutil.copy(FIX / "npm-v2" / "package-lock.json", root / "web" / "package-lock.json")
    shutil.copy(FIX / "npm-v2" / "package.json", root / "web" / "package.json")
    shutil.copy(FIX / "yarn-v1" / "yarn.lock", root / "web" / "yarn.lock")  # the same packages
    (root / "api").mkdir()
    shutil.copy(FIX / "python" / "requirements.txt", root / "api" / "requirements.txt")
    shutil.copy(FIX / "python" / "poetry.lock", root / "api" / "poetry.lock")
    (root / "svc").mkdir()
    shutil.copy(FIX / "go" / "go.sum", root / "svc" / "go.sum")
    (root / "tool").mkdir()
    (root / "tool" / "package.json").write_text('{"dependencies": {"left-pad": "^1"}}')
    (root / "node_modules" / "x").mkdir(parents=True)  # never read: excluded like every stage
    (root / "node_modules" / "x" / "package-lock.json").write_text("{broken")
    return root


def test_tree_sbom(tree: Path) -> None:
    result = build_sbom(tree, walk(tree), name="proj", version="1.2.3")
    doc = _valid_cyclonedx(to_json(result))
    assert doc["specVersion"] == "1.6" and doc["metadata"]["component"]["name"] == "proj"
    purls = {c["purl"] for c in doc["components"]}
    assert "pkg:npm/debug@2.6.9" in purls
    # npm marks ms 2.1.2 dev, but yarn.lock (which records no dev flag) lists it too: a package
    # is only left out as dev when every lockfile naming it says so
    assert "pkg:npm/ms@2.1.2" in purls
    assert "pkg:pypi/django@3.2.12" in purls and "pkg:pypi/pytest@7.4.0" not in purls
    assert "pkg:golang/github.com/gorilla/mux@v1.8.0" in purls
    assert result.dev_left_out == 1
    assert len(purls) == len(doc["components"])  # npm and yarn name the same packages once
    debug = next(c for c in doc["components"] if c["purl"] == "pkg:npm/debug@2.6.9")
    locations = {p["value"] for p in debug["properties"] if p["name"] == LOCATION_PROPERTY}
    assert locations == {"web/package-lock.json", "web/yarn.lock"}
    assert any("tool/package.json has no lockfile" in n for n in result.notes)
    assert sorted(s.split(":")[0] for s in result.sources) == [
        "api/poetry.lock", "api/requirements.txt", "svc/go.sum", "web/package-lock.json",
        "web/yarn.lock"]


def test_dev_packages_on_request(tree: Path) -> None:
    (tree / "web" / "yarn.lock").unlink()
    result = build_sbom(tree, walk(tree))
    purls = {str(c.purl) for c in result.components}
    assert not {"pkg:npm/ms@2.1.2", "pkg:pypi/pytest@7.4.0"} & purls
    assert result.dev_left_out == 2
    result = build_sbom(tree, walk(tree), include_dev=True)
    purls = {str(c.purl) for c in result.components}
    assert {"pkg:npm/ms@2.1.2", "pkg:pypi/pytest@7.4.0"} <= purls and result.dev_left_out == 0


def test_image_and_tree(tree: Path, tmp_path: Path) -> None:
    layers = [{"etc/os-release": (FIX / "os" / "alpine-os-release").read_bytes(),
               "lib/apk/db/installed": (FIX / "os" / "apk-installed").read_bytes()}]
    archive = docker_archive(tmp_path / "image.tar", layers, tag="secpipe/proj:r1")
    result = build_sbom(tree, walk(tree), image_archive=archive)
    doc = _valid_cyclonedx(to_json(result))
    assert doc["metadata"]["component"] == {"bom-ref": "secpipe:subject",
                                            "name": "secpipe/proj:r1", "type": "container"}
    types = {c["purl"].split("/")[0] for c in doc["components"]}
    assert types == {"pkg:apk", "pkg:npm", "pkg:pypi", "pkg:golang"}
    assert result.sources[0].startswith("image secpipe/proj:r1 (alpine-3.19.1): 6 OS packages")


def test_a_broken_lockfile_fails(tree: Path) -> None:
    (tree / "api" / "Pipfile.lock").write_text('{"default": {"six": {"version": ">=1"}}}')
    with pytest.raises(LockfileError, match="api/Pipfile.lock"):
        build_sbom(tree, walk(tree))


def test_empty_tree(tmp_path: Path) -> None:
    result = build_sbom(tmp_path, walk(tmp_path), name="empty")
    doc = _valid_cyclonedx(to_json(result))
    assert doc.get("components", []) == [] and result.sources == []


def test_parser_for_names() -> None:
    for name in ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "poetry.lock",
                 "Pipfile.lock", "go.sum", "requirements.txt", "requirements-dev.txt"):
        assert parser_for(name) is not None, name
    for name in ("package.json", "Pipfile", "go.mod", "requirements.in", "dev-requirements.txt"):
        assert parser_for(name) is None, name
