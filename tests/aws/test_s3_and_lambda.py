"""The S3 archive sink, the Lambda handler and `secpipe run` with sinks, against moto."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from secpipe.aws import lambda_handler
from secpipe.aws.lambda_handler import (EnvelopeError, envelope_digest, handle, read_envelope,
                                        resolve_format)
from secpipe.cli import main
from secpipe.sinks.s3 import S3ArchiveSink, compact_stamp, envelope_key, report_key
from secpipe.sinks.securityhub import SecurityHubSink
from tests.aws.conftest import MOTO_ACCOUNT, REGION
from tests.conftest import OWN_FIXTURES, shared_fixture_dir

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{MOTO_ACCOUNT}:function:secpipe-normaliser"


@pytest.fixture()
def bucket(aws_env, request) -> tuple[str, str]:
    """A fresh bucket and a KMS key in moto."""
    s3 = aws_env.client("s3")
    name = "secpipe-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    s3.create_bucket(Bucket=name)
    key_id = aws_env.client("kms").create_key(Description="secpipe tests")["KeyMetadata"]["KeyId"]
    return name, key_id


def _keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_key_layout() -> None:
    assert compact_stamp("2026-11-27T16:52:33.159Z") == "20261127T165233Z"
    assert report_key("iac", "checkov", "20261127T165233Z-bf76a6", "20261127T165233Z", ".json") \
        == "reports/iac/checkov/20261127T165233Z-bf76a6-20261127T165233Z.json"
    assert report_key("a", "t", "r", "s", "json", prefix="/team/") == "team/reports/a/t/r-s.json"
    # the seed's own layout for envelopes: reports/<reportType>/<build_id>-<createdAt>.json
    assert envelope_key("OWASP-Zap", "web:42", "2026-11-27T10:00:00Z") == \
        "reports/OWASP-Zap/web:42-2026-11-27T10:00:00Z.json"
    assert envelope_key("ECR", "a/b c", "x") == "reports/ECR/a-b-c-x.json"


def test_put_requests_sse_kms(aws_env, bucket) -> None:
    name, key_id = bucket
    s3 = aws_env.client("s3")
    sent: list[dict] = []
    s3.meta.events.register("provide-client-params.s3.PutObject",
                            lambda params, **_: sent.append(dict(params)))
    sink = S3ArchiveSink(name, kms_key_id=key_id, client=s3)
    sink.put("reports/x/y.json", b"{}")
    assert sent[0]["ServerSideEncryption"] == "aws:kms" and sent[0]["SSEKMSKeyId"] == key_id
    head = s3.head_object(Bucket=name, Key="reports/x/y.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]


def test_s3_sink_needs_a_bucket(monkeypatch) -> None:
    from secpipe.sinks import SinkError
    monkeypatch.delenv("SECPIPE_S3_BUCKET", raising=False)
    with pytest.raises(SinkError, match="SECPIPE_S3_BUCKET"):
        S3ArchiveSink()


def test_s3_put_is_retried_on_throttling(aws_env, bucket) -> None:
    from secpipe.sinks._retry import Backoff
    from tests.aws.support import Sleeps, _Raw
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    name, _ = bucket
    s3 = aws_env.client("s3")
    state = {"n": 0}

    def slow_down(request, **_):
        state["n"] += 1
        if state["n"] <= 2:
            body = b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"
            return AWSResponse(request.url, 503, HTTPHeaders(), _Raw(body))
        return None

    s3.meta.events.register_first("before-send.s3.PutObject", slow_down)
    sleeps = Sleeps()
    S3ArchiveSink(name, client=s3, backoff=Backoff(sleep=sleeps)).put("k.json", b"{}")
    assert len(sleeps.calls) == 2 and _keys(s3, name) == ["k.json"]


# -- the Lambda ---------------------------------------------------------------------------------

def _envelope(report_type: str, report, **extra) -> dict:
    return {"messageType": "CodeScanReport", "reportType": report_type,
            "createdAt": "2026-11-27T10:00:00Z", "source_repository": "web",
            "source_branch": "main", "source_commitid": "0123abcd", "build_id": "web-build:42",
            "report": report, **extra}


@pytest.fixture()
def lambda_env(aws_env, bucket, monkeypatch):
    name, key_id = bucket
    monkeypatch.setenv("SECPIPE_S3_BUCKET", name)
    monkeypatch.setenv("SECPIPE_KMS_KEY_ID", key_id)
    monkeypatch.delenv("SECPIPE_ACCOUNT_ID", raising=False)
    return SimpleNamespace(bucket=name, key_id=key_id, s3=aws_env.client("s3"),
                           hub=aws_env.client("securityhub"))


def _convert(path: Path, fmt: str) -> list[dict]:
    result = CliRunner().invoke(main, ["convert", str(path), "--from", fmt])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _essence(findings: list[dict]) -> list[tuple]:
    return sorted((f["Id"], f["GeneratorId"], f["Title"], f["Description"],
                   f["Severity"]["Label"], json.dumps(f["Resources"][0].get("Details")),
                   f["Resources"][0]["Id"]) for f in findings)


def _hub_findings(client, ids: set[str]) -> list[dict]:
    out, kwargs = [], {"MaxResults": 100}
    while True:
        page = client.get_findings(**kwargs)
        out += [f for f in page["Findings"] if f["Id"] in ids]
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


@pytest.mark.parametrize("folder, name, as_text", [
    ("zap", "some_2.9.0.xml", True),                 # the XML report travels as a string
    ("zap_json", "basic-traditional-json.json", False),   # the seed's shape: report is JSON
])
def test_seed_zap_envelope_gives_what_convert_gives(lambda_env, folder, name, as_text) -> None:
    path = shared_fixture_dir(folder) / name
    raw = path.read_text(encoding="utf-8")
    event = _envelope("OWASP-Zap", raw if as_text else json.loads(raw))
    answer = lambda_handler(event, SimpleNamespace(invoked_function_arn=FUNCTION_ARN))

    expected = _convert(path, "zap")
    assert answer["status"] == "ok" and answer["format"] == "zap"
    assert answer["findings"] == len(expected) == answer["imported"] > 0
    assert answer["failed"] == 0 and sum(answer["counts"].values()) == len(expected)
    stored = _hub_findings(lambda_env.hub, {f["Id"] for f in expected})
    assert _essence(stored) == _essence(expected)
    assert {f["AwsAccountId"] for f in stored} == {MOTO_ACCOUNT}
    assert {f["ProductFields"]["secpipe/Repo"] for f in stored} == {"web"}
    assert {f["ProductFields"]["secpipe/Commit"] for f in stored} == {"0123abcd"}

    key = f"reports/OWASP-Zap/web-build:42-2026-11-27T10:00:00Z-{envelope_digest(event)}.json"
    assert answer["archive"] == f"s3://{lambda_env.bucket}/{key}"
    head = lambda_env.s3.head_object(Bucket=lambda_env.bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and lambda_env.key_id in head["SSEKMSKeyId"]
    body = lambda_env.s3.get_object(Bucket=lambda_env.bucket, Key=key)["Body"].read()
    assert json.loads(body) == event


def test_the_same_envelope_twice_keeps_the_same_ids(lambda_env) -> None:
    """The seed's Lambda put a counter and the build id in every Id: each build duplicated
    every finding. Here the next build's report updates the same findings."""
    from secpipe.aws.lambda_handler import envelope_findings

    report = json.loads((shared_fixture_dir("zap_json") / "basic-traditional-json.json").read_text())
    first, again = _envelope("zap", report), _envelope("ZAP", report, build_id="web-build:43")
    ids = [f["Id"] for f in envelope_findings(read_envelope(first))[1]]
    assert ids == [f["Id"] for f in envelope_findings(read_envelope(again))[1]]
    lambda_handler(first, None)
    lambda_handler(again, None)
    assert len(_hub_findings(lambda_env.hub, set(ids))) == len(ids)


