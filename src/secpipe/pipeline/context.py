"""Where a run happens: repository, branch, commit, run id.

CI systems know these better than git in a detached checkout, so their variables win
(GitHub Actions, CodeBuild, GitLab), then git, then the folder name.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from secpipe.model import SourceContext


def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def detect_context(root: Path, *, run_id: str, repo_name: str = "", account_id: str = "000000000000",
                   region: str = "us-east-1", partition: str = "aws") -> SourceContext:
    env = os.environ
    repo = (repo_name or env.get("GITHUB_REPOSITORY") or env.get("CI_PROJECT_PATH")
            or _repo_from_remote(_git(root, "remote", "get-url", "origin"))
            or _repo_from_codebuild(env.get("CODEBUILD_SOURCE_REPO_URL", ""))
            or root.resolve().name)
    branch = (env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME")
              or env.get("CI_COMMIT_REF_NAME") or env.get("CODEBUILD_WEBHOOK_HEAD_REF", "").removeprefix("refs/heads/")
              or _git(root, "rev-parse", "--abbrev-ref", "HEAD"))
    if branch == "HEAD":  # detached checkout without CI variables
        branch = "detached"
    branch = branch or "local"  # not a git tree: runs still need a branch to compare against
    commit = (env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA")
              or env.get("CODEBUILD_RESOLVED_SOURCE_VERSION") or _git(root, "rev-parse", "HEAD"))
    return SourceContext(repo=repo, branch=branch, commit=commit, run_id=run_id,
                         account_id=account_id, region=region, partition=partition)


def _repo_from_remote(url: str) -> str:
    if not url:
        return ""
    url = url.removesuffix(".git")
    if "@" in url.split("/")[0] or url.startswith("git@"):
        url = url.split(":", 1)[-1]
    else:
        url = "/".join(url.split("/")[3:]) if "://" in url else url
    return url.strip("/")


def _repo_from_codebuild(url: str) -> str:
    return _repo_from_remote(url) if url else ""
