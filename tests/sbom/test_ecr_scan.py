"""The registry scan stage against moto's ECR server (real HTTP on 127.0.0.1), and the wait and
the paging with botocore's Stubber where moto cannot show them: moto answers COMPLETE on the
first poll and never pages (it ignores nextToken)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from secpipe.formats import get_format
from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import StageStatus, ToolStatus
from secpipe.scanners.ecr_scan import EcrScan, split_image
from secpipe.scanners.interface import ReportMissing, ScanRequest, ToolCrashed, ToolTimeout
from tests.conftest import OWN_FIXTURES

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
         "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}
MANIFEST = {
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469,
               "digest": "sha256:" + "c" * 64},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 3401613, "digest": "sha256:" + "d" * 64}]}


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def ecr(moto_url: str):
    client = boto3.client("ecr", endpoint_url=moto_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    httpx.post(f"{moto_url}/moto-api/reset")
    return client


def _push(ecr, repo: str, tag: str, salt: str = "") -> str:
    ecr.create_repository(repositoryName=repo)
    manifest = copy.deepcopy(MANIFEST)
    manifest["config"]["digest"] = "sha256:" + (salt or "c").ljust(64, "0")[:64]
    return ecr.put_image(repositoryName=repo, imageManifest=json.dumps(manifest),
                         imageTag=tag)["image"]["imageId"]["imageDigest"]


def _req(tmp_path: Path, moto_url: str, timeout: float = 60, inputs=None, **options):
    return ScanRequest(root=tmp_path, workdir=tmp_path, timeout=timeout, env=CREDS,
                       options={"endpoint_url": moto_url, **options}, inputs=inputs or {})


def _parse(outcome):
    return get_format("ecr").parse(outcome.reports[0].data, outcome.reports[0].name)


def test_scan_against_moto(tmp_path: Path, moto_url: str, ecr) -> None:
    digest = _push(ecr, "web", "1.0")
    outcome = EcrScan().scan(_req(tmp_path, moto_url, repository="web", tag="1.0"))
    assert outcome.notes[0] == f"scan started for web@{digest}"
    assert "scan COMPLETE after 1 poll(s)" in outcome.notes
    report = json.loads(outcome.reports[0].data)
    assert report["imageScanStatus"]["status"] == "COMPLETE"
    assert "nextToken" not in report and "ResponseMetadata" not in report
    findings = _parse(outcome)
    assert [f.title.split()[0] for f in findings] == ["CVE-9999-9999"]
    assert findings[0].severity.name == "HIGH"
    # ECR allows one scan a day: the second run reads the existing scan instead of failing
    again = EcrScan().scan(_req(tmp_path, moto_url, repository="web", tag="1.0"))
    assert again.notes[0].startswith("no new scan (LimitExceededException:")
    assert len(_parse(again)) == 1


def test_image_from_the_build_stage(tmp_path: Path, moto_url: str, ecr) -> None:
    _push(ecr, "secpipe/web", "20261127T101500Z-a1b2")
    outcome = EcrScan().scan(_req(tmp_path, moto_url,
                                  inputs={"image": "secpipe/web:20261127T101500Z-a1b2"}))
    assert json.loads(outcome.reports[0].data)["repositoryName"] == "secpipe/web"


def test_enhanced_scanning_findings(tmp_path: Path, moto_url: str, ecr) -> None:
    digest = _push(ecr, "shop", "2.0", salt="e")
    canned = json.loads((OWN_FIXTURES / "ecr" / "enhanced.json").read_text())
    canned.update(repositoryName="shop", imageId={"imageDigest": digest, "imageTag": "2.0"},
                  registryId="123456789012")
    canned["imageScanStatus"] = {"status": "ACTIVE",
                                 "description": "Continuous scan is selected for image."}
    httpx.post(f"{moto_url}/moto-api/static/ecr/scan-finding-results",
               json={"results": [canned], "region": "us-east-1"}).raise_for_status()
    outcome = EcrScan().scan(_req(tmp_path, moto_url, repository="shop", tag="2.0"))
    assert "scan ACTIVE after 1 poll(s)" in outcome.notes
    findings = _parse(outcome)
    assert len(findings) == 2  # the fixture's CLOSED finding is dropped by the parser
    assert {f.resource.id for f in findings} == {"shop:2.0"}


def test_failed_scan_fails_closed(tmp_path: Path, moto_url: str, ecr) -> None:
    digest = _push(ecr, "broken", "1", salt="f")
    failed = {"registryId": "123456789012", "repositoryName": "broken",
              "imageId": {"imageDigest": digest},
              "imageScanStatus": {"status": "UNSUPPORTED_IMAGE",
                                  "description": "The operating system is not supported."}}
    httpx.post(f"{moto_url}/moto-api/static/ecr/scan-finding-results",
               json={"results": [failed], "region": "us-east-1"}).raise_for_status()
    with pytest.raises(ToolCrashed, match="ended UNSUPPORTED_IMAGE: The operating system"):
        EcrScan().scan(_req(tmp_path, moto_url, repository="broken", tag="1"))


def test_image_not_pushed(tmp_path: Path, moto_url: str, ecr) -> None:
    ecr.create_repository(repositoryName="empty")
    with pytest.raises(ReportMissing, match="ImageNotFoundException"):
        EcrScan().scan(_req(tmp_path, moto_url, repository="empty", tag="nope"))
    with pytest.raises(ReportMissing, match="RepositoryNotFoundException"):
        EcrScan().scan(_req(tmp_path, moto_url, repository="absent", tag="1"))
    with pytest.raises(ReportMissing, match="no image to scan"):
        EcrScan().scan(_req(tmp_path, moto_url))


def test_registry_stage_in_a_run(tmp_path: Path, moto_url: str, ecr) -> None:
    _push(ecr, "web", "release")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "secpipe.yml").write_text(f"""version: 1
