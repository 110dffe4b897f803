"""Every report fed to every parser: only its own format may read it.

A parser that reads another tool's report as "0 findings" turns a wrong `--from` into a green
build (`--from trivy` used to read any JSON array, a checkov or hadolint report included, as
nothing found). So each parser checks its format's signature before reading, and this test
feeds every fixture - the third-party ones of ../shared/fixtures (MANIFEST.tsv) and secpipe's
own tests/fixtures - to every registered parser. A report may be accepted by its own format,
and by the formats it legitimately shares a shape with (the table below, also in
docs/formats.md); every other parser must raise ReportFormatError naming the file. `--from
auto` must pick a format that accepts the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secpipe.formats import ReportFormatError, all_formats, sniff
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES

# MANIFEST.tsv's tool folder -> secpipe's format.
OWNER = {
    "anchore_engine": "anchore-engine", "anchore_grype": "grype",
    "anchorectl_vulns": "anchorectl", "asff": "asff", "aws_inspector2": "inspector2",
    "awssecurityhub": "asff", "bandit": "bandit", "checkov": "checkov",
    "cyclonedx": "cyclonedx", "dependency_check": "dependency-check",
    "detect_secrets": "detect-secrets", "falco": "falco", "gitleaks": "gitleaks",
    "hadolint": "hadolint", "kics": "kics", "kubeaudit": "kubeaudit",
    "kubebench": "kube-bench", "kubescape": "kubescape", "nikto": "nikto",
    "npm_audit": "npm-audit", "npm_audit_7_plus": "npm-audit", "nuclei": "nuclei",
    "osv_scanner": "osv-scanner", "pip_audit": "pip-audit", "sarif": "sarif",
    "semgrep": "semgrep", "terrascan": "terrascan", "tfsec": "tfsec", "trivy": "trivy",
    "trufflehog": "trufflehog", "trufflehog3": "trufflehog3", "wapiti": "wapiti",
    "zap": "zap", "zap_json": "zap",
}

# Shapes several formats legitimately share (docs/formats.md, "Strict formats"). One format
# reads each of these families whole, so they need no entry: SARIF from any producer (hadolint,
# gitleaks, semgrep, ... -> sarif), CycloneDX and its VEX documents (-> cyclonedx), trufflehog
# v2 and v3 JSON lines (-> trufflehog), ZAP XML and JSON (-> zap), ASFF from Security Hub or a
# file (-> asff), OCSF finding events from any producer (-> ocsf). What is left is the empty
# report, which carries no signature at all:
EMPTY_FILE = frozenset({  # a clean run of a line-oriented tool writes nothing
    "falco", "git-secrets", "kubeaudit", "nuclei", "trufflehog"})
EMPTY_ARRAY = frozenset({  # `[]`: the clean report of a tool whose report is one array
    "anchorectl", "asff", "falco", "gitleaks", "hadolint", "nuclei", "ocsf", "pip-audit",
    "trufflehog3"})
NULL = frozenset({"gitleaks", "trivy"})  # `null`: gitleaks 8 and legacy trivy, nothing found
# `{"findings": []}`: Inspector2's list-findings and a Security Hub export, both empty
EMPTY_FINDINGS = frozenset({"asff", "inspector2"})

# Files in tests/fixtures that are not reports (Kubernetes manifests the Istio checks read;
# lockfiles and SBOMs the noise rules read): every parser must refuse them, except a real
# CycloneDX SBOM, which the cyclonedx format reads (zero findings without VEX).
NOT_REPORTS = ("istio", "noise")


def _own_format(folder: str, path: Path) -> str | None:
    if folder == "noise" and path.name.endswith(".cdx.json"):
        return "cyclonedx"
    if folder in NOT_REPORTS:
        return None
    if path.suffix == ".sarif":
        return "sarif"
    return folder


def _cases() -> list[tuple[str, Path, str | None]]:
    """(label, path, owning format) of every fixture; ../shared's only when present (a bare
    clone has tests/fixtures alone, and still runs this test on those)."""
    cases: list[tuple[str, Path, str | None]] = []
    manifest = SHARED_FIXTURES / "MANIFEST.tsv"
    if manifest.is_file():
        for line in manifest.read_text(encoding="utf-8").splitlines()[1:]:
            tool, name = line.split("\t")[:2]
            owner = None if name.endswith(".yaml") else OWNER[tool]  # falco_rules.yaml
            cases.append((f"shared/{tool}/{name}", SHARED_FIXTURES / tool / name, owner))
    for path in sorted(OWN_FIXTURES.rglob("*")):
        if path.is_file() and path.name != "README.md":
            folder = path.relative_to(OWN_FIXTURES).parts[0]
            cases.append((f"own/{path.relative_to(OWN_FIXTURES)}", path,
                          _own_format(folder, path)))
    return cases


CASES = _cases()


def allowed(data: bytes, owner: str | None) -> set[str]:
    """The formats that may read `data` without error."""
    ok = {owner} if owner else set()
    if not data.strip():
        return ok | EMPTY_FILE
    try:
        doc = json.loads(data)
    except ValueError:
        return ok
    if doc is None:
        return ok | NULL
    if doc == []:
        return ok | EMPTY_ARRAY
    if doc == {"findings": []}:
        return ok | EMPTY_FINDINGS
    return ok


def test_the_fixtures_are_there() -> None:
    """The shared fixtures are optional (a bare clone lacks them); secpipe's own are not."""
    assert any(label.startswith("own/") for label, _, _ in CASES)
    if not (SHARED_FIXTURES / "MANIFEST.tsv").is_file():
        pytest.skip(f"{SHARED_FIXTURES} is absent: only tests/fixtures were fed to the parsers")


