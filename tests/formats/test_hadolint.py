from __future__ import annotations

import pytest

from secpipe.formats import ReportFormatError, get_format
from secpipe.model import Severity
from tests.asserts import assert_valid_asff, check_fixtures
from tests.conftest import OWN_FIXTURES, manifest, shared_fixture_dir

FMT = get_format("hadolint")


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("hadolint")
    expected = manifest("hadolint")
    assert expected, "MANIFEST.tsv lists no hadolint fixture"
    check_fixtures(FMT, folder, expected)


def test_own_fixture_from_the_example() -> None:
    data = (OWN_FIXTURES / "hadolint" / "example-web.json").read_bytes()
    findings = FMT.parse(data, "example-web.json")
    assert findings, "the example's Dockerfile is deliberately flawed"
    assert all(f.location and f.location.path.endswith("Dockerfile") for f in findings)
    assert_valid_asff(findings)


def test_levels_map_to_severity() -> None:
    data = b'[{"line":3,"code":"DL3002","message":"Last USER should not be root","column":1,"file":"Dockerfile","level":"error"},{"line":1,"code":"DL3006","message":"tag","column":1,"file":"Dockerfile","level":"style"}]'
    first, second = FMT.parse(data, "x.json")
    assert first.severity is Severity.HIGH and first.location.start_line == 3
    assert second.severity is Severity.INFORMATIONAL


@pytest.mark.parametrize("bad", [b"", b"{", b'{"a": 1}', b"[1, 2]", b'[{"line": 1}]'])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)
