"""Big reports parse in bounded memory, or are refused naming the limit.

JSON-lines and text formats (trufflehog, kubeaudit, nuclei, falco, git-secrets) are read one
line at a time and fold repeats as they go: a 50 MB report costs the parser a few MB whatever
its size (bench/large_reports.py measures 500 MB). Formats read as one document (JSON, XML)
need 3-8 times a report's size in memory, so above SECPIPE_MAX_DOCUMENT_BYTES (256 MiB by
default) they are refused with a ReportFormatError that names the limit and the variable.
Reports are generated here, never committed. docs/reliability.md, "Size limits".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from secpipe.formats import ReportFormatError, get_format
from secpipe.formats.interface import (
    DEFAULT_MAX_DOCUMENT_BYTES, MAX_DOCUMENT_ENV, Document, max_document_bytes,
)
from tests.reliability.large_reports import STREAMING, generate

ROOT = Path(__file__).resolve().parents[2]
SIZE = 50_000_000
# What the parser may add to the process's peak RSS while reading 50 MB: measured at under
# 1 MB; the bound leaves room for allocator noise, and is far below one copy of the input.
GROWTH_BOUND_KB = 32 * 1024


@pytest.fixture(scope="module")
def measured() -> dict[str, dict]:
    """Each streaming format parsed in its own child process, all at once (they are CPU
    bound and independent): peak RSS before and after the parse."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'src'}")
    procs = {name: subprocess.Popen([sys.executable, "-m", "tests.reliability.large_reports",
                                     name, str(SIZE)], cwd=ROOT, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in STREAMING}
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name}: {stderr[-2000:]}"
        out[name] = json.loads(stdout)
    return out


@pytest.mark.parametrize("name", STREAMING)
def test_streaming_formats_parse_50_mb_in_bounded_memory(name: str, measured: dict) -> None:
    m = measured[name]
    assert m["error"] is None, m
    assert m["bytes"] >= SIZE * 0.95
    assert m["findings"] == 200, m      # 200 distinct results, repeated ~100k times
    growth = m["rss_after_kb"] - m["rss_before_kb"]
    assert growth < GROWTH_BOUND_KB, (
        f"{name}: parsing {m['bytes']} bytes raised the peak RSS by {growth} KB")


def test_streamed_lines_are_split_on_newline_only() -> None:
    """A JSON string may hold U+2028 or \\x1c raw; a streamed line is split on \\n alone."""
    row = {"AuditResultName": "X", "ResourceKind": "Pod", "ResourceName": "a\u2028b\x1cc",
           "level": "error", "msg": "m"}
    data = (json.dumps(row, ensure_ascii=False) + "\r\n").encode()
    [finding] = get_format("kubeaudit").parse(data, "k.jsonl")
    assert "a\u2028b\x1cc" in finding.resource.id


def _whole_document_formats() -> list[str]:
    from secpipe.formats import all_formats
    return sorted(set(all_formats()) - set(STREAMING))


@pytest.mark.parametrize("name", _whole_document_formats())
def test_whole_document_formats_refuse_reports_over_the_limit(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = 100_000
    monkeypatch.setenv(MAX_DOCUMENT_ENV, str(limit))
    for data in (b'{"a": "' + b"x" * 2 * limit + b'"}', b"<a>" + b"x" * 2 * limit + b"</a>"):
        fmt = get_format(name)
        try:
            fmt.parse(data, "big.report")
        except ReportFormatError as exc:
            message = str(exc)
        else:
            pytest.fail(f"{name} parsed a {len(data)}-byte report over a {limit}-byte limit")
        assert "big.report" in message and str(limit) in message and MAX_DOCUMENT_ENV in message, \
            f"{name}: {message}"


def test_the_limit_is_256_mib_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_DOCUMENT_ENV, raising=False)
    assert max_document_bytes() == DEFAULT_MAX_DOCUMENT_BYTES == 256 * 1024 * 1024
    monkeypatch.setenv(MAX_DOCUMENT_ENV, "1048576")
    assert max_document_bytes() == 1048576
    for junk in ("lots", "-5", "0", ""):
        monkeypatch.setenv(MAX_DOCUMENT_ENV, junk)
        assert max_document_bytes() == DEFAULT_MAX_DOCUMENT_BYTES


def test_sniffing_a_huge_report_reads_only_its_head(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--from auto` on a big report: whole-document JSON is not decoded past the limit, and
    JSON lines are sniffed from their first lines only."""
    from secpipe.formats import sniff

    monkeypatch.setenv(MAX_DOCUMENT_ENV, "1000")
    assert Document(b"[" + b"1," * 1000 + b"1]").json is None
    data = generate("trufflehog", 2_000_000)
    assert len(Document(data).json_lines or []) == 1000
    assert sniff(data, "th.jsonl").name == "trufflehog"