@pytest.mark.parametrize("label, path, owner", CASES, ids=[c[0] for c in CASES])
def test_only_its_own_format_reads_a_report(label: str, path: Path, owner: str | None) -> None:
    if not path.is_file():
        pytest.skip(f"{path} is listed in MANIFEST.tsv but absent")
    data = path.read_bytes()
    may = allowed(data, owner)
    accepted: dict[str, int] = {}
    for name, fmt in all_formats().items():
        try:
            accepted[name] = len(fmt.parse(data, path.name))
        except ReportFormatError as err:
            assert path.name in str(err), f"{name}: the error does not name the file: {err}"
    wrong = {n: c for n, c in accepted.items() if n not in may}
    assert not wrong, f"{label} was read by {wrong} (findings per format); only {sorted(may)} may"


@pytest.mark.parametrize("label, path, owner", CASES, ids=[c[0] for c in CASES])
def test_auto_picks_a_format_that_reads_the_report(label: str, path: Path,
                                                   owner: str | None) -> None:
    if not path.is_file():
        pytest.skip(f"{path} is listed in MANIFEST.tsv but absent")
    data = path.read_bytes()
    try:
        picked = sniff(data, path.name)
    except ReportFormatError:
        return  # not recognised: `--from auto` says so and asks for --from
    if picked.name == owner:
        return  # its own format; it may refuse the report (an npm error object), saying why
    try:
        picked.parse(data, path.name)
    except ReportFormatError as err:
        pytest.fail(f"--from auto picked {picked.name} for {label}, which refuses it: {err}")
    assert owner is None or picked.name == owner or picked.name in allowed(data, owner), label


# JSON-lines reports of the shared fixtures: (format, folder, file)
JSON_LINES = [("trufflehog", "trufflehog", "v3_github.json"),
              ("nuclei", "nuclei", "many_findings_new.json"),
              ("kubeaudit", "kubeaudit", "kubeaudit.json"),
              ("falco", "falco", "single_rule_with_cat_write.json")]


@pytest.mark.parametrize("name, folder, file", JSON_LINES, ids=[c[0] for c in JSON_LINES])
def test_a_json_lines_report_cut_mid_line_names_the_line(name: str, folder: str,
                                                         file: str) -> None:
    from tests.conftest import shared_fixture_dir

    data = (shared_fixture_dir(folder) / file).read_bytes().rstrip(b"\n")
    lines = data.split(b"\n")
    assert len(lines) > 1, "a JSON-lines fixture of one line cannot show a cut last line"
    cut = data[:len(data) - len(lines[-1]) // 2]
    fmt = all_formats()[name]
    assert fmt.parse(data, file)  # whole, it reads
    with pytest.raises(ReportFormatError) as err:
        fmt.parse(cut, file)
    assert f"{file}: line {len(lines)} is not JSON: the last line is cut short" in str(err.value)


@pytest.mark.parametrize("doc", [
    {"Controls": []}, {"matches": []}, {"runs": []}, {"site": []}, {"queries": []},
    {"advisories": {}}, {"results": []}, {"vulnerabilities": []}, {"Results": []},
    {"imageDigest": "sha256:0", "vulnerabilities": []}, [{}], {},
], ids=lambda d: json.dumps(d)[:40])
def test_a_bare_container_is_no_report(doc: object) -> None:
    """A top-level key alone (`{"matches": []}`) is no tool's report: every format wants its
    tool's other keys beside it, and `--from auto` recognises none."""
    data = json.dumps(doc).encode()
    readers = {}
    for name, fmt in all_formats().items():
        try:
            readers[name] = len(fmt.parse(data, "bare.json"))
        except ReportFormatError:
            pass
    expected = {"results": ["tfsec"]}.get(next(iter(doc), "") if isinstance(doc, dict) else "", [])
    assert sorted(readers) == expected  # tfsec writes `results` alone
    with pytest.raises(ReportFormatError):
        sniff(data, "bare.json")
