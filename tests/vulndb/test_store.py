"""The database: imports (files, folders, OSV all.zip), refusals, replacement, status, update."""

from __future__ import annotations

import hashlib
import json
import socket
import zipfile
from pathlib import Path

import pytest

from secpipe.vulndb import Offline, VulnDB, VulnDBError, update
from secpipe.vulndb.matcher import Matcher
from secpipe.vulndb.sources import unsafe_member_name
from tests.vulndb.conftest import FIXTURES, sbom


def osv_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def fixture_members() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(FIXTURES.glob("*.json"))}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_one_file(tmp_path: Path) -> None:
    db = VulnDB(tmp_path / "db.sqlite")
    result = db.import_path(FIXTURES / "GHSA-xvch-5gv4-984h.json")
    assert (result.imported, result.rejected) == (1, [])
    status = db.status()
    assert status.advisories == 1 and status.ecosystems == {"npm": 1}


def test_import_folder_and_status(tmp_path: Path) -> None:
    db = VulnDB(tmp_path / "db.sqlite")
    assert not db.status().exists and db.status().advisories == 0
    result = db.import_path(FIXTURES)
    assert result.imported == 10 and not result.rejected
    status = db.status()
    assert status.advisories == 10
    assert status.ecosystems == {"Debian": 3, "PyPI": 3, "npm": 4}
    assert status.last_import and status.age_seconds is not None and status.age_seconds < 600
    assert status.size_bytes > 0


def test_import_osv_all_zip(tmp_path: Path) -> None:
    """OSV's per-ecosystem archives: a flat zip of <ID>.json files."""
    archive = osv_zip(tmp_path / "all.zip", fixture_members())
    db = VulnDB(tmp_path / "db.sqlite")
    assert db.import_path(archive).imported == 10
    assert {m.advisory["id"] for m in Matcher(db).match_sbom(
        sbom(["pkg:npm/minimist@1.2.5"])).matches} == {"GHSA-xvch-5gv4-984h"}


def test_api_answer_and_array_files(tmp_path: Path) -> None:
    records = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("GHSA-*.json"))]
    (tmp_path / "list.json").write_text(json.dumps(records[:2]))
    (tmp_path / "answer.json").write_text(json.dumps({"vulns": records[2:4]}))
    db = VulnDB(tmp_path / "db.sqlite")
    assert db.import_path(tmp_path / "list.json").imported == 2
    assert db.import_path(tmp_path / "answer.json").imported == 2


def test_bad_records_are_rejected_with_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.json").write_bytes((FIXTURES / "DSA-3029-1.json").read_bytes())
    (folder / "broken.json").write_text("{not json")
    (folder / "noid.json").write_text(json.dumps({"summary": "x"}))
    (folder / "badaffected.json").write_text(json.dumps({"id": "X-1", "affected": "npm"}))
    result = VulnDB(tmp_path / "db.sqlite").import_path(folder)
    assert result.imported == 1
    reasons = {Path(where).name: why for where, why in result.rejected}
    assert "not valid JSON" in reasons["broken.json"]
    assert reasons["noid.json"] == 'no "id"'
    assert "not an array" in reasons["badaffected.json"]


def test_newer_modified_wins(tmp_path: Path) -> None:
    db = VulnDB(tmp_path / "db.sqlite")
    record = json.loads((FIXTURES / "GHSA-g3rq-g295-4j3m.json").read_text())
    old = dict(record, modified="2020-01-01T00:00:00Z", summary="old text")
    (tmp_path / "a.json").write_text(json.dumps(record))
    (tmp_path / "old.json").write_text(json.dumps(old))
    db.import_path(tmp_path / "a.json")
    result = db.import_path(tmp_path / "old.json")
    assert (result.imported, result.kept_newer) == (0, 1)
    assert db.records(["GHSA-g3rq-g295-4j3m"])["GHSA-g3rq-g295-4j3m"]["summary"] == \
        record["summary"]
    # a newer one replaces it, aliases and affected rows included (no duplicates)
    newer = dict(record, modified="2030-01-01T00:00:00Z", aliases=["CVE-2020-28493", "X-9"])
    (tmp_path / "new.json").write_text(json.dumps(newer))
    assert db.import_path(tmp_path / "new.json").imported == 1
    assert sorted(db.advisories_by_id(["GHSA-g3rq-g295-4j3m"])["GHSA-g3rq-g295-4j3m"]
                  ["aliases"]) == ["CVE-2020-28493", "X-9"]
    assert len(Matcher(db).match_sbom(sbom(["pkg:pypi/jinja2@2.11.2"])).matches) == 1
    assert db.resolve_alias("X-9") == ["GHSA-g3rq-g295-4j3m"]


def test_withdrawn_records_never_match(tmp_path: Path) -> None:
    record = json.loads((FIXTURES / "GHSA-g3rq-g295-4j3m.json").read_text())
    record["withdrawn"] = "2023-01-01T00:00:00Z"
    (tmp_path / "w.json").write_text(json.dumps(record))
    db = VulnDB(tmp_path / "db.sqlite")
    db.import_path(tmp_path / "w.json")
    assert Matcher(db).match_sbom(sbom(["pkg:pypi/jinja2@2.11.2"])).matches == []


