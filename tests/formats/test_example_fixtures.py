"""The raw reports of `secpipe run examples/web`, kept as fixtures: each parses to the findings
the demo shows, so the suite checks every static-stage parser without ../shared."""

from __future__ import annotations

import pytest

from secpipe.formats import get_format, sniff
from secpipe.pipeline.identity import assign_identities
from tests.asserts import assert_valid_asff
from tests.conftest import OWN_FIXTURES

CASES = [
    ("hadolint", "hadolint/example-web.json", 4),
    ("checkov", "checkov/example-web.json", 22),
    ("detect-secrets", "detect-secrets/example-web.json", 3),
    ("git-secrets", "git-secrets/example-web-tree.txt", 3),
    ("git-secrets", "git-secrets/example-web-history.txt", 3),
    ("trufflehog3", "trufflehog3/example-web.json", 4),
    ("trivy", "trivy/example-web.json", 20),
]


@pytest.mark.parametrize("fmt, rel, count", CASES, ids=[c[1] for c in CASES])
def test_example_report_parses(fmt: str, rel: str, count: int) -> None:
    data = (OWN_FIXTURES / rel).read_bytes()
    findings = assign_identities(get_format(fmt).parse(data, rel))
    assert len(findings) == count
    assert sniff(data, rel).name == fmt
    assert_valid_asff(findings)
    assert len({f.fingerprint() for f in findings}) == len(findings)
