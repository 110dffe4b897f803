"""The scan cache's reuse paths against the real tools: git-secrets' history scanned by
commits, checkov not run when only files it never reads changed, and kingfisher's new
commits with a changed tree. Each step compares the
cached answer with a cold run of the tool (`fresh_scan`): findings, and git-secrets' reports.
Needs the scanners (`secpipe tools install`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from secpipe.model import SecretCollector
from secpipe.scancache import fresh_scan, scan_and_parse, store
from secpipe.scanners.interface import ScanRequest
from secpipe.scanners.registry import get_scanner
from secpipe.tools import tool_env
from tests.conftest import ROOT

pytestmark = pytest.mark.tools

KEY = "AKIAZ7QW3ERT5YUI8OPA"
OTHER = "AKIAM4NB6VC8XZ2LKJ7H"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.invalid",
                    "-c", "user.name=ci", *args], check=True, capture_output=True)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / "scan-cache"))
    monkeypatch.delenv("SECPIPE_NO_CACHE", raising=False)
    return tmp_path / "scan-cache"


def _request(repo: Path, tmp_path: Path, options: dict) -> ScanRequest:
    work = tmp_path / f"work-{time.monotonic_ns()}"
    work.mkdir()
    return ScanRequest(root=repo, workdir=work, options=options, timeout=600, env=tool_env(),
                       exclude=(), git_root=repo if (repo / ".git").exists() else None,
                       run_id=str(time.monotonic_ns()))


def _cached_equals_cold(tool: str, repo: Path, tmp_path: Path, version: str,
                        options: dict | None = None) -> tuple[list[str], list[dict]]:
    scanner = get_scanner(tool)
    if not shutil.which(scanner.executable, path=tool_env()["PATH"]):
        pytest.fail(f"{scanner.executable} is not installed: run `secpipe tools install`")
    opts = options or {}
    cached, found = scan_and_parse(scanner, _request(repo, tmp_path, opts), SecretCollector(),
                                   lambda: version)
    cold, cold_found = fresh_scan(scanner, _request(repo, tmp_path, opts), SecretCollector())
    got = [store.finding_to_json(f) for f in found]
    cold_got = [store.finding_to_json(f) for f in cold_found]
    if tool == "checkov":  # its runners report in an order of their own (Ids do not depend on it)
        got, cold_got = _sorted(got), _sorted(cold_got)
    assert got == cold_got
    if tool == "git-secrets":  # the same two reports (kingfisher's may come in two parts)
        assert ([len(r.data.splitlines()) for r in cached.reports]
                == [len(r.data.splitlines()) for r in cold.reports])
    return [n for n in cached.notes if n.startswith("scan cache")], got


def _sorted(found: list[dict]) -> list[dict]:
    return sorted(found, key=lambda f: json.dumps(f, sort_keys=True))


def _history_secrets(found: list[dict]) -> set[str]:
    return {f["secret"][1] for f in found if f["properties"].get("scan") == "history"}


def test_git_secrets_scans_only_new_commits_and_forgets_rewritten_ones(
        tmp_path: Path, cache: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    for i in range(30):
        (repo / f"m{i % 7}.py").write_text(f"x = {i}\n")
        if i == 5:
            (repo / "old.env").write_text(f"aws_access_key_id={OTHER}\n")
        if i == 9:
            (repo / "old.env").unlink()
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"c{i}")
    notes, found = _cached_equals_cold("git-secrets", repo, tmp_path, "1.3.0")
    assert "30 commits not scanned before were scanned" in notes[0]
    assert len(_history_secrets(found)) == 1

    # a new commit with a secret: found on the re-run, and only that commit was scanned
    (repo / "leak.env").write_text(f"aws_access_key_id={KEY}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "leak")
    notes, found = _cached_equals_cold("git-secrets", repo, tmp_path, "1.3.0")
    assert "history: 1 commits not scanned before were scanned (1 selected" in notes[0]
    assert len(_history_secrets(found)) == 2

    # a branch beside main, then main rewritten as by a force-push that drops the leak
    _git(repo, "checkout", "-qb", "side", "HEAD~3")
    (repo / "side.py").write_text("y = 2\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "side")
    _git(repo, "checkout", "-q", "main")
    notes, found = _cached_equals_cold("git-secrets", repo, tmp_path, "1.3.0")
    assert "history: 1 commits not scanned before" in notes[0]
    _git(repo, "reset", "-q", "--hard", "HEAD~1")
    (repo / "m1.py").write_text("x = 'rewritten'\n")
    _git(repo, "commit", "-qam", "rewritten")
    notes, found = _cached_equals_cold("git-secrets", repo, tmp_path, "1.3.0")
    assert "history: 1 commits not scanned before" in notes[0]
    assert len(_history_secrets(found)) == 1  # the dropped commit's finding is gone
    _git(repo, "branch", "-qD", "side")
    _cached_equals_cold("git-secrets", repo, tmp_path, "1.3.0")

    # no secret in clear in the cache; a new version of the tool starts from nothing
    blob = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    assert KEY.encode() not in blob and OTHER.encode() not in blob
    notes, _ = _cached_equals_cold("git-secrets", repo, tmp_path, "1.3.1")
    assert "31 commits not scanned before were scanned" in notes[0]


def test_checkov_is_not_run_for_files_it_never_reads(tmp_path: Path, cache: Path) -> None:
    repo = tmp_path / "tree"
    (repo / "infra").mkdir(parents=True)
    (repo / "app").mkdir()
    (repo / "infra" / "main.tf").write_text(
        'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n  acl    = "public-read"\n}\n')
    (repo / "app" / "mod.py").write_text("X = 1\n")
    opts = {"frameworks": "auto"}  # the default pipeline's setting
    notes, first = _cached_equals_cold("checkov", repo, tmp_path, "3.3.30", opts)
    assert first and not notes
    # a key in a Python file: checkov's secrets framework does not read .py files
    (repo / "app" / "mod.py").write_text(f'AWS_ACCESS_KEY_ID = "{KEY}"\n')
    notes, found = _cached_equals_cold("checkov", repo, tmp_path, "3.3.30", opts)
    assert "hold no file the tool reads" in notes[0]
    assert found == first
    # the same key in a YAML file is read: checkov runs on that directory
    (repo / "app" / "conf.yaml").write_text(f"aws_access_key_id: {KEY}\n")
    notes, found = _cached_equals_cold("checkov", repo, tmp_path, "3.3.30", opts)
    assert "were scanned (mirror tree)" in notes[0]


def test_kingfisher_scans_the_new_commits_and_the_changed_tree(tmp_path: Path,
                                                                cache: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    for i in range(6):
        (repo / f"m{i % 3}.py").write_text(f"x = {i}\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"c{i}")
    _cached_equals_cold("kingfisher", repo, tmp_path, "2.14.0")
    # one commit changes the tree and brings a key: the new commits and the tree are scanned
    (repo / "m1.py").write_text("x = 'changed'\n")
    shutil.copy(ROOT / "examples" / "web" / "config" / "aws.js", repo / "aws.js")  # a planted key
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "key")
    notes, found = _cached_equals_cold("kingfisher", repo, tmp_path, "2.14.0")
    assert any("only commits after" in n for n in notes), notes
    # the tree: only the two changed files were scanned, the third's occurrences reused
    assert any("tree: 2 of 4 files changed and were scanned" in n for n in notes), notes
    assert any(f["secret"] and f["secret"][1].startswith("AKIA") for f in found)
    # a second key in another file, and the first file's key moved: per-file reuse still
    # gives the cold run's findings (path, lines, commits), and a removed file's drop out
    # (new blobs each: a blob already in history is attributed to its first commit, see
    # scancache.history's known difference)
    planted_js = (ROOT / "examples" / "web" / "config" / "aws.js").read_text()
    (repo / "m0.py").write_text("# m0\n" + planted_js)
    (repo / "aws.js").unlink()
    (repo / "moved.js").write_text("\n\n" + planted_js)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "moved")
    notes, found = _cached_equals_cold("kingfisher", repo, tmp_path, "2.14.0")
    assert any("tree: 2 of 4 files changed and were scanned" in n for n in notes), notes
    assert {f["location"][0] for f in found if not f["properties"].get("commit")} == {
        "m0.py", "moved.js"}
    # only a file removed: nothing of the tree is scanned, the rest reused
    (repo / "m0.py").unlink()
    _git(repo, "commit", "-qam", "removed")
    notes, found = _cached_equals_cold("kingfisher", repo, tmp_path, "2.14.0")
    assert any("tree: 0 of 3 files changed" in n for n in notes), notes
    planted = re.search(rb"AKIA[0-9A-Z]{16}",
                        (ROOT / "examples" / "web" / "config" / "aws.js").read_bytes())
    blob = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    assert planted and planted.group() not in blob   # no secret in clear in the cache


def test_the_history_state_is_asked_of_git_once_per_run(tmp_path: Path) -> None:
    """Every history tool of a run keys on the same refs (asked once; a new run asks again)."""
    from secpipe.scancache import _history_state

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    req = _request(repo, tmp_path, {})
    first = _history_state(req)
    (repo / "a.py").write_text("x = 2\n")
    _git(repo, "commit", "-qam", "two")
    assert first is not None and _history_state(req) == first    # the same run
    again = _request(repo, tmp_path, {})                           # the next run
    assert _history_state(again) not in (None, first)
