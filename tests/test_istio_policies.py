"""secpipe's Istio checks (CKV_SECPIPE_ISTIO_1..10) through the real checkov, and the example's chart.

Each check has manifests in tests/fixtures/istio/ that trip it and a corrected twin that does not.
checkov runs once per folder (each run costs seconds): `namespaced/` holds every case, each in its
own namespace so the cross-resource checks do not see each other's resources; `mesh-root/` holds
mesh-wide policies in istio-system, which would cover every namespace of the other folder.

Failures are read through secpipe's checkov parser (severity, remediation); passes from the raw
report, since a pass is no finding. A twin must be *evaluated* (a PASSED record), not merely
ignored, so a check that silently stops applying fails the test.

Needs the scanners (`secpipe tools install`, which `make test` runs first).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from secpipe.formats import get_format
from secpipe.model import Severity
from secpipe.policies import ISTIO_POLICY_DIR
from secpipe.scanners.checkov import Checkov
from secpipe.scanners.interface import ScanRequest
from secpipe.tools import tool_env
from tests.asserts import assert_valid_asff
from tests.conftest import ROOT

pytestmark = pytest.mark.tools

FIXTURES = Path(__file__).parent / "fixtures" / "istio"
CHART = ROOT / "examples" / "web" / "helm" / "web"
IDS = [f"CKV_SECPIPE_ISTIO_{n}" for n in range(1, 11)]
F, P = "FAILED", "PASSED"


def _i(n: int) -> str:
    return f"CKV_SECPIPE_ISTIO_{n}"


# file -> {check id: FAILED | PASSED}. A file's failed Istio checks must be exactly its FAILED
# entries (the trip is precise); PASSED entries must show up as evaluated and passed.
NAMESPACED: dict[str, dict[str, str]] = {
    "istio1-fail-permissive.yaml": {_i(1): F},
    "istio1-fail-disable.yaml": {_i(1): F},
    "istio1-fail-unset.yaml": {_i(1): F},
    "istio1-pass.yaml": {_i(1): P, _i(2): P},
    "istio2-fail.yaml": {_i(2): F, _i(1): P},
    "istio2-pass.yaml": {_i(2): P, _i(1): P},
    "istio3-fail.yaml": {_i(3): F, _i(5): P},
    "istio3-pass.yaml": {_i(3): P, _i(5): P, _i(10): P},
    "istio3-pass-selector.yaml": {_i(3): P},
    "istio4-fail.yaml": {_i(4): F},
    "istio4-pass.yaml": {_i(4): P},
    "istio4-external-simple.yaml": {},
    "istio5-fail.yaml": {_i(5): F, _i(3): P, _i(6): P},
    "istio5-pass.yaml": {_i(5): P},
    "istio5-pass-deny-all.yaml": {_i(5): P},
    "istio6-fail.yaml": {_i(6): F},
    "istio6-pass.yaml": {_i(6): P},
    "istio7-fail.yaml": {_i(7): F, _i(8): P},
    "istio7-pass.yaml": {_i(7): P, _i(8): P},
    "gateway-api-ignored.yaml": {},
    "istio8-fail-https.yaml": {_i(8): F},
    "istio8-fail-http-routes.yaml": {_i(8): F, _i(7): P},
    "istio8-pass.yaml": {_i(8): P, _i(7): P},
    "istio9-fail.yaml": {_i(9): F},
    "istio9-fail-disabled.yaml": {_i(9): F},
    "istio9-pass.yaml": {_i(9): P, _i(3): P, _i(5): P},
    "istio10-fail.yaml": {_i(10): F, _i(9): P},
    "istio10-fail-annotation.yaml": {_i(10): F},
    "istio10-pass.yaml": {_i(10): P, _i(9): P},
    "no-mesh.yaml": {},
    "odd-shapes.yaml": {_i(1): F, _i(4): P, _i(6): P, _i(7): P, _i(8): P},
}
MESH_ROOT: dict[str, dict[str, str]] = {
    "mesh-wide.yaml": {_i(1): P, _i(6): P},
    "inherits.yaml": {_i(1): P, _i(3): P, _i(5): P, _i(9): P, _i(10): P},
}
# Resources the trips must name: several per file where a file holds several bad resources.
TRIPPED_RESOURCES = {
    "istio4-fail.yaml": {"DestinationRule.i4-weak.reviews", "DestinationRule.i4-weak.ratings"},
    "istio6-fail.yaml": {"AuthorizationPolicy.i6-open.admin-open",
                         "AuthorizationPolicy.i6-open.any-principal",
                         "AuthorizationPolicy.i6-open.allow-all"},
    "istio9-fail.yaml": {"Namespace.default.i9-bare"},
    "istio10-fail-annotation.yaml": {"CronJob.i10-elsewhere.report"},
}
EXPECTED_SEVERITY = {1: "HIGH", 2: "MEDIUM", 3: "HIGH", 4: "HIGH", 5: "MEDIUM", 6: "HIGH",
                     7: "MEDIUM", 8: "MEDIUM", 9: "HIGH", 10: "HIGH"}


def _env() -> dict[str, str]:
    env = tool_env()
    for exe in ("checkov", "helm"):
        if not shutil.which(exe, path=env["PATH"]):
            pytest.fail(f"{exe} is not installed: run `secpipe tools install` (make test does)")
    env.setdefault("BC_SKIP_MAPPING", "TRUE")
    env.setdefault("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
    return env


def _checkov(folder: Path, out: Path) -> bytes:
    """One checkov run over a folder of manifests, only the Istio checks, JSON report bytes."""
    env = _env()
    argv = [shutil.which("checkov", path=env["PATH"]), "-d", ".", "--framework", "kubernetes",
            "--external-checks-dir", str(ISTIO_POLICY_DIR), "--check", ",".join(IDS),
            "-o", "json", "--output-file-path", str(out), "--skip-download"]
    run = subprocess.run(argv, cwd=folder, env=env, capture_output=True, timeout=600)
    assert run.returncode in (0, 1), run.stderr.decode(errors="replace")[-2000:]
    return (out / "results_json.json").read_bytes()


class Results:
    """Failed findings (secpipe's parser) and passed check ids (raw report) per file."""

    def __init__(self, data: bytes, source: str) -> None:
        self.findings = get_format("checkov").parse(data, source)
        self.failed: dict[str, list] = defaultdict(list)
        for finding in self.findings:
            if finding.rule_id.startswith("CKV_SECPIPE_ISTIO_"):
                self.failed[finding.location.path].append(finding)
        self.passed: dict[str, set[str]] = defaultdict(set)
        doc = json.loads(data)
        for report in doc if isinstance(doc, list) else [doc]:
            for item in report.get("results", {}).get("passed_checks", []):
                path = item["file_path"].lstrip("/")
                self.passed[path].add(item["check_id"])

    def failed_ids(self, path: str) -> set[str]:
        return {f.rule_id for f in self.failed.get(path, [])}


@pytest.fixture(scope="module")
def namespaced(tmp_path_factory: pytest.TempPathFactory) -> Results:
    out = tmp_path_factory.mktemp("namespaced")
    return Results(_checkov(FIXTURES / "namespaced", out), "namespaced")


@pytest.fixture(scope="module")
def mesh_root(tmp_path_factory: pytest.TempPathFactory) -> Results:
    out = tmp_path_factory.mktemp("mesh-root")
    return Results(_checkov(FIXTURES / "mesh-root", out), "mesh-root")


def test_every_fixture_is_listed() -> None:
    assert {p.name for p in (FIXTURES / "namespaced").glob("*.yaml")} == set(NAMESPACED)
    assert {p.name for p in (FIXTURES / "mesh-root").glob("*.yaml")} == set(MESH_ROOT)


def test_every_check_has_a_trip_and_a_twin() -> None:
    expected = {**NAMESPACED, **MESH_ROOT}
    for check in IDS:
        assert any(e.get(check) == F for e in expected.values()), f"{check}: no manifest trips it"
        assert any(e.get(check) == P for e in expected.values()), f"{check}: no passing twin"


@pytest.mark.parametrize("name", sorted(NAMESPACED))
def test_namespaced_cases(namespaced: Results, name: str) -> None:
    _assert_case(namespaced, name, NAMESPACED[name])


@pytest.mark.parametrize("name", sorted(MESH_ROOT))
def test_mesh_wide_policies_cover_every_namespace(mesh_root: Results, name: str) -> None:
    _assert_case(mesh_root, name, MESH_ROOT[name])


def _assert_case(results: Results, name: str, expected: dict[str, str]) -> None:
    trips = {check for check, outcome in expected.items() if outcome == F}
    assert results.failed_ids(name) == trips, (name, results.failed_ids(name))
    passes = {check for check, outcome in expected.items() if outcome == P}
    assert passes <= results.passed[name], (name, passes - results.passed[name])
    assert not trips & results.passed[name], name  # no resource passes the check it trips
    if name in TRIPPED_RESOURCES:
        assert {f.resource.id for f in results.failed[name]} == TRIPPED_RESOURCES[name]


def test_findings_carry_severity_and_remediation(namespaced: Results) -> None:
    seen = set()
    for findings in namespaced.failed.values():
        for f in findings:
            n = int(f.rule_id.rsplit("_", 1)[1])
            seen.add(n)
            assert f.severity is Severity[EXPECTED_SEVERITY[n]], f.rule_id
            assert f.severity_original == EXPECTED_SEVERITY[n]
            assert f.remediation and len(f.remediation) <= 512, f.rule_id
            assert f.remediation_url and f.remediation_url.startswith("https://istio.io/"), f.rule_id
            assert f.location_key and f.rule_id in f.location_key
            assert_valid_asff([f])
    assert seen == set(range(1, 11))


# --- the example's chart -------------------------------------------------------------------------

def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    env = _env()
    run = subprocess.run([shutil.which("helm", path=env["PATH"]), *args], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run


@pytest.mark.parametrize("enabled", [True, False])
def test_chart_lints_and_renders(enabled: bool) -> None:
    flag = f"istio.enabled={str(enabled).lower()}"
    _helm("lint", str(CHART), "--set", flag)
    kinds = [line.split(":", 1)[1].strip() for line in
             _helm("template", "web", str(CHART), "--set", flag).stdout.splitlines()
             if line.startswith("kind:")]
    istio = {"Gateway", "VirtualService", "PeerAuthentication", "AuthorizationPolicy"}
    assert {"Deployment", "Service"} <= set(kinds)
    assert (istio <= set(kinds)) if enabled else not istio & set(kinds)


def _chart_copy(parent: Path, enabled: bool) -> Path:
    dest = parent / "web"  # checkov maps rendered paths back to templates when dir == chart name
    shutil.copytree(CHART, dest)
    values = dest / "values.yaml"
    text = values.read_text()
    assert "istio:\n  enabled: true\n" in text  # the demo's default: in the mesh
    if not enabled:
        values.write_text(text.replace("istio:\n  enabled: true\n", "istio:\n  enabled: false\n"))
    return dest


def _scan(root: Path, workdir: Path, **options) -> tuple[Results, list[str]]:
    """The IaC stage's checkov adapter itself, helm framework only."""
    req = ScanRequest(root=root, workdir=workdir, options={"frameworks": ["helm"], **options},
                      timeout=600, env=_env())
    outcome = Checkov().scan(req)
    return Results(outcome.reports[0].data, "checkov.json"), outcome.command


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Results, list[str]]:
    root = tmp_path_factory.mktemp("charts")
    _chart_copy(root / "istio", True)
    _chart_copy(root / "plain", False)  # same chart name, release namespace unset in both
    return _scan(root, tmp_path_factory.mktemp("work"))


def test_adapter_enables_the_istio_policies_by_default(charts) -> None:
    _, command = charts
    i = command.index("--external-checks-dir")
    assert Path(command[i + 1]) == ISTIO_POLICY_DIR


def test_the_demo_weakness_is_found_through_the_chart(charts) -> None:
    results, _ = charts
    path = "istio/web/templates/istio-peerauthentication.yaml"
    assert results.failed_ids(path) == {_i(1)}
    (finding,) = results.failed[path]
    assert finding.severity is Severity.HIGH and finding.properties["check_type"] == "helm"
    assert "STRICT" in finding.remediation
    # Exactly one deliberate mesh weakness: no other Istio check fails anywhere in the chart...
    istio_failures = {p: ids for p in results.failed if (ids := results.failed_ids(p))}
    assert istio_failures == {path: {_i(1)}}
    # ...while the checks did look at it: the gateway, policies and workload pass.
    passed = {c for p, ids in results.passed.items() if p.startswith("istio/") for c in ids}
    assert {_i(2), _i(3), _i(5), _i(6), _i(7), _i(8), _i(10)} <= passed
    # and checkov's own checks ran alongside.
    assert any(f.rule_id.startswith("CKV_K8S_") and f.location.path.startswith("istio/")
               for f in results.findings)


def test_chart_without_istio_has_no_istio_results(charts) -> None:
    results, _ = charts
    plain = [p for p in {*results.failed, *results.passed} if p.startswith("plain/")]
    assert plain, "the chart without Istio was not scanned"
    for path in plain:
        assert not results.failed_ids(path)
        assert not {c for c in results.passed[path] if c.startswith("CKV_SECPIPE_ISTIO_")}


def test_istio_false_leaves_the_policies_out(tmp_path: Path) -> None:
    _chart_copy(tmp_path / "src", True)
    results, command = _scan(tmp_path / "src", tmp_path / "work", istio=False)
    assert str(ISTIO_POLICY_DIR) not in command
    assert not any(f.rule_id.startswith("CKV_SECPIPE_ISTIO_") for f in results.findings)
    assert any(f.rule_id.startswith("CKV_K8S_") for f in results.findings)
