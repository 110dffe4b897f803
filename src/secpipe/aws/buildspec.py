"""CodeBuild buildspecs generated from secpipe.yml: one per secpipe stage.

Every scanning stage runs the same command a laptop runs (`secpipe run --stage NAME`) with the
Security Hub and S3 sinks, so the gate, the findings and the archive are the same everywhere;
the buildspec only provisions the stage's tools. The seed's deploy stage becomes two AWS
steps (image build + push + ECR scan, then Helm on EKS), and the DAST stage takes the URL the
deploy step exported.
"""

from __future__ import annotations

from typing import Any, Sequence

import yaml

# Stages with these tools become the AWS image + ECR scan + Helm-on-EKS steps (on EKS, Falco
# watches what Helm rolled out, so the local runtime-sensor stage has no CodeBuild step).
DEPLOY_TOOLS = frozenset({"deploy-local", "deploy-helm", "build-image", "ecr-scan",
                          "runtime-sensor"})
DAST_TOOLS = frozenset({"dast"})
RUN_DIR = ".secpipe/runs/latest"
REPORT_DIR = "secpipe-report"   # the run dir copied out of the symlink, under the source root

_INSTALL = [
    'pip install --quiet --upgrade pip',
    'pip install --quiet "$SECPIPE_PIP_SPEC"',
]
_TOOLS_PATH = 'export PATH="$HOME/.cache/secpipe/tools/bin:$PATH"'


def _dump(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, width=1000, default_flow_style=False)


def _cd(project_dir: str) -> str:
    project_dir = project_dir.strip("/") or "."
    return f'cd "$CODEBUILD_SRC_DIR/{project_dir}"'


def _keep_report(project_dir: str) -> dict[str, Any]:
    """post_build runs after a failed build too: the run's outputs always become a report."""
    return {"commands": [_cd(project_dir),
                         f'cp -rL {RUN_DIR} "$CODEBUILD_SRC_DIR/{REPORT_DIR}" || true']}


def _reports(stage: str) -> dict[str, Any]:
    return {f"secpipe-{stage}": {"files": ["junit.xml"], "base-directory": REPORT_DIR,
                                 "file-format": "JUNITXML"}}


def _run(stage: str, extra: str = "") -> str:
    return (f"secpipe run . --stage {stage} --out .secpipe --no-hub --no-progress "
            f"--sink securityhub --sink s3{extra}")


def scan_buildspec(stage: str, provision: Sequence[str], project_dir: str = ".") -> str:
    """A static stage: provision its tools (`secpipe tools install` names), run it, sinks on;
    the exit code is the gate."""
    install = [*_INSTALL]
    if provision:
        install.append("secpipe tools install " + " ".join(provision))
    return _dump({
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "install": {"runtime-versions": {"python": "3.11"}, "commands": install},
            "build": {"commands": [_cd(project_dir), _TOOLS_PATH, _run(stage)]},
            "post_build": _keep_report(project_dir),
        },
        "reports": _reports(stage),
    })


def image_buildspec(project_dir: str = ".") -> str:
    """Build and push the image (immutable tag = commit), wait for ECR's scan on push, and send
    the scan through the normaliser Lambda in the seed's envelope; gate on HIGH/CRITICAL."""
    gate = ("python3 -c 'import json,sys; s=json.load(open(\"lambda-out.json\")); "
            "c=s.get(\"counts\"); print(json.dumps(s, indent=1)); "
            "sys.exit(2 if c is None or s.get(\"failed\") else 1 if c[\"CRITICAL\"]+c[\"HIGH\"] "
            "else 0)'")
    image = '"$ECR_REPOSITORY_URI:$IMAGE_TAG"'
    return _dump({
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "install": {"runtime-versions": {"python": "3.11"}, "commands": [*_INSTALL]},
            "pre_build": {"commands": [
                'IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:0:12}"',
                'ECR_REGISTRY="${ECR_REPOSITORY_URI%%/*}"',
                'aws ecr get-login-password | docker login --username AWS --password-stdin '
                '"$ECR_REGISTRY"',
            ]},
            "build": {"commands": [
                _cd(project_dir),
                # tags are immutable: a commit already built is not built again
                'if aws ecr describe-images --repository-name "$ECR_REPOSITORY" --image-ids '
                f'imageTag="$IMAGE_TAG" >/dev/null 2>&1; then echo "image $IMAGE_TAG exists"; '
                f'else docker build -t {image} -f "$DOCKERFILE" . && docker push {image}; fi',
                'aws ecr wait image-scan-complete --repository-name "$ECR_REPOSITORY" '
                '--image-id imageTag="$IMAGE_TAG"',
                'aws ecr describe-image-scan-findings --repository-name "$ECR_REPOSITORY" '
                '--image-id imageTag="$IMAGE_TAG" > ecr-scan.json',
                'secpipe aws envelope --type ECR --report ecr-scan.json > envelope.json',
                'aws lambda invoke --function-name "$NORMALISER_FUNCTION" '
                '--cli-binary-format raw-in-base64-out --payload fileb://envelope.json '
                'lambda-out.json',
                gate,
            ]},
        },
    })


def deploy_buildspec(project_dir: str = ".") -> str:
    """Helm on EKS (the seed's deploy stage); exports the service's URL for the DAST stage."""
    url = ("kubectl get svc -n \"$K8S_NAMESPACE\" -l app.kubernetes.io/instance=\"$HELM_RELEASE\" "
           "-o jsonpath='{.items[0].status.loadBalancer.ingress[0].hostname}'")
    return _dump({
        "version": 0.2,
        "env": {"shell": "bash", "exported-variables": ["TARGET_URL"]},
        "phases": {
            "install": {"runtime-versions": {"python": "3.11"},
                        "commands": [*_INSTALL, "secpipe tools install helm"]},
            "build": {"commands": [
                _cd(project_dir), _TOOLS_PATH,
                'IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:0:12}"',
                'aws eks update-kubeconfig --name "$EKS_CLUSTER" --region "$AWS_REGION"',
                'helm upgrade --install "$HELM_RELEASE" "$HELM_CHART" --namespace '
                '"$K8S_NAMESPACE" --set image.repository="$ECR_REPOSITORY_URI" '
                '--set image.tag="$IMAGE_TAG" --wait --timeout 10m',
                f'for i in $(seq 60); do HOST=$({url}); [ -n "$HOST" ] && break; sleep 10; done',
                'test -n "$HOST" || { echo "the service got no load balancer address"; exit 2; }',
                'export TARGET_URL="http://$HOST"',
                'echo "deployed: $TARGET_URL"',
            ]},
        },
    })


def dast_buildspec(stage: str, project_dir: str = ".") -> str:
    """The DAST stage against the URL the deploy step exported (tools.dast.target)."""
    overlay = ('python3 -c \'import os,yaml; c=yaml.safe_load(open("secpipe.yml")); '
               'c.setdefault("tools", {}).setdefault("dast", {})["target"]='
               'os.environ["TARGET_URL"]; yaml.safe_dump(c, open("/tmp/secpipe-aws.yml", "w"))\'')
    return _dump({
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "install": {"runtime-versions": {"python": "3.11"}, "commands": [*_INSTALL]},
            "build": {"commands": [
                _cd(project_dir), _TOOLS_PATH,
                'test -n "$TARGET_URL" || { echo "no TARGET_URL from the deploy stage"; exit 2; }',
                overlay,
                _run(stage, " -c /tmp/secpipe-aws.yml"),
            ]},
            "post_build": _keep_report(project_dir),
        },
        "reports": _reports(stage),
    })
