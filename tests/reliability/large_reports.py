"""Large reports made on the fly (never committed): a block of distinct results, repeated.

Used by tests/reliability/test_large_reports.py (tens of MB) and bench/large_reports.py
(500 MB). Each generator writes the format's real shape; the block holds `distinct` different
findings, so the parsed result is small and what a parse costs beyond the input is what the
parser itself holds. `measure()` runs in a child process and reports the child's peak RSS
before and after the parse, so the test process's own memory never blurs the figure.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Callable

STREAMING = ("trufflehog", "kubeaudit", "nuclei", "falco", "git-secrets")


def _key(i: int) -> str:
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    out, n = [], i
    for _ in range(16):
        out.append(digits[n % 32])
        n //= 32
    return "AKIA" + "".join(out)


def _trufflehog(i: int) -> dict:
    return {"SourceMetadata": {"Data": {"Filesystem": {"file": f"src/m{i}.py", "line": 3}}},
            "SourceID": 1, "SourceType": 15, "SourceName": "trufflehog - filesystem",
            "DetectorType": 2, "DetectorName": "AWS", "DecoderName": "PLAIN",
            "Verified": False, "Raw": _key(i), "RawV2": "", "Redacted": _key(i)[:8],
            "ExtraData": {"account": "123456789012"}, "StructuredData": None}


def _kubeaudit(i: int) -> dict:
    return {"AuditResultName": "RunAsNonRootPSCNilCSCNil", "ResourceKind": "Deployment",
            "ResourceName": f"web-{i}", "ResourceNamespace": "default",
            "ResourceApiVersion": "apps/v1", "Container": "web", "level": "error",
            "msg": "runAsNonRoot should be set to true or runAsUser should be set to a value "
                   "> 0 either in the container SecurityContext or PodSecurityContext.",
            "time": "2024-05-01T10:00:00Z"}


def _nuclei(i: int) -> dict:
    return {"template-id": f"exposed-panel-{i % 50}", "template-path": "http/exposed.yaml",
            "info": {"name": "Exposed panel", "severity": "medium", "tags": ["panel"],
                     "description": "An admin panel is reachable."},
            "type": "http", "host": f"http://10.0.{i % 250}.1:8080",
            "matched-at": f"http://10.0.{i % 250}.1:8080/admin/{i}",
            "ip": f"10.0.{i % 250}.1", "timestamp": "2024-05-01T10:00:00Z",
            "matcher-status": True}


def _falco(i: int) -> dict:
    return {"time": "2024-05-01T10:00:00.123456789Z",
            "rule": f"Terminal shell in container {i % 20}",
            "priority": "Notice", "source": "syscall", "hostname": "node-1",
            "output": "A shell was spawned in a container with an attached terminal",
            "output_fields": {"container.id": f"c0ffee{i:06d}", "container.name": f"web-{i}",
                              "proc.name": "bash", "user.name": "root",
                              "evt.time": 1714557600123456789},
            "tags": ["container", "shell", "mitre_execution"]}


def _git_secrets(i: int) -> str:
    commit = f"{i:040x}"
    return f"{commit}:config/settings{i}.py:3:AWS_ACCESS_KEY_ID = \"{_key(i)}\""


_LINES: dict[str, Callable[[int], str]] = {
    "trufflehog": lambda i: json.dumps(_trufflehog(i)),
    "kubeaudit": lambda i: json.dumps(_kubeaudit(i)),
    "nuclei": lambda i: json.dumps(_nuclei(i)),
    "falco": lambda i: json.dumps(_falco(i)),
    "git-secrets": _git_secrets,
}


def generate(name: str, size: int, distinct: int = 200) -> bytes:
    """About `size` bytes of the format: `distinct` different results, repeated."""
    block = ("\n".join(_LINES[name](i) for i in range(distinct)) + "\n").encode()
    return block * max(1, size // len(block))


def whole_document(size: int) -> bytes:
    """A whole-document JSON report (a SARIF log) of about `size` bytes."""
    result = {"ruleId": "r1", "level": "warning", "message": {"text": "x" * 200},
              "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a.py"},
                                                  "region": {"startLine": 1}}}]}
    one = json.dumps(result).encode()
    count = max(1, size // (len(one) + 1))
    head = (b'{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"t",'
            b'"rules":[{"id":"r1"}]}},"results":[')
    return head + b",".join([one] * count) + b"]}]}"


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(name: str, size: int) -> dict:
    """Generate, then parse, in this process: peak RSS (KB) before and after the parse."""
    from secpipe.formats import ReportFormatError, get_format

    data = whole_document(size) if name == "sarif" else generate(name, size)
    fmt = get_format(name)
    before = _rss_kb()
    start = time.perf_counter()
    error = None
    try:
        findings = len(fmt.parse(data, f"large.{name}"))
    except ReportFormatError as exc:
        findings, error = -1, str(exc)
    seconds = time.perf_counter() - start
    return {"format": name, "bytes": len(data), "findings": findings, "error": error,
            "seconds": round(seconds, 2), "rss_before_kb": before, "rss_after_kb": _rss_kb()}


if __name__ == "__main__":  # python -m tests.reliability.large_reports FORMAT BYTES
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
