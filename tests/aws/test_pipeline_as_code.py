"""The generated CloudFormation template, CodeBuild buildspecs and CI workflows."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from secpipe.cli import main
from secpipe.config import load_config
from tests.conftest import ROOT

WEB = ROOT / "examples" / "web"


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def template_text() -> str:
    return _invoke("aws", "pipeline", str(WEB))


@pytest.fixture(scope="module")
def template(template_text: str) -> dict:
    return yaml.safe_load(template_text)


def _of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_one_codebuild_project_per_stage_running_secpipe(template: dict) -> None:
    cfg = load_config(WEB).config
    projects = _of_type(template, "AWS::CodeBuild::Project")
    for stage in ("secrets", "dockerfile", "iac", "dast"):
        spec = yaml.safe_load(projects[f"{stage.capitalize()}Project"]["Properties"]["Source"]
                              ["BuildSpec"])
        commands = spec["phases"]["build"]["commands"]
        run = next(c for c in commands if c.startswith("secpipe run"))
        assert f"--stage {stage} " in run and "--sink securityhub --sink s3" in run
        assert 'cd "$CODEBUILD_SRC_DIR/examples/web"' in commands
        install = " ".join(spec["phases"]["install"]["commands"])
        for tool in cfg.stages[stage].tools:
            if tool not in ("dast", "deploy-local"):
                assert tool in install
        assert spec["reports"][f"secpipe-{stage}"]["file-format"] == "JUNITXML"
    image = projects["ImageProject"]["Properties"]
    assert image["Environment"]["PrivilegedMode"] is True
    image_spec = image["Source"]["BuildSpec"]
    assert "aws ecr wait image-scan-complete" in image_spec
    assert "secpipe aws envelope --type ECR" in image_spec
    deploy = yaml.safe_load(projects["DeployProject"]["Properties"]["Source"]["BuildSpec"])
    assert deploy["env"]["exported-variables"] == ["TARGET_URL"]
    assert any(c.startswith("helm upgrade --install") for c in deploy["phases"]["build"]["commands"])
    for p in projects.values():
        assert p["Properties"]["EncryptionKey"] == {"Fn::GetAtt": ["ArtifactKey", "Arn"]}


def test_pipeline_order_gates_before_deploy_then_dast(template: dict) -> None:
    stages = template["Resources"]["Pipeline"]["Properties"]["Stages"]
    names = [s["Name"] for s in stages]
    # independent scans share a stage; sca waits for sbom; gates come before deploy, DAST last
    assert names == ["Source", "Scan-secrets-dockerfile-iac-sbom", "Scan-sca", "Deploy",
                     "DAST-dast"]
    source = stages[0]["Actions"][0]["Fn::If"]
    assert source[0] == "UseGitHub"
    assert source[1]["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source[2]["ActionTypeId"]["Provider"] == "CodeCommit"
    dast = stages[names.index("DAST-dast")]["Actions"][0]["Configuration"]["EnvironmentVariables"]
    assert "#{DeployVariables.TARGET_URL}" in dast
    assert template["Parameters"]["SourceProvider"]["AllowedValues"] == ["CodeCommit", "GitHub"]


def test_storage_encryption_and_least_privilege(template: dict) -> None:
    res = template["Resources"]
    key = res["ArtifactKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    bucket = res["ArtifactBucket"]["Properties"]
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    deny = res["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}}
    ecr = res["Repository"]["Properties"]
    assert ecr["ImageScanningConfiguration"]["ScanOnPush"] is True
    assert ecr["ImageTagMutability"] == "IMMUTABLE"
    assert res["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "ArtifactKey"}
    assert res["SecurityHub"]["Type"] == "AWS::SecurityHub::Hub"
    assert res["ConfigRecorder"]["Type"] == "AWS::Config::ConfigurationRecorder"
    fn = res["NormaliserFunction"]["Properties"]
    assert fn["Handler"] == "secpipe.aws.lambda_handler.lambda_handler"
    statements = res["NormaliserRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_action = {a: s["Resource"] for s in statements for a in s["Action"]}
    assert by_action["s3:PutObject"] == {"Fn::Sub": "${ArtifactBucket.Arn}/reports/*"}
    assert by_action["kms:GenerateDataKey"] == {"Fn::GetAtt": ["ArtifactKey", "Arn"]}
    assert "product/${AWS::AccountId}/default" in by_action["securityhub:BatchImportFindings"][
        "Fn::Sub"]
    assert not any(a.endswith("*") for a in by_action)


def test_every_checkov_skip_says_why(template: dict) -> None:
    skips = [s for r in template["Resources"].values()
             for s in (r.get("Metadata") or {}).get("checkov", {}).get("skip", [])]
    assert skips, "the template documents its exceptions"
    for s in skips:
        assert s["id"].startswith("CKV") and len(s["comment"]) > 30


def test_default_pipeline_has_no_deploy_resources(tmp_path: Path) -> None:
    out = yaml.safe_load(_invoke("aws", "pipeline", str(tmp_path)))
    assert "ImageProject" not in out["Resources"] and "EksClusterName" not in out["Parameters"]
    assert "SecretsProject" in out["Resources"]


@pytest.mark.tools
def test_template_passes_cfn_lint_and_secpipes_own_iac_stage(template_text: str,
                                                              tmp_path: Path) -> None:
    from secpipe.pipeline.api import RunRequest, run_pipeline
    from secpipe.tools import tool_env

    env = tool_env()
    cfn_lint = shutil.which("cfn-lint", path=env["PATH"])
    if cfn_lint is None:
        pytest.skip("cfn-lint is not installed: secpipe tools install cfn-lint")
    folder = tmp_path / "infra"
    folder.mkdir()
    (folder / "template.yaml").write_text(template_text)
    lint = subprocess.run([cfn_lint, str(folder / "template.yaml")], capture_output=True,
                          text=True)
    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational
    assert lint.returncode & 2 == 0, lint.stdout

    (folder / "secpipe.yml").write_text(
        "version: 1\nstages:\n  iac:\n    tools: [checkov]\n    fail_on: high\n"
        "tools:\n  checkov:\n    frameworks: [cloudformation]\n")
    run = run_pipeline(RunRequest(root=folder, out_dir=tmp_path / "out", use_hub=False))
    (stage,) = run.stages
    assert stage.status.value == "passed", stage.error
    (tool,) = stage.tools
    assert tool.status.value == "ok" and tool.error is None
    # checkov has no severities offline: every failed check counts, not only HIGH ones
    assert [f.finding.rule_id for f in stage.findings] == []
    report = json.loads((Path(run.run_dir) / tool.report_file).read_text())
    reports = report if isinstance(report, list) else [report]
    (cfn,) = [r for r in reports if r.get("check_type") == "cloudformation"]
    assert cfn["summary"]["passed"] > 50 and cfn["summary"]["failed"] == 0


# -- other CI ----------------------------------------------------------------------------------

def test_github_workflow_structure() -> None:
    wf = yaml.safe_load(_invoke("ci", "github", str(WEB), "--project-dir", "examples/web"))
    assert set(wf[True] if True in wf else wf["on"]) >= {"push", "pull_request"}
    assert wf["permissions"]["security-events"] == "write"
    steps = wf["jobs"]["secpipe"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert uses[0].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    run_step = next(s for s in steps if s.get("id") == "secpipe")
    assert "secpipe run . --out .secpipe" in run_step["run"]
    assert 'cd "examples/web"' in run_step["run"]
    install = next(s for s in steps if s.get("name") == "Provision the scanners")["run"]
    assert install.startswith("secpipe tools install") and "checkov" in install
    apt = next(s for s in steps if s.get("name") == "System packages")["run"]
    assert "git-secrets" in apt and "git-secrets" not in install
    sarif = next(s for s in steps if s.get("uses", "").startswith(
        "github/codeql-action/upload-sarif@"))
    assert sarif["if"] == "always()" and sarif["with"]["sarif_file"].endswith("results.sarif")
    artifact = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert artifact["if"] == "always()"
    # the uploads come after the run and read the folder the run step fills
    assert steps.index(run_step) < steps.index(sarif) < steps.index(artifact)
    assert "secpipe-report" in run_step["run"]


def test_gitlab_ci_structure() -> None:
    doc = yaml.safe_load(_invoke("ci", "gitlab", str(WEB), "--project-dir", "examples/web"))
    job = doc["secpipe"]
    assert job["stage"] in doc["stages"]
    assert job["variables"]["GIT_DEPTH"] == "0"
    script = "\n".join(job["script"])
    assert "secpipe tools install" in script and "secpipe run . --out .secpipe" in script
    assert "secpipe ci gitlab-sast" in script
    reports = job["artifacts"]["reports"]
    assert reports["junit"] == "secpipe-report/junit.xml"
    assert reports["sast"] == "secpipe-report/gl-sast-report.json"
    assert job["artifacts"]["when"] == "always"
    assert "nodejs" in " ".join(job["before_script"])   # the deploy-local stage builds with npm


def test_gitlab_sast_report_from_a_run(tmp_path: Path) -> None:
    from tests.aws.support import findings

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    fs = findings(3)
    fs[1]["Workflow"] = {"Status": "SUPPRESSED"}
    (run_dir / "findings.asff.json").write_text(json.dumps(fs))
    (run_dir / "summary.json").write_text(json.dumps(
        {"started_at": "2026-11-27T10:00:00.123Z", "finished_at": "2026-11-27T10:01:00.000Z",
         "exit_code": 1}))
    report = json.loads(_invoke("ci", "gitlab-sast", str(run_dir)))
    assert report["version"].startswith("15.") and report["scan"]["type"] == "sast"
    assert report["scan"]["start_time"] == "2026-11-27T10:00:00"
    assert report["scan"]["status"] == "success"
    vulns = report["vulnerabilities"]
    assert len(vulns) == 2  # the suppressed finding is not reported
    assert vulns[0]["location"] == {"file": "src/m0.py", "start_line": 1}
    assert vulns[0]["severity"] in {"Critical", "High", "Medium", "Low", "Info"}
    assert vulns[0]["identifiers"][0]["type"] == "bandit"
    assert len({v["id"] for v in vulns}) == 2


def test_envelope_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CODEBUILD_BUILD_ID", "web-image:7")
    report = ROOT / "tests" / "fixtures" / "ecr" / "basic.json"
    env = json.loads(_invoke("aws", "envelope", "--type", "ECR", "--report", str(report)))
    assert env["messageType"] == "CodeScanReport" and env["reportType"] == "ECR"
    assert env["build_id"] == "web-image:7"
    assert env["report"] == json.loads(report.read_text())
    result = CliRunner().invoke(main, ["aws", "envelope", "--type", "nope", "--report",
                                       str(report)])
    assert result.exit_code == 2 and "unknown reportType" in result.output


@pytest.mark.tools
def test_package_lambda_builds_an_importable_small_zip(tmp_path: Path) -> None:
    """A real build (pip resolves the dependencies from the registry), for this machine's
    Python so the zip's binary wheels can be imported here; then the handler parses a report
    from the unpacked zip alone (plus boto3, which the Lambda runtime provides)."""
    import sys

    out = tmp_path / "secpipe-lambda.zip"
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    text = _invoke("aws", "package-lambda", "--out", str(out), "--python", py)
    assert "MB" in text and out.is_file()
    names = zipfile.ZipFile(out).namelist()
    assert "secpipe/aws/lambda_handler.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("boto3/", "botocore/"))]
    assert not [n for n in names if n.startswith("secpipe/") and "/tests/" in n]
    assert out.stat().st_size < 30_000_000
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(out).extractall(unpacked)
    import boto3
    boto_dir = Path(boto3.__file__).parents[1]
    probe = (
        "import json, secpipe; assert secpipe.__file__.startswith(%r), secpipe.__file__\n"
        "from secpipe.aws.lambda_handler import envelope_findings, read_envelope\n"
        "env = read_envelope({'messageType': 'CodeScanReport', 'reportType': 'SNYK',\n"
        "  'report': json.load(open(%r))})\n"
        "print(len(envelope_findings(env)[1]))\n"
    ) % (str(unpacked), str(ROOT / "tests" / "fixtures" / "snyk" / "npm-hand-written.json"))
    done = subprocess.run([sys.executable, "-I", "-c",
                           f"import sys; sys.path[:0] = [{str(unpacked)!r}, "
                           f"{str(boto_dir)!r}]\n" + probe],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


@pytest.mark.parametrize("tool, spec", [
    ("checkov", "checkov"), ("sbom", "syft"), ("trivy-vuln", "trivy"), ("deploy-helm", "helm"),
    ("git-secrets", "git-secrets"), ("dast", None), ("deploy-local", None),
    ("osv-match", None), ("ecr-scan", None),
])
def test_pipeline_tools_map_to_what_tools_install_knows(tool: str, spec: str | None) -> None:
    from secpipe.ci import installable
    assert installable(tool) == spec