@pytest.mark.parametrize("report_type, path, fmt", [
    ("ANCHORE", ("shared", "anchore_engine", "many_vulns.json"), "anchore-engine"),
    ("ECR", ("own", "ecr", "basic.json"), "ecr"),
    ("SNYK", ("own", "snyk", "npm-hand-written.json"), "snyk"),
    ("Trivy", ("own", "trivy", "trivy-0.76-config.json"), "trivy"),
    ("auto", ("own", "ecr", "basic.json"), "ecr"),
])
def test_every_seed_report_type_and_any_format(lambda_env, report_type, path, fmt) -> None:
    where, folder, name = path
    base = shared_fixture_dir(folder) if where == "shared" else OWN_FIXTURES / folder
    report = json.loads((base / name).read_text(encoding="utf-8"))
    answer = lambda_handler(_envelope(report_type, report), None)
    expected = _convert(base / name, fmt)
    assert answer["format"] == fmt and answer["findings"] == len(expected)
    assert answer["imported"] == len(expected) and answer["failed"] == 0


def test_a_bad_report_is_archived_then_refused(lambda_env) -> None:
    event = _envelope("ECR", {"not": "an ecr report"})
    with pytest.raises(EnvelopeError, match="ECR report of build web-build:42"):
        lambda_handler(event, None)
    assert _keys(lambda_env.s3, lambda_env.bucket) == [
        f"reports/ECR/web-build:42-2026-11-27T10:00:00Z-{envelope_digest(event)}.json"]


