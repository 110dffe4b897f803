"""The kingfisher adapter with the real binary: history found, limited to the scanned folder,
and no network feature on by default. Needs `secpipe tools install kingfisher`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from secpipe.model import SecretCollector, collecting
from secpipe.formats import get_format
from secpipe.scanners.interface import ScanRequest
from secpipe.scanners.registry import get_scanner
from secpipe.tools import tool_env

pytestmark = pytest.mark.tools

# random-looking pairs (kingfisher ignores keys that look made up, like sequential characters)
INSIDE = ("AKIAWNJDWNCOGJ63MQDS", "+SFZUR+6v/Dv8MN+jMk1YVUKgQkBG7gnizF5VjOo")
OUTSIDE = ("AKIAEPVZHXSOXU47VLEE", "gMhNv+pmBemwkoFefBXAvxpTsk2NdMtRTCw/jf0U")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.invalid",
                    "-c", "user.name=ci", *args], check=True, capture_output=True)


def _env_file(key: tuple[str, str]) -> str:
    return f"aws_access_key_id={key[0]}\naws_secret_access_key={key[1]}\n"


def test_history_of_a_subfolder_without_network(tmp_path: Path) -> None:
    env = tool_env()
    if not shutil.which("kingfisher", path=env["PATH"]):
        pytest.fail("kingfisher is not installed: run `secpipe tools install kingfisher`")
    top = tmp_path / "mono"
    (top / "other").mkdir(parents=True)
    (top / "svc").mkdir()
    _git(top, "init", "-q", "-b", "main")
    (top / "other" / "leak.env").write_text(_env_file(OUTSIDE))
    (top / "svc" / "app.py").write_text("x = 1\n")
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "one")
    (top / "other" / "leak.env").unlink()
    (top / "svc" / "old.env").write_text(_env_file(INSIDE))
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "two")
    (top / "svc" / "old.env").unlink()
    _git(top, "commit", "-qam", "three: the key stays in history only")

    work = tmp_path / "work"
    work.mkdir()
    req = ScanRequest(root=top / "svc", workdir=work, options={}, timeout=600, env=env,
                      git_root=top)
    outcome = get_scanner("kingfisher").scan(req)
    assert "--no-validate" in outcome.command and "--no-update-check" in outcome.command
    collector = SecretCollector()
    with collecting(collector):
        findings = get_format("kingfisher").parse(outcome.reports[0].data, "kingfisher.json")
    assert [(f.path, len(f.properties.get("commit", ""))) for f in findings] == [("old.env", 40)]
    assert OUTSIDE[0].encode() not in outcome.reports[0].data
    assert INSIDE[1] in collector.values  # the paired secret is scrubbed from the raw report

    no_history = get_scanner("kingfisher").scan(
        ScanRequest(root=top / "svc", workdir=work, options={"history": False}, timeout=600,
                    env=env, git_root=top))
    assert "--git-history" in no_history.command
    assert get_format("kingfisher").parse(no_history.reports[0].data, "k.json") == []
