"""Every registered report parser, fuzzed: findings that make valid ASFF, or ReportFormatError.

Three inputs per format (docs/reliability.md, "Parsers never crash"):
- a fixed corpus of the input classes that broke parsers before (every format gets all of
  them, so a new format inherits the regressions);
- documents shaped like the format's own reports, learned from its real reports, with
  hostile nodes (tests/reliability/fuzz_docs.py);
- the real reports, mutated: truncated, bytes flipped, JSON nodes swapped for hostile ones.

The oracle (fuzz_harness.check) also bounds each parse in time (SIGALRM, with faulthandler
as a backstop for hangs in C code) and in memory (tracemalloc peak <= 50 x input + 20 MB).
Examples are few and derandomized so `make test` stays repeatable and spends about a minute
here; bench/fuzz_formats.py runs the same strategies for as long as you like.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from secpipe.formats import all_formats, get_format
from tests.reliability import fuzz_harness as fh

EXAMPLES = 25
FORMATS = fh.format_names()
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None,
                    deadline=timedelta(seconds=fh.DEADLINE_S),
                    suppress_health_check=list(HealthCheck), print_blob=False)

# Input classes that broke a parser once (see the report of issue 8): each must now give
# findings or a ReportFormatError in every format.
KNOWN_HOSTILE = {
    "5000-digit integer": b'[{"line": ' + b"9" * 5000 + b"}]",
    "5000-digit integer, JSON lines": b'{"a": 1}\n{"line": ' + b"9" * 5000 + b"}\n",
    "lone surrogate": b'[{"code": "\\ud800", "file": "\\udfff", "message": "x"}]',
    "lone surrogate in a key": b'{"\\ud800": {"\\udc00": ["\\ud800"]}}',
    "Infinity where a number goes": b'[{"line": Infinity, "code": "DL1", "file": "f"}]',
    "NaN everywhere": b'[NaN, {"line": NaN, "severity": NaN}]',
    "float where a list goes": b'{"check_type": "terraform", "results": {"failed_checks": '
                               b'[{"check_id": "CKV_1", "details": 1.5}]}}',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "deep object nesting": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "nesting just inside the decoder's limit": b'[{"a":' + b"[" * 900 + b"]" * 900 + b"}]",
    "invalid UTF-8": b'[{"message": "\xff\xfe"}]',
    "UTF-16 with BOM": '[{"message": "x"}]'.encode("utf-16"),
    "BOM only": b"\xef\xbb\xbf",
    "NUL bytes": b"\x00" * 100,
    "XML entity bomb": fh.markup.BOMB + b"<r>&i;</r>",
    "XML external entity": fh.markup.XXE + b"<r>&x;</r>",
    "XML invalid character reference": b"<r>&#0;&#x110000;</r>",
    "duplicate keys": b'{"results": [], "results": {"failed_checks": 1}}',
}


# Format-specific inputs that broke a parser once: (format, what, document).
_ASFF = {"Id": "a", "Title": "t", "ProductArn": "p"}
SPECIFIC = [
    ("asff", "Infinity confidence, NaN CVSS score",
     json.dumps([{**_ASFF, "Confidence": float("inf"), "Vulnerabilities": [
         {"Id": "CVE-1", "Cvss": [{"BaseScore": float("nan")}]}]}]).encode()),
    ("asff", "a number where remediation text goes",
     json.dumps([{**_ASFF, "Remediation": {"Recommendation": {"Text": 7, "Url": [1]}},
                  "Vulnerabilities": [{"Id": "CVE-1", "VulnerablePackages": [
                      {"Name": 1, "Version": {}}]}]}]).encode()),
    ("checkov", "a float where the details list goes",
     b'{"check_type": "terraform", "results": {"failed_checks": [{"check_id": "CKV_1", '
     b'"check_name": "n", "file_path": "/a.tf", "resource": "r", "details": 1.5}]}}'),
    ("tfsec", "a list where the status goes",
     b'{"results": [{"rule_id": "r", "severity": "HIGH", "status": [1], '
     b'"location": {"filename": "a.tf", "start_line": 1}}]}'),
    ("sarif", "5,000-digit CWE ids and message arguments",
     json.dumps({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x", "rules": [
         {"id": "r", "helpUri": "https://cwe.mitre.org/data/definitions/" + "9" * 5000,
          "properties": {"tags": ["cwe-" + "9" * 5000], "cwe": "9" * 5000}}]}},
         "results": [{"ruleId": "r", "message": {"text": "{" + "9" * 5000 + "}",
                                                 "arguments": ["a"]},
                      "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a"}}}]
                      }]}]}).encode()),
    ("bandit", "5,000-digit line number in the code excerpt and CWE",
     json.dumps({"results": [{"test_id": "B101", "issue_text": "t", "filename": "a.py",
                              "line_number": 1, "issue_severity": "LOW",
                              "issue_confidence": "LOW", "code": "9" * 5000 + " x\n",
                              "line_range": [1], "issue_cwe": {"id": "9" * 5000}}],
                 "metrics": {}, "errors": []}).encode()),
    ("git-secrets", "5,000-digit line number", b"a.py:" + b"9" * 5000 + b":AKIAIOSFODNN7EXAMPLF"),
    ("git-secrets", "a form feed inside a matched line", b"a.py:1:x\x0cAKIAIOSFODNN7EXAMPLF"),
    ("ecr", "8 MB strings where lists go (walked character by character: 30 s)",
     json.dumps({"imageScanFindings": {"enhancedFindings": [{
         "awsAccountId": "123456789012", "description": "d", "findingArn": "arn:x",
         "severity": "HIGH", "status": "ACTIVE", "title": "CVE-2020-1 - lodash",
         "type": "PACKAGE_VULNERABILITY", "packageVulnerabilityDetails": {
             "vulnerabilityId": "CVE-2020-1", "referenceUrls": "A" * 8_000_000,
             "relatedVulnerabilities": "B" * 100, "source": "NVD",
             "vulnerablePackages": [{"name": "lodash", "version": "1.0"}]}}]}}).encode()),
    ("kubeaudit", "an extra field nested 900 deep (recursion)",
     b'{"AuditResultName": "X", "ResourceKind": "Pod", "ResourceName": "a", "level": "error", '
     b'"msg": "m", "Extra": ' + b"[" * 900 + b"]" * 900 + b"}\n"),
    ("hadolint", "Infinity as a line number",
     b'[{"line": Infinity, "code": "DL3006", "message": "m", "column": 1, "file": "D", '
     b'"level": "warning"}]'),
]

# Fields a regex read in quadratic time (ReDoS): a megabyte of the wrong text took hours.
_WAPITI = {"vulnerabilities": {"Backup file": [{"method": "GET", "path": "/a", "info": "x",
                                                "level": 1}]},
           "classifications": {"Backup file": {"desc": "d", "sol": "s", "ref": {}}},
           "infos": {"target": "A" * 1_000_000}, "anomalies": {}, "additionals": {}}
_BANDIT = {"results": [{"test_id": "B105", "issue_text": ":'" * 500_000 + "x",
                        "filename": "a.py", "line_number": 1, "issue_severity": "LOW",
                        "issue_confidence": "MEDIUM", "code": "1 x\n", "line_range": [1]}],
           "metrics": {}, "errors": []}
_ANCHORE = {"imageDigest": "sha256:x", "vulnerability_type": "all", "vulnerabilities": [
    {"package": "-1" * 500_000 + "\nx", "package_type": "dpkg", "severity": "Medium",
     "vuln": "CVE-2011-3374", "url": "https://x", "feed_group": "debian:9"}]}
REDOS = [("wapiti", _WAPITI), ("bandit", _BANDIT), ("anchore-engine", _ANCHORE)]


@pytest.fixture(scope="module", autouse=True)
def traced_memory():
    """tracemalloc on for the module: the oracle measures each parse's peak."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    yield
    if started:
        tracemalloc.stop()


