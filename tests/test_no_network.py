"""No tool reaches for the network the user did not ask for (issue 15).

Each static scanner adapter runs on a copy of examples/web twice: normally, and inside a
network namespace with no interface (`unshare -n`, root only). Findings must be equal, and the
isolated run's wall time must stay within a generous factor of its CPU time: a tool waiting on
connections that cannot succeed (detect-secrets' verification, a DB or policy download) shows as
wall time with no CPU behind it. Tools that are not installed are skipped, like every real-tool
test; an adapter failing in isolation fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from secpipe.scanners.registry import get_scanner
from secpipe.tools import tool_env

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ["git-secrets", "detect-secrets", "trufflehog3", "hadolint", "checkov", "trivy"]
# Offline, a refused connection fails fast; on a network with a slow resolver or a firewall
# that drops packets it waits. So the flags that keep each tool off the network are checked too.
OFFLINE_FLAGS = {"detect-secrets": ["--no-verify"], "checkov": ["--skip-download"],
                 "trivy": ["--skip-db-update", "--skip-java-db-update", "--skip-check-update",
                           "--skip-version-check", "--offline-scan"]}


def _unshare_works() -> str | None:
    if shutil.which("unshare") is None:
        return "`unshare` is not installed (util-linux)"
    if os.geteuid() != 0:
        return "a network namespace needs root (`unshare -n`)"
    done = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if done.returncode != 0:
        return f"`unshare -n` is refused here: {done.stderr.decode(errors='replace').strip()}"
    return None


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("netns") / "web"
    shutil.copytree(ROOT / "examples" / "web", repo,
                    ignore=shutil.ignore_patterns("node_modules", "build", ".secpipe"))
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "example"], check=True)
    return repo


def _scan(tool: str, repo: Path, *, isolated: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, "-m", "tests.netns_scan", tool, str(repo)]
    if isolated:
        argv = ["unshare", "-n", *argv]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=900)
    assert done.returncode == 0, (tool, isolated, done.stderr.decode(errors="replace")[-3000:])
    return json.loads(done.stdout)


@pytest.mark.parametrize("tool", TOOLS)
def test_tool_needs_no_network(tool: str, example: Path) -> None:
    reason = _unshare_works()
    if reason:
        pytest.skip(reason)
    scanner = get_scanner(tool)
    if shutil.which(scanner.executable, path=tool_env().get("PATH")) is None:
        pytest.skip(f"{tool} is not installed (`secpipe tools install {tool}`)")
    normal = _scan(tool, example, isolated=False)
    isolated = _scan(tool, example, isolated=True)
    assert isolated["fingerprints"] == normal["fingerprints"]
    assert isolated["exit_code"] == normal["exit_code"]
    for flag in OFFLINE_FLAGS.get(tool, []):
        assert flag in isolated["command"], (tool, flag)
    # waiting on the network is wall time without CPU time; a loaded machine stretches wall
    # time too (a CPU-bound tool gets cores/load of a core), so the bound follows the load
    stretch = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    assert isolated["wall_s"] <= (5 * isolated["cpu_s"] + 5) * stretch, (isolated, stretch)


def test_detect_secrets_verifies_only_when_asked(tmp_path: Path) -> None:
    """`verify: true` (documented: sends each credential found to its issuer) drops
    --no-verify; anything else keeps it."""
    from secpipe.scanners.interface import ScanRequest

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "detect-secrets"
    fake.write_text('#!/bin/sh\necho "$@" > "$ARGS_FILE"\n'
                    'echo \'{"version": "1.5.0", "results": {}}\'\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "ARGS_FILE": str(tmp_path / "args")}
    for options, expected in (({}, True), ({"verify": False}, True), ({"verify": "yes"}, True),
                              ({"verify": True}, False)):
        req = ScanRequest(root=tmp_path, workdir=tmp_path, options=options, timeout=30, env=env)
        get_scanner("detect-secrets").scan(req)
        args = (tmp_path / "args").read_text().split()
        assert ("--no-verify" in args) is expected, options
