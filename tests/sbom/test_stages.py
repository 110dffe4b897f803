"""The build and SBOM stages through `secpipe run`, and the grype / trivy-vuln adapters.

Real where it can be here: engine detection runs the machine's own docker/podman/buildah (no
daemon answers here, so the build stage goes to filesystem mode for real), the SBOM stage runs
secpipe's builder and the real syft, trivy-vuln runs the real trivy, grype is really missing.
Only the image-build path uses a FAKE `docker` (a shell script on PATH, see `fake_docker`):
no daemon can build here, so those tests check secpipe's argv and the outputs wiring, not a build.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from rich.console import Console

from secpipe.outputs.console import render_console
from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import StageStatus, ToolStatus
from secpipe.scanners.build_image import BuildImage, default_tag, detect_engine
from secpipe.scanners.grype import Grype
from secpipe.scanners.interface import ReportMissing, ScanRequest, ToolMissing
from secpipe.scanners.sbom import Sbom
from secpipe.tools import tool_env
from tests.conftest import ROOT
from tests.sbom.imagetar import docker_archive

FIX = Path(__file__).parent / "fixtures"
SYSTEM_PATH = "/usr/bin:/bin"

PIPELINE = """version: 1
stages:
  build:
    tools: [build-image]
  sbom:
    tools: [sbom]
    needs: [build]
tools:
  sbom:
    engine: secpipe
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    shutil.copy(FIX / "npm-v2" / "package-lock.json", root / "package-lock.json")
    shutil.copy(FIX / "npm-v2" / "package.json", root / "package.json")
    (root / "Dockerfile").write_text("FROM debian:12-slim\nCOPY . /app\n")
    (root / "secpipe.yml").write_text(PIPELINE)
    return root


def _run(root: Path, tmp_path: Path, env: dict[str, str]):
    return run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", env=env, use_hub=False))


def _tool(run, stage: str):
    return next(s for s in run.stages if s.name == stage).tools[0]


def _stage(run, name: str):
    return next(s for s in run.stages if s.name == name)


def _sbom_of(run) -> dict:
    return json.loads((Path(run.run_dir) / "raw" / "sbom" / "sbom.cdx.json").read_bytes())


# --- build stage: detection and filesystem mode (real) -----------------------------------------

def test_engine_detection_is_real() -> None:
    found, probes = detect_engine(tool_env())
    if found is not None:
        pytest.skip(f"{found.engine} can build on this machine: filesystem mode not reachable")
    assert [p.engine for p in probes] == ["docker", "podman", "buildah"]
    docker = probes[0]
    if docker.path:  # the docker CLI is installed but no daemon answers `docker info`
        assert docker.reason.startswith("daemon unreachable (`docker info` exited")
    else:
        assert docker.reason == "not installed"


def test_filesystem_mode_is_visible_and_the_run_goes_on(project: Path, tmp_path: Path) -> None:
    if detect_engine(tool_env())[0] is not None:
        pytest.skip("a container engine can build here")
    run = _run(project, tmp_path, tool_env())
    build = _tool(run, "build")
    # visible: the tool says why (console, JUnit <skipped>, summary.json); the stage is
    # SKIPPED (nothing was built), and the stages after it still run on the tree
    assert build.status is ToolStatus.SKIPPED
    assert build.error.startswith("filesystem mode: no container engine can build here (docker:")
    assert _stage(run, "build").status is StageStatus.SKIPPED
    assert _tool(run, "sbom").status is ToolStatus.OK and run.exit_code == 0
    out = Path(run.run_dir)
    summary = json.loads((out / "summary.json").read_text())
    tools = {t["name"]: t for s in summary["stages"] for t in s["tools"]}
    assert tools["build-image"]["status"] == "skipped"
    assert "filesystem mode" in tools["build-image"]["error"]
    assert 'message="filesystem mode' in (out / "junit.xml").read_text()
    console = Console(record=True, width=200)
    render_console(run, console)
    assert "build-image: filesystem mode" in console.export_text()
    # the SBOM came from the tree's lockfile, stored with the run
    sbom = _sbom_of(run)
    assert len(sbom["components"]) == 16  # 17 packages less the dev-only ms 2.1.2
    assert sbom["metadata"]["component"]["name"] == "shop"


