"""The demo, for real: every scanner of the static stages on a copy of examples/web.

Needs the scanners (`secpipe tools install`, which `make test` runs first).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from secpipe.model import validate_asff
from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import StageStatus, ToolStatus
from secpipe.tools import tool_env
from tests.conftest import ROOT

pytestmark = pytest.mark.tools

EXAMPLE = ROOT / "examples" / "web"
PLANTED = ["AKIA56FG63YKWF32DALO", "DFnNho62c16uXY71utLubrjLpCreK3evpDvW4J2K"]
OUTSIDE_KEY = "AKIAQ3ZP7XN2LRW4KD6M"  # committed outside the scanned folder, then deleted
HISTORY_KEY = "AKIAR7WQ2MZK5TXN3P8J"  # committed inside the scanned folder, then deleted


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.invalid",
                    "-c", "user.name=ci", *args], check=True, capture_output=True)


def _pem_body_lines() -> list[str]:
    lines = (EXAMPLE / "config" / "deploy_key.pem").read_text().splitlines()
    return [l for l in lines[1:-1] if len(l) > 20][:3]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tool_env()
    for exe in ("git-secrets", "detect-secrets", "trufflehog3", "kingfisher", "hadolint",
                "checkov", "helm"):
        if not shutil.which(exe, path=env["PATH"]):
            pytest.fail(f"{exe} is not installed: run `secpipe tools install` (make test does)")
    top = tmp_path_factory.mktemp("monorepo")
    _git(top, "init", "-q", "-b", "main")
    (top / "other").mkdir()
    (top / "other" / "leak.txt").write_text(f'key = "{OUTSIDE_KEY}"\n')
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "a leak elsewhere in the monorepo")
    (top / "other" / "leak.txt").unlink()
    shutil.copytree(EXAMPLE, top / "examples" / "web",
                    ignore=shutil.ignore_patterns("node_modules", "build", ".secpipe"))
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "the example service")
    old = top / "examples" / "web" / "old.env"
    old.write_text(f"AWS_ACCESS_KEY_ID={HISTORY_KEY}\n")
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "oops")
    old.unlink()
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "remove the key (it stays in history)")
    return top


@pytest.fixture(scope="module")
def demo(repo: Path, tmp_path_factory: pytest.TempPathFactory):
    from secpipe.vulndb.store import VulnDB

    out = tmp_path_factory.mktemp("out")
    db = tmp_path_factory.mktemp("vulndb") / "osv.sqlite"
    VulnDB(db).import_path(EXAMPLE / "osv-demo")   # what `make demo` imports
    saved = os.environ.get("SECPIPE_VULNDB")
    os.environ["SECPIPE_VULNDB"] = str(db)
    try:
        run = run_pipeline(RunRequest(root=repo / "examples" / "web", out_dir=out))
    finally:
        if saved is None:
            os.environ.pop("SECPIPE_VULNDB", None)
        else:
            os.environ["SECPIPE_VULNDB"] = saved
    return run, out


def _tool(run, name):
    return next(t for s in run.stages for t in s.tools if t.tool == name)


def test_gate_fails_like_the_seed(demo) -> None:
    run, _ = demo
    root = os.geteuid() == 0     # the runtime sensor needs root; without it the run errors
    assert run.exit_code == (1 if root else 2), [(s.name, s.status, s.error) for s in run.stages]
    statuses = {s.name: s.status for s in run.stages}
    # no container engine here: the build stage's only tool skips (filesystem mode), so the
    # stage says SKIPPED, and the sbom stage after it still runs on the tree
    build_tool = _tool(run, "build-image")
    build_status = (StageStatus.SKIPPED if build_tool.status is ToolStatus.SKIPPED
                    else StageStatus.PASSED)
    assert statuses == {"secrets": StageStatus.FAILED, "dockerfile": StageStatus.FAILED,
                        "iac": StageStatus.FAILED, "deploy": StageStatus.PASSED,
                        "dast": StageStatus.FAILED, "build": build_status,
                        "sbom": StageStatus.PASSED, "sca": StageStatus.FAILED,
                        "runtime": StageStatus.FAILED if root else StageStatus.ERROR}
    for stage in run.stages:
        for tool in stage.tools:
            if tool.tool == "build-image" and tool.status is ToolStatus.SKIPPED:
                assert "filesystem" in tool.error  # no container engine here: visible, not silent
                continue
            if tool.tool == "runtime-sensor" and not root:
                assert tool.status is ToolStatus.ERROR and "needs root" in tool.error
                continue
            assert tool.status is ToolStatus.OK, (tool.tool, tool.error)
            assert tool.version, tool.tool


def test_each_required_tool_found_the_planted_flaws(demo) -> None:
    run, _ = demo
    gs = _tool(run, "git-secrets").findings
    assert any(f.path == "config/aws.js" for f in gs)
    assert any(f.path == "config/deploy_key.pem" for f in gs)
    from_history = [f for f in gs if f.path == "old.env"]
    assert len(from_history) == 1 and from_history[0].properties.get("scan") == "history"
    assert _tool(run, "detect-secrets").findings
    # kingfisher is the history engine and trufflehog3 reads the tree only (`history: false`).
    # The key id committed then deleted (old.env, an id without its secret) stays found in
    # history by git-secrets (above): kingfisher reports AWS keys as id + secret pairs only.
    assert not any(f.properties.get("commit") for f in _tool(run, "trufflehog3").findings)
    kingfisher = _tool(run, "kingfisher")
    assert {f.path for f in kingfisher.findings} >= {"config/aws.js"}
    assert {f.rule_id for f in _tool(run, "hadolint").findings} >= {"DL3020", "DL3018"}
    checkov = _tool(run, "checkov").findings
    check_types = {f.properties.get("check_type") for f in checkov}
    assert "helm" in check_types and "dockerfile" in check_types, check_types
    assert "CKV_SECPIPE_ISTIO_1" in {f.rule_id for f in checkov}  # the mesh's PERMISSIVE mTLS
    # every framework present ran: the workflow's script injection (flaw #21) is found
    assert "github_actions" in check_types and "CKV_GHA_2" in {f.rule_id for f in checkov}
    # secpipe's table gives checkov's checks real severities, each with its basis
    assert len({f.severity for f in checkov}) >= 3
    assert all(f.properties.get("severity_basis") for f in checkov)
    assert _tool(run, "checkov").coverage["frameworks"] == ["dockerfile", "helm",
                                                            "github_actions", "secrets"]
    sca = {v.id: v for f in _tool(run, "osv-match").findings for v in f.vulnerabilities}
    assert "CVE-2021-23337" in sca and sca["CVE-2021-23337"].fixed_version  # lodash 4.17.20
    dast = {f.rule_id for f in _tool(run, "dast").findings}
    assert {"10020", "10021", "10038"} <= dast, dast  # the seed-like ZAP findings
    if os.geteuid() == 0:       # the runtime sensor caught the shell the trigger spawned
        runtime = _tool(run, "runtime-sensor").findings
        assert {f.rule_id for f in runtime} == {"Shell spawned by the web server"}, runtime


def test_the_aws_key_is_one_issue_found_by_four_tools(demo) -> None:
    """issue 14's done-when: one issue, RelatedFindings in each tool's ASFF finding, and the
    gate counting issues. (Four tools since kingfisher became the history engine, issue 15:
    it reads the tree too.)"""
    from rich.console import Console

    from secpipe.outputs import render_console

    run, _ = demo
    secrets = next(s for s in run.stages if s.name == "secrets")
    key = [g for g in secrets.findings
           if g.finding.path == "config/aws.js" and g.finding.location.start_line == 5]
    assert {g.finding.tool for g in key} == {"git-secrets", "detect-secrets", "trufflehog3",
                                             "kingfisher"}
    assert len({g.finding.issue_key for g in key}) == 1
    asff = {o["Id"]: o for o in
            json.loads((Path(run.run_dir) / "findings.asff.json").read_text())}
    ids = {g.asff_id for g in key}
    for g in key:
        related = asff[g.asff_id]["RelatedFindings"]
        assert {r["Id"] for r in related} == ids - {g.asff_id}
        assert all(r["ProductArn"] == asff[g.asff_id]["ProductArn"] for r in related)
    summary = json.loads((Path(run.run_dir) / "summary.json").read_text())
    stage = next(s for s in summary["stages"] if s["name"] == "secrets")
    issues = {g.finding.issue_key for g in secrets.findings if g.blocking}
    assert stage["blocking_issues"] == len(issues) < stage["blocking"]
    assert summary["totals"]["blocking_issues"] < summary["totals"]["blocking"]
    console = Console(record=True, width=200, color_system=None)
    render_console(run, console)
    text = console.export_text()
    assert "found by git-secrets, detect-secrets, trufflehog3, kingfisher" in text
    assert f"{summary['totals']['blocking_issues']} blocking issues (" in text
    # hadolint (stage dockerfile) and checkov (stage iac) on the same ADD: one issue too
    add = [g for s in run.stages for g in s.findings
           if g.finding.rule_id in ("DL3020", "CKV_DOCKER_4")]
    assert {g.finding.tool for g in add} == {"hadolint", "checkov"}
    assert len({g.finding.issue_key for g in add}) == 1
    # vulnerabilities as fixes: one line per package
    fixes = {f["package"]: f for f in summary["fixes"]}
    assert fixes["lodash"]["fixed_in"] == "4.17.21" and fixes["lodash"]["issues"] >= 1
    assert "upgrade lodash to 4.17.21 fixes" in text


def test_history_is_limited_to_the_scanned_folder(demo) -> None:
    run, out = demo
    for stage in run.stages:
        for g in stage.findings:
            assert not (g.finding.path or "").startswith("other/"), g.finding
    raw = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert OUTSIDE_KEY.encode() not in raw
    assert b"other/leak.txt" not in raw


def test_no_planted_secret_in_clear_anywhere(demo) -> None:
    _, out = demo
    needles = [s.encode() for s in PLANTED + [HISTORY_KEY] + _pem_body_lines()]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle[:8]!r}… in clear in {path}"
        if path.suffix in (".json", ".sarif"):
            json.loads(data)  # scrubbing kept every JSON document valid


def test_every_asff_finding_is_valid(demo) -> None:
    run, _ = demo
    findings = json.loads((Path(run.run_dir) / "findings.asff.json").read_text())
    assert len(findings) == len(run.all_findings()) > 20
    for obj in findings:
        assert validate_asff(obj) == [], obj["Id"]
    assert len({o["Id"] for o in findings}) == len(findings)


def test_ids_survive_line_shifts(demo, repo: Path, tmp_path: Path) -> None:
    run, _ = demo
    shifted = tmp_path / "shifted"
    shutil.copytree(repo / "examples" / "web", shifted)
    for rel in ("Dockerfile", "helm/web/templates/deployment.yaml", "config/aws.js"):
        path = shifted / rel
        path.write_text("# a new comment\n# and another\n" + path.read_text())
    again = run_pipeline(RunRequest(root=shifted, out_dir=tmp_path / "out", stages=["dockerfile", "iac"]))
    before = {g.asff_id for s in run.stages if s.name in ("dockerfile", "iac") for g in s.findings}
    after = {g.asff_id for s in again.stages for g in s.findings}
    assert before == after


def test_missing_tool_is_an_error_not_a_pass(repo: Path, tmp_path: Path) -> None:
    env = tool_env()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in env["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if name != "trufflehog3" and not (bin_dir / name).exists():
                (bin_dir / name).symlink_to(Path(d) / name)
    env["PATH"] = str(bin_dir)
    run = run_pipeline(RunRequest(root=repo / "examples" / "web", out_dir=tmp_path / "o",
                                  stages=["secrets"], env=env))
    stage = run.stages[0]
    assert stage.status is StageStatus.ERROR and run.exit_code == 2
    t = _tool(run, "trufflehog3")
    assert t.status is ToolStatus.ERROR and "not found" in t.error


def test_fixed_then_back_again(repo: Path, tmp_path: Path) -> None:
    """Run, fix one finding, run (exactly it is fixed, nothing new), undo, run (it is NEW)."""
    from secpipe.hub.store import open_store

    work = tmp_path / "web"
    shutil.copytree(repo / "examples" / "web", work)
    out = tmp_path / "out"
    dockerfile = work / "Dockerfile"
    original = dockerfile.read_text()

    def run():
        r = run_pipeline(RunRequest(root=work, out_dir=out, stages=["dockerfile"]))
        return r, {g.finding.rule_id: g.asff_id for s in r.stages for g in s.findings}

    first, ids = run()
    assert "DL3020" in ids and first.diff["dockerfile"]["new"] == len(ids)
    dockerfile.write_text(original.replace("ADD . .", "COPY . ."))
    second, _ = run()
    assert second.diff["dockerfile"] == {"new": 0, "recurring": len(ids) - 1, "fixed": 1}
    store = open_store(out / "hub.db")
    diff = store.run_diff(second.run_id)
    assert diff.fixed == [ids["DL3020"]] and diff.new == []
    page, _ = store.get_findings({"Id": [{"Value": ids["DL3020"], "Comparison": "EQUALS"}]})
    assert page[0]["RecordState"] == "ARCHIVED" and page[0]["Workflow"]["Status"] == "RESOLVED"
    dockerfile.write_text(original)
    third, _ = run()
    assert third.diff["dockerfile"]["new"] == 1 and third.diff["dockerfile"]["fixed"] == 0
    assert store.run_diff(third.run_id).new == [ids["DL3020"]]
    page, _ = store.get_findings({"Id": [{"Value": ids["DL3020"], "Comparison": "EQUALS"}]})
    assert page[0]["RecordState"] == "ACTIVE" and page[0]["Workflow"]["Status"] == "NEW"
