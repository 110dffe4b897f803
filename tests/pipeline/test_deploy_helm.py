"""The Helm deploy target: a real helm renders and lints the example's chart when no cluster is
configured; the cluster path is checked with stand-in helm/kubectl scripts (no cluster here)."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import StageStatus
from secpipe.scanners.deploy_helm import service_url, split_image
from secpipe.tools import tool_env
from tests.conftest import ROOT


def test_split_image_and_service_url() -> None:
    assert split_image("registry:5000/web:1.2") == ("registry:5000/web", "1.2")
    assert split_image("registry:5000/web") == ("registry:5000/web", "")
    assert split_image("web@sha256:abc") == ("web@sha256:abc", "")
    svc = {"spec": {"ports": [{"port": 80}]},
           "status": {"loadBalancer": {"ingress": [{"hostname": "a1.elb.amazonaws.com"}]}}}
    assert service_url(svc) == "http://a1.elb.amazonaws.com"
    assert service_url({"status": {"loadBalancer": {}}}) is None


def _project(tmp_path: Path, extra: str = "") -> Path:
    root = tmp_path / "web"
    shutil.copytree(ROOT / "examples" / "web" / "helm", root / "helm")
    (root / "secpipe.yml").write_text(f"""stages:
  deploy: {{tools: [deploy-helm]}}
tools:
  deploy-helm:
    chart: helm/web
    namespace: dev
    set: {{replicaCount: 3}}
{extra}""")
    return root


@pytest.mark.tools
def test_dry_run_renders_and_lints_with_the_real_helm(tmp_path: Path) -> None:
    env = tool_env()
    env["KUBECONFIG"] = str(tmp_path / "no-such-kubeconfig")
    run = run_pipeline(RunRequest(root=_project(tmp_path), out_dir=tmp_path / "o", env=env,
                                  use_hub=False))
    stage = run.stages[0]
    assert stage.status is StageStatus.PASSED, stage.error
    rendered = (Path(run.run_dir) / "raw" / "deploy" / "helm-rendered.yaml").read_text()
    assert "kind: Deployment" in rendered and "replicas: 3" in rendered


def _script(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_cluster_path_installs_and_hands_on_the_lb_url(tmp_path: Path) -> None:
    """Stand-ins for helm and kubectl record their argv: no cluster exists on this machine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "argv.log"
    svc = {"spec": {"ports": [{"port": 80}]},
           "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}}
    _script(bin_dir, "helm", f'echo "helm $*" >> {log}')
    _script(bin_dir, "kubectl", f"""echo "kubectl $*" >> {log}
case "$*" in
  "config current-context") echo dev-cluster ;;
  *) echo '{json.dumps(svc)}' ;;
esac""")
    root = _project(tmp_path, "    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc123\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "o", env=env, use_hub=False))
    assert run.stages[0].status is StageStatus.PASSED, run.stages[0].error
    calls = log.read_text()
    assert "upgrade --install web" in calls and "--atomic" in calls and "--wait" in calls
    assert "image.repository=123456789012.dkr.ecr.us-east-1.amazonaws.com/web" in calls
    assert "image.tag=abc123" in calls and "replicaCount=3" in calls
    assert "get service web -n dev -o json" in calls
