"""Run one scanner adapter on a tree, print its findings' fingerprints and its time as JSON.

    python -m tests.netns_scan TOOL ROOT

tests/test_no_network.py runs this twice, once under `unshare -n` (a network namespace with
no interface but a downed loopback): a tool that reaches for the network then either fails,
changes its findings, or waits, and its wall time drifts far above its CPU time.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from secpipe.config import load_config
from secpipe.formats import get_format
from secpipe.pipeline.identity import assign_identities
from secpipe.pipeline.plan import build_plan
from secpipe.scanners.git_secrets import git_toplevel
from secpipe.scanners.interface import ScanRequest
from secpipe.scanners.registry import get_scanner
from secpipe.tools import tool_env


def main(tool: str, root: Path) -> dict:
    loaded = load_config(root, None)
    plan = build_plan(loaded.config, root, git_root=git_toplevel(root))
    scanner = get_scanner(tool)
    with tempfile.TemporaryDirectory(prefix=f"netns-{tool}-") as work:
        req = ScanRequest(root=root, workdir=Path(work), options=plan.tool_options(tool),
                          timeout=600, env=tool_env(), exclude=plan.exclude,
                          git_root=plan.git_root)
        wall0 = time.perf_counter()
        outcome = scanner.scan(req)
        wall = time.perf_counter() - wall0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    fmt = get_format(outcome.format or scanner.format)
    # one fixed fingerprint key for both processes (the normal and the isolated scan):
    # secret digests are keyed, and a random key per process would make every Id differ
    from secpipe.model import FingerprintKey, keyed

    with keyed(FingerprintKey(b"netns-test-fingerprint-key-32by")):
        findings = [f for r in outcome.reports for f in fmt.parse(r.data, r.name)]
    return {"tool": tool, "exit_code": outcome.exit_code, "command": outcome.command,
            "fingerprints": sorted(f.fingerprint() for f in assign_identities(findings)),
            "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]).resolve())))