def _format(name: str):
    fmt = get_format(name)
    if fh.placeholder(fmt):
        pytest.skip(f"{name}: the parser is still a placeholder (NotImplementedError)")
    return fmt


def _checked(fmt, data: bytes, keep: Path) -> None:
    """The oracle; on a break, the input is kept on disk and named in the failure."""
    try:
        fh.check(fmt, data)
    except fh.ParserBug as bug:
        path = keep / f"{fmt.name}-{hashlib.sha256(data).hexdigest()[:12]}.bin"
        path.write_bytes(data)
        raise fh.ParserBug(f"{bug}\n  input ({len(data)} bytes) kept in {path}") from bug


def test_every_format_is_fuzzed_from_its_real_reports() -> None:
    """A new format must say where its real reports are, so the fuzzer learns its shape."""
    missing = sorted(set(all_formats()) - set(fh.FIXTURE_DIRS))
    assert not missing, f"add these formats to FIXTURE_DIRS in fuzz_harness.py: {missing}"


@pytest.mark.parametrize("name", FORMATS)
def test_known_hostile_inputs(name: str, tmp_path: Path) -> None:
    fmt = _format(name)
    for label, data in KNOWN_HOSTILE.items():
        try:
            _checked(fmt, data, tmp_path)
        except fh.ParserBug as bug:
            raise fh.ParserBug(f"[{label}] {bug}") from bug


