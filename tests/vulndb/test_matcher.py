"""The matcher on real advisories, right on both sides of every range boundary.

npm (SemVer incl. pre-releases), PyPI (PEP 440: rc/post releases, "4.0" == "4.0.0", name
normalisation) and Debian (revisions, `~` before the bare revision, epochs, releases, source
packages), plus OSV's multiple ranges, `last_affected` and explicit `versions`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secpipe.vulndb import VulnDB
from secpipe.vulndb.matcher import Matcher
from secpipe.vulndb.versions import is_affected
from tests.vulndb.conftest import FIXTURES, sbom


def hits(db: VulnDB, purl: str) -> dict[str, tuple[str, ...]]:
    """{advisory id: fixed versions} for one purl."""
    result = Matcher(db).match_sbom(sbom([purl]))
    return {m.advisory["id"]: m.fixed for m in result.matches}


NPM = [
    # minimist: two affected entries, [0, 0.2.4) and [1.0.0, 1.2.6)
    ("pkg:npm/minimist@0.0.1", {"GHSA-xvch-5gv4-984h": ("0.2.4",)}),
    ("pkg:npm/minimist@0.2.3", {"GHSA-xvch-5gv4-984h": ("0.2.4",)}),
    ("pkg:npm/minimist@0.2.4", {}),
    ("pkg:npm/minimist@0.2.5", {}),
    ("pkg:npm/minimist@1.0.0", {"GHSA-xvch-5gv4-984h": ("1.2.6",)}),
    ("pkg:npm/minimist@1.2.5", {"GHSA-xvch-5gv4-984h": ("1.2.6",)}),
    ("pkg:npm/minimist@1.2.6-beta.0", {"GHSA-xvch-5gv4-984h": ("1.2.6",)}),  # pre < release
    ("pkg:npm/minimist@1.2.6", {}),
    ("pkg:npm/minimist@1.2.8", {}),
    # qs: nine fix lines
    ("pkg:npm/qs@6.2.3", {"GHSA-hrpp-h998-j3pp": ("6.2.4",)}),
    ("pkg:npm/qs@6.2.4", {}),
    ("pkg:npm/qs@6.3.0", {"GHSA-hrpp-h998-j3pp": ("6.3.3",)}),
    ("pkg:npm/qs@6.7.0", {"GHSA-hrpp-h998-j3pp": ("6.7.3",)}),
    ("pkg:npm/qs@6.7.2", {"GHSA-hrpp-h998-j3pp": ("6.7.3",)}),
    ("pkg:npm/qs@6.7.3", {}),
    ("pkg:npm/qs@6.10.2", {"GHSA-hrpp-h998-j3pp": ("6.10.3",)}),
    ("pkg:npm/qs@6.10.3", {}),
    ("pkg:npm/qs@6.11.0", {}),
    # lodash: fixed; lodash.trim: last_affected (inclusive, no fix known)
    ("pkg:npm/lodash@4.17.20", {"GHSA-29mw-wpgm-hmr9": ("4.17.21",)}),
    ("pkg:npm/lodash@4.17.21", {}),
    ("pkg:npm/lodash.trim@4.5.1", {"GHSA-29mw-wpgm-hmr9": ()}),
    ("pkg:npm/lodash.trim@4.5.2", {}),
    # express: a pre-release line of its own
    ("pkg:npm/express@4.19.1", {"GHSA-rv95-896h-c2vc": ("4.19.2",)}),
    ("pkg:npm/express@4.19.2", {}),
    ("pkg:npm/express@5.0.0-alpha.0", {}),  # above 4.19.2, below 5.0.0-alpha.1
    ("pkg:npm/express@5.0.0-alpha.1", {"GHSA-rv95-896h-c2vc": ("5.0.0-beta.3",)}),
    ("pkg:npm/express@5.0.0-beta.2", {"GHSA-rv95-896h-c2vc": ("5.0.0-beta.3",)}),
    ("pkg:npm/express@5.0.0-beta.3", {}),
    ("pkg:npm/express@5.0.0", {}),
]

PYPI = [
    ("pkg:pypi/jinja2@2.11.2", {"GHSA-g3rq-g295-4j3m": ("2.11.3",), "PYSEC-2021-66": ("2.11.3",)}),
    ("pkg:pypi/Jinja2@2.11.2", {"GHSA-g3rq-g295-4j3m": ("2.11.3",), "PYSEC-2021-66": ("2.11.3",)}),
    ("pkg:pypi/jinja2@2.11.2.post1", {"GHSA-g3rq-g295-4j3m": ("2.11.3",),
                                      "PYSEC-2021-66": ("2.11.3",)}),
    ("pkg:pypi/jinja2@2.11.3rc1", {"GHSA-g3rq-g295-4j3m": ("2.11.3",),
                                   "PYSEC-2021-66": ("2.11.3",)}),
    ("pkg:pypi/jinja2@2.11.3", {}),
    ("pkg:pypi/jinja2@3.0.0", {}),
    # Django: three ranges
    ("pkg:pypi/django@3.1.14", {}),
    ("pkg:pypi/django@3.2.0", {"GHSA-jh3w-4vvf-mjgr": ("3.2.20",)}),
    ("pkg:pypi/django@3.2.19", {"GHSA-jh3w-4vvf-mjgr": ("3.2.20",)}),
    ("pkg:pypi/django@3.2.20", {}),
    ("pkg:pypi/Django@4.0", {"GHSA-jh3w-4vvf-mjgr": ("4.1.10",)}),  # 4.0 == 4.0.0
    ("pkg:pypi/django@4.1.9", {"GHSA-jh3w-4vvf-mjgr": ("4.1.10",)}),
    ("pkg:pypi/django@4.1.10", {}),
    ("pkg:pypi/django@4.2rc1", {}),  # above 4.1.10, below 4.2.0
    ("pkg:pypi/django@4.2.2", {"GHSA-jh3w-4vvf-mjgr": ("4.2.3",)}),
    ("pkg:pypi/django@4.2.3", {}),
    ("pkg:pypi/django@5.0", {}),
]

DEBIAN = [
    ("pkg:deb/debian/nginx@1.2.1-2.2?distro=debian-7", {"DSA-3029-1": ("1.2.1-2.2+wheezy3",)}),
    ("pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-7",
     {"DSA-3029-1": ("1.2.1-2.2+wheezy3",)}),
    ("pkg:deb/debian/nginx@1.2.1-2.2+wheezy3?distro=debian-7", {}),
    ("pkg:deb/debian/nginx@1.2.1-2.2+wheezy3+b1?distro=debian-7", {}),
    ("pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-8", {}),    # another release
    ("pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=wheezy",
     {"DSA-3029-1": ("1.2.1-2.2+wheezy3",)}),
    ("pkg:deb/debian/nginx@1.2.1-2.2+wheezy2", {"DSA-3029-1": ("1.2.1-2.2+wheezy3",)}),  # unknown
    ("pkg:deb/debian/nginx-full@1.2.1-2.2+wheezy2?upstream=nginx&distro=debian-7",
     {"DSA-3029-1": ("1.2.1-2.2+wheezy3",)}),  # binary package, matched by its source
    # tildes sort before the bare revision
    ("pkg:deb/debian/bind9@9.7.3.dfsg-1~squeeze12?distro=debian-6",
     {"DLA-112-1": ("9.7.3.dfsg-1~squeeze13",)}),
    ("pkg:deb/debian/bind9@9.7.3.dfsg-1~squeeze13?distro=debian-6", {}),
    ("pkg:deb/debian/bind9@9.7.3.dfsg-1?distro=debian-6", {}),
    # epochs: in the version, as a qualifier, and an epoch-less version below any epoch 1
    ("pkg:deb/debian/bind9@1:9.8.4.dfsg.P1-6+nmu2+deb7u1?distro=debian-7",
     {"DSA-3023-1": ("1:9.8.4.dfsg.P1-6+nmu2+deb7u2",)}),
    ("pkg:deb/debian/bind9@9.8.4.dfsg.P1-6+nmu2+deb7u1?epoch=1&distro=debian-7",
     {"DSA-3023-1": ("1:9.8.4.dfsg.P1-6+nmu2+deb7u2",)}),
    ("pkg:deb/debian/bind9@9.8.4.dfsg.P1-6+nmu2+deb7u2?epoch=1&distro=debian-7", {}),
    ("pkg:deb/debian/bind9@9.9.5.dfsg-2?distro=debian-7",
     {"DSA-3023-1": ("1:9.8.4.dfsg.P1-6+nmu2+deb7u2",)}),
    ("pkg:deb/debian/libbind9-80@9.8.4.dfsg.P1-6+nmu2+deb7u1?upstream=bind9&epoch=1"
     "&distro=debian-7", {"DSA-3023-1": ("1:9.8.4.dfsg.P1-6+nmu2+deb7u2",)}),
]


@pytest.mark.parametrize(("purl", "expected"), NPM + PYPI + DEBIAN,
                         ids=[p for p, _ in NPM + PYPI + DEBIAN])
def test_range_boundaries(fixture_db: VulnDB, purl: str, expected: dict) -> None:
    assert hits(fixture_db, purl) == expected


def test_ecosystems_do_not_leak(fixture_db: VulnDB) -> None:
    assert hits(fixture_db, "pkg:npm/jinja2@2.11.2") == {}
    assert hits(fixture_db, "pkg:pypi/minimist@1.2.5") == {}


def test_last_affected_is_reported_without_a_fix(fixture_db: VulnDB) -> None:
    [match] = Matcher(fixture_db).match_sbom(sbom(["pkg:npm/lodash.trim@4.5.1"])).matches
    assert match.fixed == () and match.last_affected == "4.5.1"


def test_explicit_versions_without_comparable_ranges(tmp_path: Path) -> None:
    """OSS-Fuzz-style records carry GIT ranges (commits, not comparable with a package
    version) and enumerate the affected versions: only the list decides."""
    record = json.loads((FIXTURES / "PYSEC-2021-66.json").read_text())
    record["id"] = "PYSEC-2021-66-GIT-VARIANT"
    record["affected"][0]["ranges"] = [{"type": "GIT", "repo": "https://github.com/pallets/jinja",
                                        "events": [{"introduced": "0"}, {"fixed": "f" * 40}]}]
    (tmp_path / "r.json").write_text(json.dumps(record))
    db = VulnDB(tmp_path / "db.sqlite")
    db.import_path(tmp_path / "r.json")
    assert hits(db, "pkg:pypi/jinja2@2.10") == {"PYSEC-2021-66-GIT-VARIANT": ()}
    assert hits(db, "pkg:pypi/jinja2@2.10.0") == {"PYSEC-2021-66-GIT-VARIANT": ()}  # PEP 440 ==
    assert hits(db, "pkg:pypi/jinja2@2.0rc1") == {"PYSEC-2021-66-GIT-VARIANT": ()}
    assert hits(db, "pkg:pypi/jinja2@2.10.4") == {}  # not listed
    [match] = Matcher(db).match_sbom(sbom(["pkg:pypi/jinja2@2.10"])).matches
    assert match.how == "versions"


def test_osv_algorithm_edge_cases() -> None:
    """Straight from the schema's evaluation pseudo-code."""
    rng = [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.0.2"},
                                         {"introduced": "3.0.0"}, {"fixed": "3.2.5"}]}]
    assert [is_affected("npm", v, rng, []).affected
            for v in ("0.9.0", "1.0.0", "1.0.1", "1.0.2", "2.9.9", "3.0.0", "3.2.4", "3.2.5")] \
        == [False, True, True, False, False, True, True, False]
    assert is_affected("npm", "3.1.0", rng, []).fixed == ("3.2.5",)
    # events out of order are sorted first
    shuffled = [{"type": "ECOSYSTEM", "events": [{"fixed": "2.0.0"}, {"introduced": "1.0.0"}]}]
    assert is_affected("npm", "1.5.0", shuffled, []).affected
    # limit: versions at or above every limit are out of scope
    limited = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"limit": "2.0.0"}]}]
    assert is_affected("pypi", "1.9", limited, []).affected
    assert not is_affected("pypi", "2.0", limited, []).affected
    # "0" precedes everything, also in Debian
    unfixed = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
    assert is_affected("debian", "0:0.1-1", unfixed, []).affected
    # a version the rules cannot read is reported as not comparable, never silently clean
    verdict = is_affected("npm", "not-a-version", unfixed, [])
    assert not verdict.affected and not verdict.comparable