@pytest.mark.parametrize("event, problem", [
    ([], "JSON object"),
    ({"messageType": "Other"}, "messageType"),
    ({"messageType": "CodeScanReport", "report": {}}, "reportType"),
    ({"messageType": "CodeScanReport", "reportType": "ECR"}, "no report"),
    ({"messageType": "CodeScanReport", "reportType": "nope", "report": {"a": 1}}, "unknown"),
    ({"messageType": "CodeScanReport", "reportType": "zap", "report": "%%",
      "reportEncoding": "base64"}, "base64"),
])
def test_envelope_errors_say_what_is_wrong(event, problem) -> None:
    with pytest.raises(EnvelopeError, match=problem):
        env = read_envelope(event)
        resolve_format(env.report_type, env.report)


def test_function_url_body_and_base64_report() -> None:
    import base64
    inner = _envelope("zap", base64.b64encode(b"<OWASPZAPReport/>").decode(),
                      reportEncoding="base64")
    env = read_envelope({"body": json.dumps(inner), "isBase64Encoded": False})
    assert env.report == b"<OWASPZAPReport/>" and env.build_id == "web-build:42"


def test_distinct_envelopes_never_share_an_s3_key(lambda_env) -> None:
    """Two builds with the same build_id and createdAt (or none) used to overwrite each other's
    evidence: the key now ends with a digest of the whole envelope."""
    report = json.loads((OWN_FIXTURES / "ecr" / "basic.json").read_text())
    first = _envelope("ECR", report, build_id="", createdAt="")
    second = _envelope("ECR", report, build_id="", createdAt="", source_commitid="ffff0000")
    keys = {lambda_handler(event, None)["archive"] for event in (first, second)}
    assert len(keys) == 2
    assert len(_keys(lambda_env.s3, lambda_env.bucket)) == 2
    # the same envelope again is the same object (a retried invocation does not duplicate it)
    assert lambda_handler(first, None)["archive"] in keys
    assert len(_keys(lambda_env.s3, lambda_env.bucket)) == 2


def test_control_characters_in_metadata_are_sanitised(lambda_env) -> None:
    report = json.loads((OWN_FIXTURES / "ecr" / "basic.json").read_text())
    event = _envelope("ECR", report, source_repository="web\r\nx-amz-meta-forged: 1\x00",
                      source_commitid="ab\u202ecd\x1b[31m")
    answer = lambda_handler(event, None)
    key = answer["archive"].split("/", 3)[3]
    meta = lambda_env.s3.head_object(Bucket=lambda_env.bucket, Key=key)["Metadata"]
    assert meta["repo"] == "web??x-amz-meta-forged: 1?"
    assert meta["commit"] == "ab?cd?[31m"
    assert "forged" not in meta


@pytest.mark.parametrize("created_at", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00",
                                        "1969-12-31T23:59:59Z"])