@pytest.mark.parametrize("name", FORMATS)
def test_shaped_hostile_documents(name: str, tmp_path: Path) -> None:
    fmt = _format(name)

    @SETTINGS
    @given(fh.structured(name))
    def run(data: bytes) -> None:
        _checked(fmt, data, tmp_path)

    run()


@pytest.mark.parametrize("name", FORMATS)
def test_mutated_real_reports(name: str, tmp_path: Path) -> None:
    fmt = _format(name)
    if not fh.seeds(name):
        pytest.skip(f"no real {name} report in ../shared/fixtures or tests/fixtures to mutate")

    @SETTINGS
    @given(fh.mutated(name))
    def run(data: bytes) -> None:
        _checked(fmt, data, tmp_path)

    run()


def test_the_oracle_catches_what_it_must() -> None:
    """The harness itself: a crash, a hang and a memory hog are each reported as a bug."""
    from secpipe.formats.interface import ReportFormat

    def crash(data: bytes, source: str):
        raise KeyError("boom")

    def hang(data: bytes, source: str):
        while True:
            pass

    def hog(data: bytes, source: str):
        blob = bytearray(64 * 1024 * 1024)
        return [] if blob else []

    def leaky_error(data: bytes, source: str):
        from secpipe.formats import ReportFormatError
        raise ReportFormatError("somewhere-else", "bad")

    for parse, expected in ((crash, "KeyError"), (hog, "peak"),
                            (leaky_error, "without the source name")):
        with pytest.raises(fh.ParserBug, match=expected):
            fh.check(ReportFormat("probe", "probe", parse), b"{}")
    with pytest.raises(fh.ParserBug, match="hang"):
        fh.check(ReportFormat("probe", "probe", hang), b"{}", deadline=0.5)


@pytest.mark.parametrize("name, what, data", SPECIFIC, ids=[f"{n}: {w}" for n, w, _ in SPECIFIC])
def test_inputs_that_broke_a_parser_once(name: str, what: str, data: bytes,
                                         tmp_path: Path) -> None:
    _checked(_format(name), data, tmp_path)


@pytest.mark.parametrize("name, doc", REDOS, ids=[n for n, _ in REDOS])
def test_no_regex_denial_of_service(name: str, doc: dict, tmp_path: Path) -> None:
    """A megabyte of adversarial text in one field parses in linear time. Run in a child
    process: a regex stuck in C code cannot be interrupted, only killed."""
    report = tmp_path / "report.json"
    report.write_text(json.dumps(doc))
    code = ("import sys; from secpipe.formats import get_format, ReportFormatError\n"
            "try: get_format(sys.argv[1]).parse(open(sys.argv[2], 'rb').read(), 'r')\n"
            "except ReportFormatError: pass\n")
    try:
        done = subprocess.run([sys.executable, "-c", code, name, str(report)],
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: still parsing a 1 MB field after 120 s (quadratic regex)")
    assert done.returncode == 0, done.stderr
