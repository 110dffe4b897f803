"""The values' scrub as soon as the last tool is done gives the run it gave after the judging.

`runner._scrub_values` runs before the last stage is judged and before the run's correlation
(the run's peak memory was there, with the scrub's automaton and copies alive). Whichever
comes first, raw/, logs/, the findings and summary.json must be the same; a value one tool
saw in clear and another reported only by its SHA-1 is scrubbed in both forms either way.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from secpipe.pipeline import runner
from secpipe.pipeline.api import RunRequest, run_pipeline

CONFIG = ("version: 1\nproject: {name: early}\n"
          "stages:\n  secrets: {tools: [trufflehog3, detect-secrets], fail_on: low}\n"
          "  iac: {tools: [checkov], fail_on: medium}\n")


def _fake(version: str, out_flag: str, write: str, status: int) -> str:
    """A tool that prints its version, or writes the prepared report where it is asked to."""
    return (f'#!/bin/sh\nif [ "$1" = --version ]; then echo "{version}"; exit 0; fi\n'
            f'for a in "$@"; do [ "$prev" = "{out_flag}" ] && out=$a; prev=$a; done\n'
            f'{write}\nexit {status}\n')


FAKES = {
    "trufflehog3": _fake("trufflehog3 3.0.10", "--output",
                         'cp "{r}/trufflehog3.json" "$out"; echo "scan of {leak} done" >&2', 2),
    "detect-secrets": _fake("1.5.0", "-", 'cat "{r}/detect-secrets.json"', 0),
    "checkov": _fake("3.3.30", "--output-file-path",
                     'cp "{r}/checkov.json" "$out/results_json.json"', 1),
}

VALUES = [f"Zq{i:02d}x7LmN3pQ9rT5vW1yB8dF4hJ6kS2gA" for i in range(12)]


def _tools(root: Path) -> Path:
    reports = root / "reports"
    reports.mkdir()
    th = [{"rule": {"id": "high-entropy", "message": "High Entropy", "severity": "LOW"},
           "path": f"src/f{i % 3}.js", "line": str(i + 1), "secret": value,
           "context": {str(i + 1): f'key = "{value}"'}, "id": f"{i:032x}",
           "branch": "origin/main", "message": "m", "author": "dev",
           "commit": f"{i:040x}", "date": "2024-01-01T00:00:00"}
          for i, value in enumerate(VALUES)]
    # detect-secrets reports only a SHA-1: of a value trufflehog3 saw in clear, and another
    sha1 = hashlib.sha1(VALUES[0].encode()).hexdigest()
    ds = {"version": "1.5.0", "plugins_used": [], "filters_used": [],
          "generated_at": "2026-01-01T00:00:00Z",
          "results": {"conf/a.py": [{"type": "Secret Keyword", "filename": "conf/a.py",
                                     "hashed_secret": h, "is_verified": False,
                                     "line_number": n}
                                    for n, h in enumerate((sha1, "ab" * 20), 1)]}}
    failed = [{"check_id": f"CKV_AWS_{i}", "check_name": f"check {i}",
               "check_result": {"result": "FAILED"}, "file_path": "/main.tf",
               "file_line_range": [1, 3], "resource": f"aws_s3_bucket.b{i}",
               "check_class": "x", "severity": None, "guideline": None,
               "details": [f"holds {VALUES[1]}"]} for i in range(5)]
    ck = [{"check_type": "terraform",
           "results": {"passed_checks": [], "failed_checks": failed, "skipped_checks": [],
                       "parsing_errors": []},
           "summary": {"passed": 0, "failed": 5, "skipped": 0, "parsing_errors": 0,
                       "resource_count": 5, "checkov_version": "3.3.30"}}]
    for name, doc in (("trufflehog3.json", th), ("detect-secrets.json", ds),
                      ("checkov.json", ck)):
        (reports / name).write_text(json.dumps(doc, indent=2))
    tools = root / "tools"
    (tools / "bin").mkdir(parents=True)
    for name, body in FAKES.items():
        exe = tools / "bin" / name
        exe.write_text(body.replace("{r}", str(reports)).replace("{leak}", VALUES[2]))
        exe.chmod(0o755)
    return tools


def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository scanned by the fake tools, with a fingerprint key of its own."""
    monkeypatch.setenv("SECPIPE_TOOLS_DIR", str(_tools(tmp_path)))
    (tmp_path / "key").write_text("0f" * 32)
    (tmp_path / "key").chmod(0o600)
    monkeypatch.setenv("SECPIPE_FINGERPRINT_KEY_FILE", str(tmp_path / "key"))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "secpipe.yml").write_text(CONFIG)
    (repo / "main.tf").write_text('resource "aws_s3_bucket" "b" {}\n')
    return repo


def _mask(text: str, run_dir: Path) -> str:
    text = text.replace(run_dir.name, "RUN")
    text = re.sub(r"/tmp/secpipe-[^/\s\"]+|/[^\s\"]*?/secpipe-\d+-[a-z0-9_]+", "SCRATCH", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?", "TS", text)
    text = re.sub(r'"(duration_s|wall_s|secpipe_cpu_s)": [0-9.e-]+', r'"\1": 0', text)
    return re.sub(r'"time": ?\d+', '"time": 0', text)


def _outputs(run_dir: Path) -> dict[str, str]:
    names = ["findings.asff.json", "summary.json"]
    files = [p for p in sorted(run_dir.rglob("*")) if p.is_file()
             and (p.relative_to(run_dir).parts[0] in ("raw", "logs") or p.name in names)]
    return {str(p.relative_to(run_dir)): _mask(p.read_text(encoding="utf-8"), run_dir)
            for p in files}


@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "scan-cache"])
def test_the_early_scrub_gives_the_same_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            cache: bool) -> None:
    repo = project(tmp_path, monkeypatch)
    got = {}
    for early in (True, False):
        if cache:
            monkeypatch.delenv("SECPIPE_NO_CACHE", raising=False)
            monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / f"cache-{early}"))
        monkeypatch.setattr(runner, "SCRUB_EARLY", early)
        out = tmp_path / f"out-{early}"
        result = run_pipeline(RunRequest(root=repo, out_dir=out, use_hub=False))
        assert [len(s.findings) for s in result.stages] == [len(VALUES) + 2, 5]
        got[early] = _outputs(Path(result.run_dir))
    assert got[True] == got[False]
    written = "\n".join(text for name, text in got[True].items()   # raw/ and logs/
                         if name.startswith(("raw/", "logs/")))
    assert "raw/secrets/trufflehog3.json" in got[True] and "raw/iac/checkov.json" in got[True]
    for value in VALUES:
        assert value not in written
    assert hashlib.sha1(VALUES[0].encode()).hexdigest() not in written