stages:
  registry:
    tools: [ecr-scan]
    fail_on: high
tools:
  ecr-scan:
    repository: web
    tag: release
    endpoint_url: {moto_url}
    poll_initial: 0.1
""")
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", env=CREDS, use_hub=False))
    stage = run.stages[0]
    assert stage.tools[0].status is ToolStatus.OK, stage.tools[0].error
    assert stage.status is StageStatus.FAILED and run.exit_code == 1  # the HIGH finding blocks
    raw = Path(run.run_dir) / "raw" / "registry" / "ecr-scan.json"
    assert json.loads(raw.read_text())["imageScanFindings"]["findingSeverityCounts"] == {"HIGH": 1}


# --- the wait and the paging, with botocore's Stubber ----------------------------------------

IMAGE = {"imageDigest": "sha256:" + "a" * 64}


def _finding(n: int) -> dict:
    return {"name": f"CVE-2024-{1000 + n}", "severity": "MEDIUM",
            "uri": f"https://security-tracker.example.org/CVE-2024-{1000 + n}",
            "attributes": [{"key": "package_name", "value": "openssl"},
                           {"key": "package_version", "value": "3.0.11-1~deb12u2"}]}


def _status(status: str) -> dict:
    return {"registryId": "123456789012", "repositoryName": "web", "imageId": dict(IMAGE),
            "imageScanStatus": {"status": status, "description": status.lower()}}


def _page(findings: list[dict], token: str | None) -> dict:
    page = {**_status("COMPLETE"), "imageScanFindings": {
        "imageScanCompletedAt": dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.timezone.utc),
        "findingSeverityCounts": {"MEDIUM": 5}, "findings": findings}}
    if token:
        page["nextToken"] = token
    return page


class Stubbed(EcrScan):
    """EcrScan with a stubbed client and a recorded (not slept) backoff."""

    def __init__(self, client) -> None:
        self._client = client
        self.slept: list[float] = []
        self.sleep = self.slept.append  # type: ignore[assignment]

    def client(self, req, attempts=3):  # noqa: D401 - the stub, not boto3's
        return self._client


def _stubbed():
    client = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response("describe_images", {"imageDetails": [{"imageDigest": IMAGE["imageDigest"],
                                                            "imageTags": ["1.0"]}]},
                      {"repositoryName": "web", "imageIds": [{"imageTag": "1.0"}]})
    stub.add_client_error("start_image_scan", "LimitExceededException",
                          "The scan quota per image has been exceeded. Wait and try again.",
                          expected_params={"repositoryName": "web", "imageId": IMAGE})
    return client, stub


def test_wait_with_backoff_then_all_pages(tmp_path: Path) -> None:
    client, stub = _stubbed()
    wait_params = {"repositoryName": "web", "imageId": IMAGE, "maxResults": 1}
    stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException",
                          "not yet", expected_params=wait_params)
    for status in ("PENDING", "IN_PROGRESS", "IN_PROGRESS"):
        stub.add_response("describe_image_scan_findings", _status(status), wait_params)
    stub.add_response("describe_image_scan_findings", _page([_finding(0)], "t1"), wait_params)
    pages = [([_finding(0), _finding(1)], "t1"), ([_finding(2), _finding(3)], "t2"),
             ([_finding(4)], None)]
    token = None
    for findings, next_token in pages:
        params = {"repositoryName": "web", "imageId": IMAGE, "maxResults": 2}
        if token:
            params["nextToken"] = token
        stub.add_response("describe_image_scan_findings", _page(findings, next_token), params)
        token = next_token
    scanner = Stubbed(client)
    with stub:
        outcome = scanner.scan(_req(tmp_path, "", repository="web", tag="1.0", page_size=2,
                                    poll_initial=1, poll_max=3))
        stub.assert_no_pending_responses()
    assert scanner.slept == [1, 2, 3, 3]  # doubling, capped at poll_max
    assert "scan COMPLETE after 5 poll(s)" in outcome.notes and "3 page(s) of findings" in \
        outcome.notes
    report = json.loads(outcome.reports[0].data)
    assert [f["name"] for f in report["imageScanFindings"]["findings"]] == \
        [f"CVE-2024-{1000 + n}" for n in range(5)]
    assert report["imageScanFindings"]["imageScanCompletedAt"] == "2026-11-27T10:00:00+00:00"
    assert len(_parse(outcome)) == 5


def test_a_repeated_page_token_is_refused(tmp_path: Path) -> None:
    client, stub = _stubbed()
    stub.add_response("describe_image_scan_findings", _page([], None))
    stub.add_response("describe_image_scan_findings", _page([_finding(0)], "same"))
    stub.add_response("describe_image_scan_findings", _page([_finding(1)], "same"))
    with stub, pytest.raises(ToolCrashed, match="page token of page 1 again"):
        Stubbed(client).scan(_req(tmp_path, "", repository="web", tag="1.0"))


def test_the_wait_is_bounded_by_the_timeout(tmp_path: Path) -> None:
    client, stub = _stubbed()
    stub.add_response("describe_image_scan_findings", _status("IN_PROGRESS"))
    with stub, pytest.raises(ToolTimeout, match="still IN_PROGRESS when the stage timeout"):
        Stubbed(client).scan(_req(tmp_path, "", timeout=0, repository="web", tag="1.0"))


def test_enhanced_registry_refusing_on_demand_scans(tmp_path: Path) -> None:
    client = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response("describe_images", {"imageDetails": [{"imageDigest": IMAGE["imageDigest"]}]})
    stub.add_client_error("start_image_scan", "ValidationException", "This feature is disabled")
    stub.add_response("describe_image_scan_findings", _status("ACTIVE"))
    stub.add_response("describe_image_scan_findings", {**_status("ACTIVE"), "imageScanFindings": {
        "enhancedFindings": [], "findingSeverityCounts": {}}})
    with stub:
        outcome = Stubbed(client).scan(_req(tmp_path, "", repository="web", tag="1.0"))
    assert outcome.notes[0] == ("no new scan (ValidationException: This feature is disabled); "
                                "reading the image's current scan")
    assert _parse(outcome) == []


def test_unknown_profile_is_a_clear_error(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    req = ScanRequest(root=tmp_path, workdir=tmp_path, timeout=5, env=env,
                      options={"repository": "web", "profile": "no-such-profile"})
    with pytest.raises(ToolCrashed, match="cannot set up the ECR client: .*no-such-profile"):
        EcrScan().scan(req)


def test_other_start_errors_fail(tmp_path: Path) -> None:
    client = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response("describe_images", {"imageDetails": [{"imageDigest": IMAGE["imageDigest"]}]})
    stub.add_client_error("start_image_scan", "AccessDeniedException", "not allowed")
    stub.add_response("describe_images", {"imageDetails": [{"imageDigest": IMAGE["imageDigest"]}]})
    stub.add_client_error("start_image_scan", "ValidationException", "1 validation error")
    with stub:
        for code in ("AccessDeniedException", "ValidationException"):
            with pytest.raises(ToolCrashed, match=f"starting the scan: {code}"):
                Stubbed(client).scan(_req(tmp_path, "", repository="web", tag="1.0"))


def test_split_image() -> None:
    assert split_image("secpipe/web:run1") == ("secpipe/web", "run1", None)
    assert split_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.2") == \
        ("web", "1.2", None)
    assert split_image("web@sha256:abc") == ("web", None, "sha256:abc")
    assert split_image("localhost:5000/team/web") == ("team/web", "latest", None)
    assert split_image("web") == ("web", "latest", None)
