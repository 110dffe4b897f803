"""The shipped severity table: every check of the pinned checkov has a severity and a basis."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from secpipe.formats import get_format
from secpipe.formats.checkov_severity import apply_overrides, resolve, table
from secpipe.model import Severity
from secpipe.tools import tool_env
from tests.conftest import ROOT

FMT = get_format("checkov")
sys.path.insert(0, str(ROOT / "tools"))
from gen_checkov_severities import parse_listing  # noqa: E402


def _checkov() -> str:
    exe = shutil.which("checkov", path=tool_env()["PATH"])
    if exe is None:
        pytest.skip("checkov is not installed (`secpipe tools install checkov`): the table "
                    "cannot be compared with its check list")
    return exe


def test_every_check_of_the_installed_checkov_has_an_entry() -> None:
    exe = _checkov()
    out = subprocess.run([exe, "--list", "--skip-download"], capture_output=True, text=True,
                         timeout=300, env=tool_env(), check=True).stdout
    ids = set(parse_listing(out))
    assert len(ids) > 1000, "checkov --list changed its layout: the listing parsed to few ids"
    missing = sorted(ids - set(table()))
    assert not missing, (f"{len(missing)} checks have no severity, e.g. {missing[:10]}: run "
                         "tools/gen_checkov_severities.py and review the diff")


def test_table_is_well_formed_and_spread() -> None:
    rows = table()
    assert all(basis.strip() for _sev, basis in rows.values())
    spread = {sev for sev, _ in rows.values()}
    assert spread == set(Severity), spread  # the point: not everything is MEDIUM
    assert rows["CKV_AWS_20"][0] is Severity.CRITICAL  # public-read S3 bucket
    assert rows["CKV2_AWS_61"][0] is Severity.LOW      # missing lifecycle rule
    assert rows["CKV_SECRET_2"][0] is Severity.CRITICAL
    assert rows["CKV_K8S_21"][0] is Severity.LOW


def _report(check_id: str, severity: str | None = None) -> bytes:
    return json.dumps({"check_type": "terraform", "results": {"failed_checks": [
        {"check_id": check_id, "check_name": "x", "file_path": "/main.tf",
         "file_line_range": [1, 3], "resource": "aws_s3_bucket.b", "severity": severity}]}}
    ).encode()


def test_parser_takes_the_table_when_checkov_states_nothing() -> None:
    (public,) = FMT.parse(_report("CKV_AWS_20"), "r.json")
    (lifecycle,) = FMT.parse(_report("CKV2_AWS_61"), "r.json")
    assert public.severity is Severity.CRITICAL and lifecycle.severity is Severity.LOW
    assert public.properties["severity_basis"].startswith("public exposure")
    assert public.severity_original is None  # checkov said nothing: the table's word, not its


def test_a_stated_severity_wins_over_the_table() -> None:
    (f,) = FMT.parse(_report("CKV_AWS_20", "LOW"), "r.json")
    assert f.severity is Severity.LOW and f.properties["severity_basis"] == "stated by checkov"


def test_unknown_check_defaults_to_medium_saying_so() -> None:
    sev, basis = resolve("CKV_NOPE_1", None, Severity.MEDIUM)
    assert sev is Severity.MEDIUM and "not in secpipe's severity table" in basis


def test_secpipe_yml_override() -> None:
    findings = [*FMT.parse(_report("CKV2_AWS_61"), "r.json"),
                *FMT.parse(_report("CKV_AWS_19", "LOW"), "r.json")]
    out = apply_overrides(findings, {"CKV2_AWS_61": "critical", "CKV_AWS_19": "high"})
    assert out[0].severity is Severity.CRITICAL
    assert out[0].properties["severity_basis"] == "secpipe.yml tools.checkov.severities"
    assert out[1].severity is Severity.LOW  # checkov's own word is never overridden
    with pytest.raises(ValueError, match="unknown severity 'urgent'"):
        apply_overrides(findings, {"CKV2_AWS_61": "urgent"})
