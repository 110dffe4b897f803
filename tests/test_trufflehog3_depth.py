"""trufflehog3 walks only its --depth newest commits: a longer history is said, never silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

from secpipe.scanners.interface import ScanRequest
from secpipe.scanners.trufflehog3 import _depth_note


def test_a_history_longer_than_the_depth_is_noted(tmp_path: Path) -> None:
    git = ["git", "-C", str(tmp_path), "-c", "user.email=ci@example.invalid", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q"], check=True)
    for i in range(3):
        (tmp_path / "f.txt").write_text(str(i))
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-qm", str(i)], check=True)
    req = ScanRequest(root=tmp_path, workdir=tmp_path, options={}, timeout=10, env={},
                      git_root=tmp_path)
    assert _depth_note(req, 3) == []
    (note,) = _depth_note(req, 2)
    assert "3 commits" in note and "newest 2" in note
    assert _depth_note(ScanRequest(root=tmp_path, workdir=tmp_path, options={}, timeout=10,
                                   env={}), 2) == []