@pytest.mark.parametrize("name", ["../evil.json", "a/../../evil.json", "/etc/evil.json",
                                  "C:/evil.json", "..\\evil.json"])
def test_path_traversal_names_are_refused(tmp_path: Path, name: str) -> None:
    assert unsafe_member_name(name)
    members = fixture_members()
    members[name] = members["DSA-3029-1.json"]
    archive = osv_zip(tmp_path / "all.zip", members)
    db = VulnDB(tmp_path / "db.sqlite")
    with pytest.raises(VulnDBError, match="path traversal"):
        db.import_path(archive)
    assert db.status().advisories == 0  # refused whole: nothing imported
    assert not (tmp_path.parent / "evil.json").exists()


def test_zip_bomb_declared_size_is_refused(tmp_path: Path) -> None:
    """A member that inflates 1000x (1 MB of zeros -> ~1 KB) beyond a small cap."""
    bomb = osv_zip(tmp_path / "bomb.zip", {"GHSA-0000-0000-0000.json": b"0" * 1_000_000})
    assert bomb.stat().st_size < 10_000
    db = VulnDB(tmp_path / "db.sqlite")
    with pytest.raises(VulnDBError, match="zip bomb|limit"):
        db.import_path(bomb, max_total_bytes=100_000)
    with pytest.raises(VulnDBError, match="limit"):
        db.import_path(bomb, max_member_bytes=100_000)
    assert db.status().advisories == 0


def test_zip_bomb_lying_about_its_size_is_refused(tmp_path: Path) -> None:
    """A member whose central-directory size was patched down to pass the caps: reading stops
    at the declared size and the member is refused; the members read before it (the fixtures)
    are rolled back."""
    members = fixture_members()
    members["zz-bomb.json"] = b" " * 2_000_000
    archive = osv_zip(tmp_path / "lying.zip", members)
    raw = bytearray(archive.read_bytes())
    name = b"zz-bomb.json"
    at = raw.find(b"PK\x01\x02")
    while raw[at + 46: at + 46 + len(name)] != name:  # the bomb's central-directory entry
        at = raw.find(b"PK\x01\x02", at + 4)
        assert at > 0
    raw[at + 24: at + 28] = (100).to_bytes(4, "little")  # "uncompressed size"
    archive.write_bytes(bytes(raw))
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("zz-bomb.json").file_size == 100
    db = VulnDB(tmp_path / "db.sqlite")
    with pytest.raises(VulnDBError, match="zz-bomb.json"):
        db.import_path(archive)
    assert db.status().advisories == 0


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    archive = osv_zip(tmp_path / "many.zip", {f"X-{i}.json": b"{}" for i in range(50)})
    with pytest.raises(VulnDBError, match="members"):
        VulnDB(tmp_path / "db.sqlite").import_path(archive, max_members=20)


def test_not_a_zip_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04 nothing else")
    db = VulnDB(tmp_path / "db.sqlite")
    with pytest.raises(VulnDBError, match="not a readable zip"):
        db.import_path(tmp_path / "fake.zip")
    with pytest.raises(VulnDBError, match="no such file"):
        db.import_path(tmp_path / "missing")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_update_offline_fails_fast_and_keeps_the_db(tmp_path: Path) -> None:
    db = VulnDB(tmp_path / "db.sqlite")
    db.import_path(FIXTURES)
    db.close()
    before = digest(db.path)
    # a refused connection is reported at once (no retries; the connect timeout is 5 s)
    with pytest.raises(Offline, match="offline.*not changed"):
        update(VulnDB(db.path), ["npm"], base_url=f"http://127.0.0.1:{closed_port()}")
    assert digest(db.path) == before
    assert VulnDB(db.path).status().advisories == 10


def test_update_downloads_and_imports(tmp_path: Path) -> None:
    """Against a real HTTP server on loopback serving <Ecosystem>/all.zip."""
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    mirror = tmp_path / "mirror"
    (mirror / "npm").mkdir(parents=True)
    (mirror / "PyPI").mkdir()
    npm = {k: v for k, v in fixture_members().items() if k.startswith("GHSA-") and b'"npm"' in v}
    osv_zip(mirror / "npm" / "all.zip", npm)
    osv_zip(mirror / "PyPI" / "all.zip", {"GHSA-g3rq-g295-4j3m.json":
                                          (FIXTURES / "GHSA-g3rq-g295-4j3m.json").read_bytes()})

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(mirror), **kw)

        def log_message(self, *_a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        db = VulnDB(tmp_path / "db.sqlite")
        result = update(db, ["npm", "pypi"], base_url=base)
        assert {k: r.imported for k, r in result.results.items()} == {"npm": 4, "PyPI": 1}
        assert db.status().ecosystems == {"PyPI": 1, "npm": 4}
        db.close()
        before = digest(db.path)
        again = VulnDB(db.path)
        with pytest.raises(VulnDBError, match="404"):  # one missing archive: nothing imported
            update(again, ["npm", "Go"], base_url=base)
        again.close()
        assert digest(db.path) == before
    finally:
        server.shutdown()
