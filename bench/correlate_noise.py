"""How long the noise filter and the correlation take on a WrongSecrets-sized stage.

Builds, in a temporary tree, 40 copies of the example's real package-lock.json (as `.bak`
copies, so only content identifies them), one trufflehog3-style entropy finding per hash line
(about WrongSecrets' 4,364 lockfile findings and more), 300 leaked values each reported by three
tools, and the checkov + trivy reports of tests/fixtures repeated over 50 folders; then times
`drop_not_secrets`, `correlate` and `grade_entropy` as a stage runs them.

    PYTHONPATH=src python bench/correlate_noise.py
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

from secpipe.formats import get_format
from secpipe.formats._secrets import secret_finding
from secpipe.model import Secret, SecretCollector, Severity, collecting
from secpipe.pipeline.correlate import correlate
from secpipe.pipeline.noise import drop_not_secrets, grade_entropy

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="secpipe-bench-"))
    try:
        lock = (ROOT / "examples" / "web" / "package-lock.json").read_text()
        hash_lines = [i for i, line in enumerate(lock.splitlines(), 1) if "integrity" in line]
        findings = []
        collector = SecretCollector()
        with collecting(collector):
            for n in range(40):
                (tmp / f"lock-{n}.json.bak").write_text(lock)
                findings += [secret_finding(tool="trufflehog3", rule_id="high-entropy",
                                            kind="High Entropy", path=f"lock-{n}.json.bak",
                                            line=i, secret=Secret.from_value(f"v{n}-{i}" * 3),
                                            severity=Severity.MEDIUM) for i in hash_lines]
            for n in range(300):
                value = hashlib.sha256(str(n).encode()).hexdigest()[:40]
                path = f"src/m{n}.py"
                for tool, rule in (("git-secrets", "aws-secret-access-key"),
                                   ("trufflehog3", "high-entropy")):
                    findings.append(secret_finding(tool=tool, rule_id=rule, kind=rule, path=path,
                                                   line=3, secret=Secret.from_value(value)))
                sha1 = hashlib.sha1(value.encode()).hexdigest()
                findings.append(secret_finding(
                    tool="detect-secrets", rule_id="base64-high-entropy-string", kind="b64",
                    path=path, line=3, secret=Secret.from_hash(sha1),
                    properties={"hash_algorithm": "sha1"}))
        fixtures = ROOT / "tests" / "fixtures"
        checkov = list(get_format("checkov").parse(
            (fixtures / "checkov" / "checkov-3.3.30-multi.json").read_bytes()))
        trivy = list(get_format("trivy").parse(
            (fixtures / "trivy" / "trivy-0.76-config.json").read_bytes()))
        for n in range(50):
            for f in checkov + trivy:
                loc = f.location
                moved = loc.__class__(f"d{n}/{loc.path}", loc.start_line, loc.end_line) \
                    if loc else None
                findings.append(f.with_(location=moved, location_key=f"{f.location_key}#{n}"))
        secret_count = sum(1 for f in findings if f.category.value == "secret")
        print(f"{len(findings)} findings ({secret_count} secret), "
              f"{len(collector.values)} clear values")

        t0 = time.perf_counter()
        kept, dropped = drop_not_secrets(findings, tmp)
        t1 = time.perf_counter()
        ids = [f"secpipe/{f.tool}/{f.fingerprint()}" for f in kept]
        correlated = correlate(kept, id_of=lambda i, f: ids[i],
                               secret_values=collector.values)
        t2 = time.perf_counter()
        graded = grade_entropy(correlated)
        t3 = time.perf_counter()
        issues = len({f.issue_key for f in graded})
        multi = sum(1 for f in graded if f.related)
        print(f"drop_not_secrets: {t1 - t0:.3f}s, dropped {dict(dropped)}, kept {len(kept)}")
        print(f"correlate:        {t2 - t1:.3f}s, {issues} issues, {multi} findings with related")
        print(f"grade_entropy:    {t3 - t2:.3f}s, "
              f"{sum(1 for f in graded if f.properties.get('noise'))} entropy-only set to LOW")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
