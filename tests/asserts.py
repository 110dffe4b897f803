"""Assertions every format test shares: findings must always serialise to valid ASFF."""

from __future__ import annotations

from typing import Iterable

from secpipe.model import Finding, SourceContext, to_asff, validate_asff

CTX = SourceContext(repo="example", branch="main", commit="0" * 40, run_id="test", stage="test")


def assert_valid_asff(findings: Iterable[Finding]) -> None:
    for finding in findings:
        obj = to_asff(finding, CTX)
        problems = validate_asff(obj)
        assert not problems, f"{finding.tool}/{finding.rule_id}: {problems}"
