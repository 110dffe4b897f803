"""`secpipe db import|update|status` through click, on a fresh group with `register`."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from secpipe.cli.db import register
from tests.vulndb.conftest import DEMO, FIXTURES


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def main() -> None:
        pass

    register(main)
    return main


def run(cli: click.Group, *args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_has_examples(cli: click.Group) -> None:
    for command in (["db"], ["db", "import"], ["db", "update"], ["db", "status"]):
        out = run(cli, *command, "--help").output
        assert "Examples:" in out and "secpipe db" in out


def test_import_then_status(cli: click.Group, tmp_path: Path) -> None:
    db = str(tmp_path / "v.sqlite")
    empty = run(cli, "db", "status", "--db", db)
    assert empty.exit_code == 0 and "empty" in empty.output
    imported = run(cli, "db", "import", str(DEMO), str(FIXTURES), "--db", db)
    assert imported.exit_code == 0, imported.output
    assert "12 advisories imported" in imported.output
    status = run(cli, "db", "status", "--db", db, "--json")
    data = json.loads(status.output)
    assert data["advisories"] == 18  # 12 demo + 10 fixtures, 4 of them the same records
    assert data["ecosystems"] == {"Debian": 3, "PyPI": 3, "npm": 12}
    assert data["age_seconds"] < 600
    table = " ".join(run(cli, "db", "status", "--db", db).output.split())   # as wrapped
    assert "npm" in table and "18 advisories" in table


def test_env_var_chooses_the_db(cli: click.Group, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECPIPE_VULNDB", str(tmp_path / "env.sqlite"))
    assert run(cli, "db", "import", str(DEMO)).exit_code == 0
    assert (tmp_path / "env.sqlite").exists()


def test_import_errors_exit_2(cli: click.Group, tmp_path: Path) -> None:
    db = str(tmp_path / "v.sqlite")
    missing = run(cli, "db", "import", str(tmp_path / "nope"), "--db", db)
    assert missing.exit_code == 2 and "no such file" in missing.output
    (tmp_path / "bad.json").write_text("{}")
    bad = run(cli, "db", "import", str(tmp_path / "bad.json"), "--db", db)
    assert bad.exit_code == 2 and "rejected" in bad.output and "still empty" in bad.output


def test_update_offline_exit_2_and_db_kept(cli: click.Group, tmp_path: Path) -> None:
    db = str(tmp_path / "v.sqlite")
    run(cli, "db", "import", str(DEMO), "--db", db)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = run(cli, "db", "update", "--ecosystem", "npm", "--url", f"http://127.0.0.1:{port}",
              "--db", db)
    assert out.exit_code == 2 and "offline" in out.output and "not changed" in out.output
    assert json.loads(run(cli, "db", "status", "--db", db, "--json").output)["advisories"] == 12


def test_not_a_database(cli: click.Group, tmp_path: Path) -> None:
    (tmp_path / "junk.sqlite").write_text("junk")
    out = run(cli, "db", "status", "--db", str(tmp_path / "junk.sqlite"))
    assert out.exit_code == 2 and "not a usable vulnerability database" in out.output
    out = run(cli, "db", "status", "--db", str(tmp_path))
    assert out.exit_code == 2 and "is a folder" in out.output
