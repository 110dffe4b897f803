"""Tool versions (secpipe.pipeline.versions): one probe per executable however many threads
ask at once, and a shared file that keeps every process's answers."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from secpipe.pipeline import versions
from secpipe.tools import get_spec


@pytest.fixture()
def fake_hadolint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A `hadolint` on PATH that counts its runs and answers slowly."""
    monkeypatch.setenv("SECPIPE_TOOLS_DIR", str(tmp_path / "tools"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / get_spec("hadolint").primary
    exe.write_text(f"#!/bin/sh\necho run >> {tmp_path / 'runs.txt'}\nsleep 0.5\n"
                   "echo 'Haskell Dockerfile Linter 2.15.1'\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_threads_asking_at_once_share_one_probe(fake_hadolint, tmp_path) -> None:
    got: list[str | None] = []
    threads = [threading.Thread(target=lambda: got.append(
        versions.tool_version("hadolint", fake_hadolint))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["2.15.1"] * 4
    assert (tmp_path / "runs.txt").read_text().count("run") == 1
    assert versions.tool_version("hadolint", fake_hadolint) == "2.15.1"   # from the file now
    assert (tmp_path / "runs.txt").read_text().count("run") == 1
    assert not versions._PROBING


def _add(args: tuple[str, str, int]) -> None:
    tools, key, n = args
    os.environ["SECPIPE_TOOLS_DIR"] = tools
    path = Path(tools) / versions.CACHE_NAME
    for i in range(n):
        versions._remember(path, f"{key}-{i}", "1.0")
        time.sleep(0.001)


def test_processes_writing_at_once_keep_every_answer(tmp_path) -> None:
    tools = str(tmp_path / "tools")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_add, [(tools, f"p{k}", 25) for k in range(4)])
    data = json.loads((Path(tools) / versions.CACHE_NAME).read_text())
    assert set(data) == {f"p{k}-{i}" for k in range(4) for i in range(25)}


def test_a_failed_probe_is_not_remembered(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SECPIPE_TOOLS_DIR", str(tmp_path / "tools"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / get_spec("hadolint").primary
    exe.write_text("#!/bin/sh\necho 'no version here'\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    assert versions.tool_version("hadolint", {"PATH": str(bin_dir)}) is None
    assert not (tmp_path / "tools" / versions.CACHE_NAME).exists()
    assert versions.tool_version("no-such-tool", {}).startswith("secpipe ")