def test_a_created_at_the_hub_cannot_hold_is_replaced(created_at, own_hub) -> None:
    """createdAt becomes every finding's UpdatedAt: one the hub cannot hold (year 10000 in UTC)
    failed the whole BatchImportFindings with a 500. Now the invocation's time is used."""
    from secpipe.aws.lambda_handler import envelope_findings

    report = json.loads((OWN_FIXTURES / "ecr" / "basic.json").read_text())
    env = read_envelope(_envelope("ECR", report, createdAt=created_at))
    assert env.created_at == ""
    _, findings = envelope_findings(env, account_id="123456789012")
    assert findings and all(f["UpdatedAt"][:4] == str(datetime.now(timezone.utc).year)
                            for f in findings)
    answer = own_hub.client().batch_import_findings(Findings=findings)
    assert answer["FailedCount"] == 0 and answer["SuccessCount"] == len(findings)
    kept = read_envelope(_envelope("ECR", report, createdAt="2026-11-27T12:00:00.5+02:00"))
    assert kept.created_at == "2026-11-27T10:00:00.500Z"


def test_a_bad_base64_http_body_is_400(lambda_env) -> None:
    """A function URL / API Gateway event whose body says base64 but is not: 400 with the
    reason, not an uncaught binascii.Error (which API Gateway turns into a 502)."""
    with pytest.raises(EnvelopeError, match="not valid base64"):
        read_envelope({"body": "%%% not base64", "isBase64Encoded": True})
    answer = lambda_handler({"body": "%%% not base64", "isBase64Encoded": True,
                             "requestContext": {}}, None)
    assert answer["statusCode"] == 400
    assert "not valid base64" in json.loads(answer["body"])["message"]
    report = json.loads((OWN_FIXTURES / "ecr" / "basic.json").read_text())
    import base64
    good = base64.b64encode(json.dumps(_envelope("ECR", report)).encode()).decode()
    answer = lambda_handler({"body": good, "isBase64Encoded": True}, None)
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["status"] == "ok"


def test_partial_failure_is_reported_in_the_summary(lambda_env) -> None:
    from botocore.stub import Stubber

    client = lambda_env.hub
    archive = S3ArchiveSink(lambda_env.bucket, kms_key_id=lambda_env.key_id, client=lambda_env.s3)
    hub = SecurityHubSink(client, account_id=MOTO_ACCOUNT)
    report = json.loads((OWN_FIXTURES / "ecr" / "basic.json").read_text())
    with Stubber(client) as stub:
        stub.add_response("batch_import_findings", {
            "FailedCount": 1, "SuccessCount": 0,
            "FailedFindings": [{"Id": "x", "ErrorCode": "InvalidInput", "ErrorMessage": "no"}]})
        answer = handle(_envelope("ECR", report), archive=archive, hub=hub)
    assert answer["status"] == "partial" and answer["failed"] == 1


# -- secpipe run with sinks ------------------------------------------------------------------

HADOLINT = ('[{"line":1,"code":"DL3006","message":"Always tag the version of an image '
            'explicitly","column":1,"file":"Dockerfile","level":"warning"}]')