def test_uncomparable_version_is_noted(fixture_db: VulnDB) -> None:
    result = Matcher(fixture_db).match_sbom(sbom(["pkg:npm/minimist@not-a-version"]))
    assert result.matches == []
    assert any("GHSA-xvch-5gv4-984h" in n and "could not be evaluated" in n for n in result.notes)


def test_unsupported_and_purl_less_components_are_listed(fixture_db: VulnDB) -> None:
    doc = sbom(["pkg:npm/minimist@1.2.5", "pkg:generic/openssl@1.1.1", "pkg:npm/left-pad"])
    doc["components"].append({"type": "library", "name": "vendored-thing", "version": "1"})
    doc["components"][0]["components"] = [{"type": "library", "bom-ref": "nested",
                                           "purl": "pkg:npm/qs@6.7.0", "name": "qs",
                                           "version": "6.7.0"}]
    result = Matcher(fixture_db).match_sbom(doc)
    assert {m.advisory["id"] for m in result.matches} == {"GHSA-xvch-5gv4-984h",
                                                          "GHSA-hrpp-h998-j3pp"}  # nested too
    reasons = dict(result.skipped)
    assert "no OSV ecosystem" in reasons["pkg:generic/openssl@1.1.1"]
    assert reasons["pkg:npm/left-pad"] == "no version"
    assert reasons["vendored-thing"] == "no purl"


def test_empty_ecosystems_are_named(fixture_db: VulnDB) -> None:
    result = Matcher(fixture_db).match_sbom(sbom([
        "pkg:npm/qs@6.7.0", "pkg:golang/golang.org/x/net@v0.1.0",
        "pkg:apk/alpine/busybox@1.36.1-r0?distro=alpine-3.18.4"]))
    assert result.empty_ecosystems() == ["Alpine", "Go"]