def test_engine_none_and_unknown(tmp_path: Path) -> None:
    req = ScanRequest(root=tmp_path, workdir=tmp_path, options={"engine": "none"}, timeout=10,
                      env={"PATH": SYSTEM_PATH})
    outcome = BuildImage().scan(req)
    assert outcome.outputs == {"mode": "filesystem"}
    assert "engine: none" in outcome.notes[0]


def test_an_engine_asked_for_by_name_must_work(project: Path, tmp_path: Path) -> None:
    (project / "secpipe.yml").write_text(PIPELINE + "  build-image:\n    engine: podman\n")
    run = _run(project, tmp_path, {"PATH": SYSTEM_PATH, "HOME": str(tmp_path)})
    assert _tool(run, "build").status is ToolStatus.ERROR
    assert "engine podman was asked for but cannot build: podman: not installed" in \
        _tool(run, "build").error
    assert _stage(run, "sbom").status is StageStatus.SKIPPED and run.exit_code == 2


def test_default_tag() -> None:
    assert default_tag("Web Shop", "20261127T101500Z-a1b2") == \
        "secpipe/web-shop:20261127T101500Z-a1b2"
    assert default_tag("", "") == "secpipe/project:latest"


# --- build stage: the build path with a FAKE docker (argv and outputs wiring only) -------------

FAKE_DOCKER = """#!/bin/sh
# FAKE docker for tests: records its argv, answers `info`, and `save` copies a prepared
# docker-archive. It builds nothing.
printf '%s\\n' "$*" >> "$FAKE_DOCKER_LOG"
case "$1" in
  info) echo "Server Version: 0.0.0-fake"; exit 0 ;;
  build) [ -n "$FAKE_DOCKER_FAIL_BUILD" ] && { echo "step 2/3 failed" >&2; exit 1; }; exit 0 ;;
  save) cp "$FAKE_DOCKER_IMAGE" "$3"; exit 0 ;;
esac
exit 64
"""


