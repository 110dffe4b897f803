"""The scan cache holds no value of the run in clear, whichever tool found it.

Two tools with hand-made reports (their real formats, their scans replaced): trufflehog3 alone
finds a key; hadolint's report, its log and its finding's text quote the same key. After a run
the whole cache dir is searched for the key (as it is and JSON-escaped): absent. A cached run
then gives the same findings, raw/, logs/ (but the cache's own notes) and summary as a
`--no-cache` run. A run that fails after the tools' turns, before its scrub, leaves nothing in
the cache. No scanner is needed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from secpipe.pipeline import api, runner
from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import ToolStatus
from secpipe.scanners.hadolint import Hadolint
from secpipe.scanners.interface import RawReport, ScanOutcome, ScanRequest
from secpipe.scanners.trufflehog3 import Trufflehog3

KEY = "AKIAQ3EGRT6W2MLXP7ZN"      # only trufflehog3 recognises it
OWN = "hadolint-own-value-1234"   # a value no parser sees: stays as the tool wrote it
SCANS: list[str] = []


def _hadolint_scan(self, req: ScanRequest) -> ScanOutcome:
    SCANS.append("hadolint")
    report = [{"code": "DL3025", "column": 1, "file": "Dockerfile", "level": "warning",
               "line": 2, "message": f'Use arguments JSON notation: CMD run --key "{KEY}"'}]
    return ScanOutcome(reports=[RawReport("hadolint.json", json.dumps(report).encode())],
                       exit_code=0, command=["hadolint", "Dockerfile"],
                       stderr=f"hadolint: looked at --key {KEY} ({OWN})\n".encode())


def _trufflehog3_scan(self, req: ScanRequest) -> ScanOutcome:
    SCANS.append("trufflehog3")
    report = [{"rule": {"id": "amazon.aws-api-key", "message": "AWS API Key",
                        "pattern": "AKIA[0-9A-Z]{16}", "severity": "MEDIUM"},
               "path": "Dockerfile", "line": "2", "secret": KEY,
               "context": {"2": f'CMD run --key "{KEY}"'},
               "id": "e607a2fe-91a4-3225-9fa0-db28e25766dc", "branch": None,
               "message": None, "author": None, "commit": None, "date": None}]
    return ScanOutcome(reports=[RawReport("trufflehog3.json", json.dumps(report).encode())],
                       exit_code=0, command=["trufflehog3", "."], stderr=b"")


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(Hadolint, "scan", _hadolint_scan)
    monkeypatch.setattr(Trufflehog3, "scan", _trufflehog3_scan)
    monkeypatch.setattr(api, "tool_version", lambda tool, env: "1.0-test")
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / "scan-cache"))
    monkeypatch.delenv("SECPIPE_NO_CACHE", raising=False)
    key = tmp_path / "fingerprint.key"
    key.write_text("cd" * 32 + "\n")
    key.chmod(0o600)
    monkeypatch.setenv("SECPIPE_FINGERPRINT_KEY_FILE", str(key))
    SCANS.clear()
    top = tmp_path / "repo"
    top.mkdir()
    (top / "Dockerfile").write_text(f'FROM alpine:3.19\nCMD run --key "{KEY}"\n')
    config = {"version": 1, "stages": {
        "dockerfile": {"tools": ["hadolint"]},
        "secrets": {"tools": ["trufflehog3"], "fail_on": "critical"}},
        "tools": {"trufflehog3": {"history": False}}}
    (tmp_path / "secpipe-test.yml").write_text(yaml.safe_dump(config))
    return top


def _run(repo: Path, out: Path, monkeypatch: pytest.MonkeyPatch, *, cached: bool) -> Path:
    if cached:
        monkeypatch.delenv("SECPIPE_NO_CACHE", raising=False)
    else:
        monkeypatch.setenv("SECPIPE_NO_CACHE", "1")
    run = run_pipeline(RunRequest(root=repo, config_file=repo.parent / "secpipe-test.yml",
                                  out_dir=out, use_hub=False))
    for stage in run.stages:
        for tool in stage.tools:
            assert tool.status is ToolStatus.OK, (tool.tool, tool.error)
    return Path(run.run_dir)


def _cache_holds(cache: Path, value: str) -> list[str]:
    forms = [value.encode(), json.dumps(value)[1:-1].encode()]
    return [str(p) for p in cache.rglob("*") if p.is_file()
            if any(form in p.read_bytes() for form in forms)]


_RUN_SPECIFIC = re.compile(r"(?:duration|_at$|run_id|run_dir|_s$)", re.I)


def _outputs(run_dir: Path) -> dict[str, object]:
    """raw/ byte for byte, logs/ without the cache's notes, the JSON outputs without what is
    the run's own (ids, times, places)."""
    run_id = run_dir.name
    out: dict[str, object] = {}
    for path in sorted(run_dir.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(run_dir).as_posix()
        if rel.startswith("raw/"):
            out[rel] = path.read_bytes()
        elif rel.startswith("logs/"):
            out[rel] = [line for line in path.read_text().splitlines()
                        if "scan cache" not in line]
        elif rel in ("findings.json", "summary.json"):
            out[rel] = _masked(json.loads(path.read_text().replace(run_id, "RUN")))
    assert any(k.startswith("raw/") for k in out) and "summary.json" in out, sorted(out)
    return out


def _masked(value: object) -> object:
    if isinstance(value, dict):
        return {k: "…" if _RUN_SPECIFIC.search(k) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def test_no_value_of_any_tool_in_the_cache_and_a_cached_run_equals_a_cold_one(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "scan-cache"
    first = _run(repo, tmp_path / "out-first", monkeypatch, cached=True)
    assert sorted(SCANS) == ["hadolint", "trufflehog3"]
    assert any(p.suffix == ".bin" for p in cache.rglob("*")), "nothing was cached"
    assert _cache_holds(cache, KEY) == []
    # the value masked in the tool's raw report and log as in raw/ and logs/
    assert KEY.encode() not in (first / "raw" / "dockerfile" / "hadolint.json").read_bytes()
    assert KEY not in (first / "logs" / "dockerfile-hadolint.log").read_text()
    # hadolint's finding quotes the key, as the run's outputs show it: its entry is dropped
    assert not list((cache / "v3" / "hadolint").rglob("*.jsonl"))
    assert list((cache / "v3" / "trufflehog3").rglob("*.jsonl"))

    SCANS.clear()
    cached = _run(repo, tmp_path / "out-cached", monkeypatch, cached=True)
    assert SCANS == ["hadolint"], "hadolint scans again, trufflehog3 is served"
    assert _cache_holds(cache, KEY) == []
    cold = _run(repo, tmp_path / "out-cold", monkeypatch, cached=False)
    assert _outputs(cached) == _outputs(cold) == _outputs(first)


def test_a_tool_served_from_the_cache_keeps_the_others_masked(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hadolint's report holds no value of the run: cached, and its raw/ as a cold run's."""
    monkeypatch.setattr(Hadolint, "scan", _clean_hadolint_scan)
    cache = tmp_path / "scan-cache"
    first = _run(repo, tmp_path / "out-first", monkeypatch, cached=True)
    SCANS.clear()
    cached = _run(repo, tmp_path / "out-cached", monkeypatch, cached=True)
    assert SCANS == []
    assert "reused whole" in (cached / "logs" / "dockerfile-hadolint.log").read_text()
    assert _cache_holds(cache, KEY) == []
    assert _cache_holds(cache, OWN), "the tool's log is cached (no value of the run)"
    cold = _run(repo, tmp_path / "out-cold", monkeypatch, cached=False)
    assert _outputs(cached) == _outputs(cold) == _outputs(first)


def _clean_hadolint_scan(self, req: ScanRequest) -> ScanOutcome:
    outcome = _hadolint_scan(self, req)
    report = [{"code": "DL3025", "column": 1, "file": "Dockerfile", "level": "warning",
               "line": 2, "message": "Use arguments JSON notation for CMD", "seen": KEY}]
    return ScanOutcome(reports=[RawReport("hadolint.json", json.dumps(report).encode())],
                       exit_code=0,
                       command=outcome.command, stderr=outcome.stderr)


def test_a_run_that_fails_before_its_scrub_writes_nothing_to_the_cache(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tools' turns are over (entries written, in a tool's turn, before this change), and
    the run dies before its scrub: the cache holds nothing, and the next run scans again."""
    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_scrub_values", dies)
    with pytest.raises(KeyboardInterrupt):
        _run(repo, tmp_path / "out-killed", monkeypatch, cached=True)
    assert sorted(SCANS) == ["hadolint", "trufflehog3"]
    cache = tmp_path / "scan-cache"
    assert not [p for p in cache.rglob("*") if p.is_file()], "the cache was written"
    monkeypatch.undo()