@pytest.fixture()
def project(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM alpine\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "hadolint"
    tool.write_text('#!/bin/sh\n[ "$1" = "--version" ] && { echo "Haskell Dockerfile Linter '
                    f'9.9.9"; exit 0; }}\necho \'{HADOLINT}\'\n')
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SECPIPE_TOOLS_DIR": str(tmp_path / "tools")}
    return root, env


def _config(root: Path, sinks: str) -> None:
    (root / "secpipe.yml").write_text(
        "version: 1\nstages:\n  dockerfile:\n    tools: [hadolint]\n" + sinks)


def test_run_with_sinks_archives_and_imports(project, bucket, aws_env, monkeypatch) -> None:
    root, env = project
    name, key_id = bucket
    _config(root, f"sinks:\n  - type: s3\n    bucket: {name}\n    kms_key_id: {key_id}\n"
                  "    prefix: ci\n")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = root.parent / "out"
    result = CliRunner().invoke(main, ["run", str(root), "--out", str(out), "--no-hub",
                                       "--no-progress", "--sink", "securityhub"])
    assert result.exit_code == 0, result.output
    run_dir = next((out / "runs").glob("2*"))
    run_id = run_dir.name
    s3 = aws_env.client("s3")
    keys = _keys(s3, name)
    assert f"ci/runs/{run_id}/summary.json" in keys
    assert f"ci/runs/{run_id}/findings.asff.json" in keys
    assert [k for k in keys if k.startswith(f"ci/reports/dockerfile/hadolint/{run_id}-")]
    head = s3.head_object(Bucket=name, Key=f"ci/runs/{run_id}/summary.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    outcomes = json.loads((run_dir / "sinks.json").read_text())
    assert [o["sink"] for o in outcomes] == ["s3", "securityhub"] and all(o["ok"] for o in outcomes)
    asff = json.loads((run_dir / "findings.asff.json").read_text())
    stored = _hub_findings(aws_env.client("securityhub"), {f["Id"] for f in asff})
    assert len(stored) == len(asff) == 1


def test_a_failing_sink_exits_2_and_keeps_the_outputs(project, aws_env, monkeypatch) -> None:
    root, env = project
    _config(root, "sinks:\n  - type: s3\n    bucket: no-such-bucket-here\n")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = root.parent / "out"
    result = CliRunner().invoke(main, ["run", str(root), "--out", str(out), "--no-hub",
                                       "--no-progress"])
    assert result.exit_code == 2
    assert "sink s3 failed" in result.output and "NoSuchBucket" in result.output
    run_dir = next((out / "runs").glob("2*"))
    assert (run_dir / "summary.json").is_file() and (run_dir / "results.sarif").is_file()


def test_sink_options_are_checked_before_any_tool_runs(project) -> None:
    root, _ = project
    _config(root, "sinks:\n  - type: s3\n    bukket: typo\n")
    result = CliRunner().invoke(main, ["run", str(root), "--no-hub", "--no-progress"])
    assert result.exit_code == 2 and "sinks.0.s3.bukket" in result.output
    _config(root, "sinks:\n  - type: sqs\n")
    result = CliRunner().invoke(main, ["run", str(root), "--no-hub", "--no-progress"])
    assert result.exit_code == 2 and "sinks.0" in result.output


def test_the_ecr_stage_path_scan_envelope_lambda_gate(lambda_env, aws_env, tmp_path,
                                                      monkeypatch) -> None:
    """What the image buildspec does after the push, against moto's ECR: describe the scan,
    wrap it with `secpipe aws envelope`, invoke the handler, gate on HIGH/CRITICAL."""
    import subprocess

    import yaml

    from secpipe.aws.buildspec import image_buildspec

    ecr = aws_env.client("ecr")
    ecr.create_repository(repositoryName="web", imageTagMutability="IMMUTABLE",
                          imageScanningConfiguration={"scanOnPush": True})
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                   "digest": "sha256:" + "a" * 64}, "layers": []})
    ecr.put_image(repositoryName="web", imageManifest=manifest, imageTag="0123abcd")
    ecr.start_image_scan(repositoryName="web", imageId={"imageTag": "0123abcd"})  # moto: no
    # scan on push of its own; its scan answers one canned HIGH finding
    scan = ecr.describe_image_scan_findings(repositoryName="web",
                                            imageId={"imageTag": "0123abcd"})
    scan.pop("ResponseMetadata")
    report = tmp_path / "ecr-scan.json"
    report.write_text(json.dumps(scan, default=str))      # as `aws ecr ...` prints it

    monkeypatch.setenv("CODEBUILD_BUILD_ID", "web-image:9")
    result = CliRunner().invoke(main, ["aws", "envelope", "--type", "ECR", "--report",
                                       str(report)])
    assert result.exit_code == 0, result.output
    answer = lambda_handler(json.loads(result.stdout),
                            SimpleNamespace(invoked_function_arn=FUNCTION_ARN))
    assert answer["format"] == "ecr" and answer["imported"] == answer["findings"] >= 1
    assert answer["counts"]["HIGH"] >= 1
    assert answer["archive"].startswith(f"s3://{lambda_env.bucket}/reports/ECR/web-image:9-")

    (tmp_path / "lambda-out.json").write_text(json.dumps(answer))
    gate = yaml.safe_load(image_buildspec())["phases"]["build"]["commands"][-1]
    done = subprocess.run(["bash", "-c", gate], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr            # HIGH findings fail the image stage
    answer["counts"]["HIGH"] = answer["counts"]["CRITICAL"] = 0
    (tmp_path / "lambda-out.json").write_text(json.dumps(answer))
    done = subprocess.run(["bash", "-c", gate], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