@pytest.fixture
def fake_docker(tmp_path: Path) -> dict[str, str]:
    """A PATH whose `docker` is the fake above, and the image its `save` hands back."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    exe = bin_dir / "docker"
    exe.write_text(FAKE_DOCKER)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    layers = [{"usr/lib/os-release": (FIX / "os" / "debian-os-release").read_bytes(),
               "var/lib/dpkg/status": (FIX / "os" / "dpkg-status").read_bytes()}]
    image = docker_archive(tmp_path / "prepared.tar", layers, tag="secpipe/shop:fake")
    return {"PATH": f"{bin_dir}:{SYSTEM_PATH}", "HOME": str(tmp_path),
            "FAKE_DOCKER_LOG": str(tmp_path / "docker.log"), "FAKE_DOCKER_IMAGE": str(image)}


def test_fake_docker_build_wiring(project: Path, tmp_path: Path, fake_docker) -> None:
    (project / "secpipe.yml").write_text(
        PIPELINE + "  build-image:\n    build_args: {NODE_ENV: production}\n    network: none\n")
    run = _run(project, tmp_path, fake_docker)
    build = _tool(run, "build")
    assert build.status is ToolStatus.OK, build.error
    tag = f"secpipe/shop:{run.run_id}"
    calls = (tmp_path / "docker.log").read_text().splitlines()
    assert calls[0] == "info"
    assert calls[1] == (f"build -f {project / 'Dockerfile'} -t {tag} --build-arg "
                        f"NODE_ENV=production --network none {project}")
    assert calls[2].startswith("save -o ")
    assert calls[2].endswith(f"/build-build-image/image.tar {tag}")
    assert build.command[:2] == [str(tmp_path / "fakebin" / "docker"), "build"]
    # the SBOM stage got the archive: OS packages of the image plus the tree's lockfile
    sbom = _sbom_of(run)
    purls = {c["purl"] for c in sbom["components"]}
    assert "pkg:deb/debian/libssl3@3.0.19-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl" \
        in purls and "pkg:npm/debug@2.6.9" in purls
    assert sbom["metadata"]["component"]["name"] == "secpipe/shop:fake"
    log = (Path(run.run_dir) / "logs" / "build-build-image.log").read_text()
    assert f"built {tag}" in log and "engine: docker" in log


def test_fake_docker_failed_build_fails_closed(project: Path, tmp_path: Path, fake_docker) -> None:
    run = _run(project, tmp_path, {**fake_docker, "FAKE_DOCKER_FAIL_BUILD": "1"})
    assert _tool(run, "build").status is ToolStatus.ERROR
    assert "step 2/3 failed" in _tool(run, "build").error
    assert run.exit_code == 2


def test_missing_dockerfile_is_an_error(project: Path, tmp_path: Path, fake_docker) -> None:
    (project / "Dockerfile").unlink()
    run = _run(project, tmp_path, fake_docker)
    assert "no Dockerfile" in _tool(run, "build").error and run.exit_code == 2


# --- SBOM stage ---------------------------------------------------------------------------------

def _req(root: Path, work: Path, env: dict[str, str], **options) -> ScanRequest:
    inputs = options.pop("inputs", {})
    return ScanRequest(root=root, workdir=work, options=options, timeout=120, env=env,
                       exclude=("build",), inputs=inputs)


def test_sbom_of_the_example_with_secpipe(tmp_path: Path) -> None:
    outcome = Sbom().scan(_req(ROOT / "examples" / "web", tmp_path, {"PATH": SYSTEM_PATH}))
    path = Path(outcome.outputs["sbom"])
    assert path.parent == tmp_path and path.is_file()
    assert [a.name for a in outcome.artifacts] == ["sbom.cdx.json"]
    assert outcome.reports == []
    doc = json.loads(path.read_bytes())
    assert len(doc["components"]) == 57
    assert any("syft is not installed" in n for n in outcome.notes)
    assert any("26 development-only packages left out" in n for n in outcome.notes)


def test_sbom_engine_syft_must_be_there(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing, match="secpipe tools install syft"):
        Sbom().scan(_req(tmp_path, tmp_path, {"PATH": SYSTEM_PATH}, engine="syft"))


def test_sbom_source_image_needs_an_archive(tmp_path: Path) -> None:
    with pytest.raises(ReportMissing, match="add the build stage to `needs`"):
        Sbom().scan(_req(tmp_path, tmp_path, {"PATH": SYSTEM_PATH}, source="image"))
    with pytest.raises(ReportMissing, match="is gone"):
        Sbom().scan(_req(tmp_path, tmp_path, {"PATH": SYSTEM_PATH},
                         inputs={"image_archive": str(tmp_path / "nope.tar")}))


@pytest.fixture(scope="module")
def syft_env() -> dict[str, str]:
    from secpipe.tools.probe import probe
    from secpipe.tools.provision import install

    if not probe("syft").ok:
        install("syft")
    assert probe("syft").ok
    return tool_env()


@pytest.mark.tools
def test_syft_and_secpipe_agree_on_the_example(tmp_path: Path, syft_env) -> None:
    example = ROOT / "examples" / "web"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ours = Sbom().scan(_req(example, tmp_path / "a", syft_env, engine="secpipe"))
    theirs = Sbom().scan(_req(example, tmp_path / "b", syft_env))
    assert theirs.command[1:3] == ["scan", f"dir:{example}"]
    mine = {c["purl"] for c in json.loads(Path(ours.outputs["sbom"]).read_bytes())["components"]}
    syft = {c["purl"] for c in json.loads(Path(theirs.outputs["sbom"]).read_bytes())["components"]}
    # syft lists the root project itself as a package (secpipe makes it the SBOM's subject),
    # and the actions the example's GitHub workflow uses (secpipe reads lockfiles only)
    actions = {p for p in syft if p.startswith("pkg:github/actions/")}
    assert actions == {"pkg:github/actions/checkout@v4", "pkg:github/actions/setup-node@v4"}
    assert syft - mine - actions == {"pkg:npm/web@1.0.0"} and mine <= syft


@pytest.mark.tools
def test_syft_and_secpipe_agree_on_an_image(tmp_path: Path, syft_env) -> None:
    layers = [{"usr/lib/os-release": (FIX / "os" / "debian-os-release").read_bytes(),
               "etc/os-release": ("symlink", "../usr/lib/os-release"),
               "var/lib/dpkg/status": (FIX / "os" / "dpkg-status").read_bytes()},
              {"etc/apk/x": b""}]
    archive = docker_archive(tmp_path / "image.tar", layers, oci=True, gzip_layers=True)
    empty = tmp_path / "src"
    empty.mkdir()
    runs = {}
    for engine in ("secpipe", "syft"):
        (tmp_path / engine).mkdir()
        out = Sbom().scan(_req(empty, tmp_path / engine, syft_env, engine=engine,
                               inputs={"image_archive": str(archive)}))
        doc = json.loads(Path(out.outputs["sbom"]).read_bytes())
        runs[engine] = {c["purl"] for c in doc["components"] if c.get("purl")}
    # the same purls, but for one deliberate difference: syft lists a package dpkg removed
    # (`deinstall ok config-files`: only its configuration is left); secpipe only installed ones
    assert runs["syft"] - runs["secpipe"] == {
        "pkg:deb/debian/ntpsec@1.2.2%2Bdfsg1-1%2Bdeb12u1?arch=amd64&distro=debian-12"}
    assert runs["secpipe"] <= runs["syft"] and len(runs["secpipe"]) == 7


# --- grype and trivy-vuln ------------------------------------------------------------------------

def test_grype_missing_fails_closed(project: Path, tmp_path: Path) -> None:
    if shutil.which("grype", path=tool_env()["PATH"]):
        pytest.skip("grype is installed here")
    config = PIPELINE.replace("tools:\n  sbom:", "  sca:\n    tools: [grype]\n    needs: [sbom]\n"
                              "tools:\n  sbom:")
    (project / "secpipe.yml").write_text(config)
    run = _run(project, tmp_path, tool_env())
    grype = _tool(run, "sca")
    assert grype.status is ToolStatus.ERROR and grype.error.startswith("missing: `grype` not found")
    assert run.exit_code == 2


FAKE_GRYPE = """#!/bin/sh
# FAKE grype for tests: records its argv and prints a real grype report from the shared fixtures.
printf '%s\\n' "$*" > "$FAKE_GRYPE_LOG"
cat "$FAKE_GRYPE_REPORT"
"""


def test_grype_targets_the_sbom_first(tmp_path: Path) -> None:
    from tests.conftest import shared_fixture_dir

    report = next(iter(sorted(shared_fixture_dir("anchore_grype").glob("*.json"))))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "grype").write_text(FAKE_GRYPE)
    (bin_dir / "grype").chmod(0o755)
    sbom, archive = tmp_path / "sbom.cdx.json", tmp_path / "image.tar"
    sbom.write_text("{}")
    archive.write_text("x")
    env = {"PATH": f"{bin_dir}:{SYSTEM_PATH}", "FAKE_GRYPE_LOG": str(tmp_path / "argv"),
           "FAKE_GRYPE_REPORT": str(report)}
    for options, expected in (
            ({"inputs": {"sbom": str(sbom), "image_archive": str(archive)}}, f"sbom:{sbom}"),
            ({"inputs": {"sbom": str(sbom), "image_archive": str(archive)}, "target": "image"},
             f"docker-archive:{archive}"),
            ({}, f"dir:{tmp_path}")):
        out = Grype().scan(_req(tmp_path, tmp_path, env, **options))
        assert (tmp_path / "argv").read_text().split()[:3] == [expected, "-o", "json"]
        assert out.reports[0].data == report.read_bytes()


@pytest.mark.tools
@pytest.mark.parametrize("offline", [False, True])
def test_trivy_vuln_without_its_db_fails_closed(project: Path, tmp_path: Path, offline: bool
                                                ) -> None:
    env = tool_env()
    if not shutil.which("trivy", path=env["PATH"]):
        pytest.skip("trivy is not installed (secpipe tools install trivy)")
    # an empty DB cache, and (online or not) no way out: the download must fail here
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
               NO_PROXY="", TRIVY_NO_PROGRESS="true")
    opts = "  trivy-vuln:\n    cache_dir: .trivy-cache\n" + ("    offline: true\n" * offline)
    (project / "secpipe.yml").write_text(PIPELINE.replace(
        "tools:\n  sbom:", "  sca:\n    tools: [trivy-vuln]\n    needs: [sbom]\ntools:\n" + opts
        + "  sbom:"))
    run = _run(project, tmp_path, env)
    trivy = _tool(run, "sca")
    assert trivy.status is ToolStatus.ERROR, trivy
    assert trivy.error.startswith("crashed: exited with code 1: Fatal error run error: init error")
    expected = ("--skip-db-update cannot be specified on the first run" if offline
                else "failed to download vulnerability DB")
    assert expected in trivy.error and "osv-match" in trivy.error
    assert trivy.command[1] == "sbom"  # auto: the SBOM stage's output
    assert run.exit_code == 2
