"""The build stage: build the service's image with the container engine the user has, save it
as an archive for the scanners, hand both on; or say plainly that there is none.

The seed built with Docker in CodeBuild. Here the engine is whatever works on the machine:
docker when its daemon answers (`docker info`), else podman, else buildah (both daemonless).
The image is saved as a docker-archive in the tool's workdir, which lives until the run ends,
and later stages get `outputs = {"image": tag, "image_archive": path, "engine": name}`.

With no working engine the stage runs in **filesystem mode**: later stages scan the source tree
and its lockfiles instead of an image, and get `outputs = {"mode": "filesystem"}`. That is never
silent: the tool ends SKIPPED with the reason (the runner's status for a tool that handed no
report), shown on the console, in JUnit (`<skipped message=...>`) and summary.json; the stage
says SKIPPED (nothing was built) and the stages after it still run (the runner only skips the
stages after a need that errored, or was itself skipped for its needs). Asking for an engine by name (`engine: docker`)
and not having it is an error, as for any missing tool.

Options (`tools.build-image`): `engine` (auto | docker | podman | buildah | none),
`dockerfile` (Dockerfile), `context` (.), `tag` (default `secpipe/<project>:<run id>`),
`project` (default: the scanned folder's name), `build_args` (mapping), `target`, `network`
(e.g. `none` for builds from local images only), `pull` (false), `extra_args` (list),
`probe_timeout` (seconds for `docker info`, 20).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from secpipe.scanners.interface import (
    ScanOutcome, ScanRequest, Scanner, ToolCrashed, ToolMissing, run_tool,
)

ENGINES = ("docker", "podman", "buildah")
ARCHIVE_NAME = "image.tar"


@dataclass(frozen=True)
class EngineProbe:
    """What secpipe found for one engine: where it is and whether it can build now."""

    engine: str
    path: str | None
    usable: bool
    reason: str  # why not usable (or the version line when it is)


def probe_engine(engine: str, env: Mapping[str, str], timeout: float = 20) -> EngineProbe:
    """Can this engine build right now? docker needs a daemon that answers `docker info`;
    podman and buildah need no daemon but must be able to start (`info` exits 0)."""
    path = shutil.which(engine, path=env.get("PATH", ""))
    if path is None:
        return EngineProbe(engine, None, False, "not installed")
    try:
        proc = subprocess.run([path, "info"], env=dict(env), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        return EngineProbe(engine, path, False, f"`{engine} info` did not answer in {timeout:.0f}s")
    except OSError as exc:
        return EngineProbe(engine, path, False, f"cannot run {path}: {exc}")
    if proc.returncode != 0:
        text = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
        why = next((line.strip() for line in reversed(text) if line.strip()), "")
        label = "daemon unreachable" if engine == "docker" else "not usable"
        return EngineProbe(engine, path, False, f"{label} (`{engine} info` exited "
                                                f"{proc.returncode}{': ' + why if why else ''})")
    return EngineProbe(engine, path, True, "ready")


def detect_engine(env: Mapping[str, str], wanted: str = "auto", timeout: float = 20
                  ) -> tuple[EngineProbe | None, list[EngineProbe]]:
    """The first usable engine (in ENGINES order, or just `wanted`) and every probe made."""
    names = ENGINES if wanted == "auto" else (wanted,)
    probes: list[EngineProbe] = []
    for name in names:
        found = probe_engine(name, env, timeout)
        probes.append(found)
        if found.usable:
            return found, probes
    return None, probes


def default_tag(project: str, run_id: str) -> str:
    """`secpipe/<project>:<run id>`, both made valid for a registry reference."""
    repo = re.sub(r"[^a-z0-9._-]+", "-", project.lower()).strip("._-") or "project"
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).lstrip(".-")[:128] or "latest"
    return f"secpipe/{repo}:{tag}"


class BuildImage(Scanner):
    name = "build-image"
    format = ""
    executable = ""
    produces_findings = False

    def scan(self, req: ScanRequest) -> ScanOutcome:
        opts = req.options
        wanted = str(opts.get("engine", "auto")).lower()
        if wanted not in ("auto", "none", *ENGINES):
            raise ToolCrashed(self.name, f"unknown engine {wanted!r}; use auto, none, "
                              f"{', '.join(ENGINES)}")
        if wanted == "none":
            return self._filesystem(["engine: none in tools.build-image"])
        found, probes = detect_engine(req.env, wanted, float(opts.get("probe_timeout", 20)))
        if found is None:
            why = [f"{p.engine}: {p.reason}" for p in probes]
            if wanted != "auto":
                raise ToolMissing(self.name, f"engine {wanted} was asked for but cannot build: "
                                  f"{why[0]}")
            return self._filesystem(why)
        return self._build(req, found)

    def _filesystem(self, why: list[str]) -> ScanOutcome:
        # A tool that hands no report ends SKIPPED with its notes as the reason (runner): that
        # is exactly the visible line filesystem mode needs, so this instance says it would
        # have produced something.
        self.produces_findings = True
        note = ("filesystem mode: no container engine can build here (" + "; ".join(why)
                + "); later stages scan the source tree and lockfiles, not an image")
        return ScanOutcome(reports=[], exit_code=0, command=[], notes=[note],
                           outputs={"mode": "filesystem"})

    def _build(self, req: ScanRequest, engine: EngineProbe) -> ScanOutcome:
        opts = req.options
        assert engine.path is not None
        context = (req.root / str(opts.get("context", "."))).resolve()
        dockerfile = (req.root / str(opts.get("dockerfile", "Dockerfile"))).resolve()
        if not dockerfile.is_file():
            raise ToolCrashed(self.name, f"no Dockerfile at {dockerfile} (set "
                              "tools.build-image.dockerfile)")
        if not context.is_dir():
            raise ToolCrashed(self.name, f"build context {context} is not a directory")
        project = str(opts.get("project") or req.root.resolve().name)
        tag = str(opts.get("tag") or default_tag(project, req.run_id or "latest"))
        archive = req.workdir / ARCHIVE_NAME
        build = build_argv(engine.engine, engine.path, dockerfile, context, tag, opts)
        save = save_argv(engine.engine, engine.path, tag, archive)
        deadline = time.monotonic() + req.timeout
        started = run_tool(self.name, build, cwd=context, env=req.env, timeout=req.timeout,
                           ok=frozenset({0}))
        saved = run_tool(self.name, save, cwd=req.workdir, env=req.env,
                         timeout=max(1.0, deadline - time.monotonic()), ok=frozenset({0}))
        if not archive.is_file() or archive.stat().st_size == 0:
            raise ToolCrashed(self.name, f"`{' '.join(save[:2])}` wrote no archive at {archive}",
                              command=save)
        notes = [f"engine: {engine.engine} ({engine.path})",
                 f"built {tag} in {started.duration_s:.1f}s, saved {archive.stat().st_size} "
                 f"bytes in {saved.duration_s:.1f}s"]
        return ScanOutcome(reports=[], exit_code=0, command=build, notes=notes,
                           stderr=started.stderr + saved.stderr,
                           outputs={"image": tag, "image_archive": str(archive),
                                    "engine": engine.engine})


def build_argv(engine: str, exe: str, dockerfile: Path, context: Path, tag: str,
               opts: Mapping[str, object]) -> list[str]:
    verb = ["bud"] if engine == "buildah" else ["build"]
    argv = [exe, *verb, "-f", str(dockerfile), "-t", tag]
    build_args = opts.get("build_args") or {}
    if not isinstance(build_args, Mapping):
        raise ToolCrashed("build-image", "tools.build-image.build_args should be a mapping")
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    if opts.get("target"):
        argv += ["--target", str(opts["target"])]
    if opts.get("network"):
        argv += ["--network", str(opts["network"])]
    if opts.get("pull"):
        argv.append("--pull")
    argv += [str(a) for a in opts.get("extra_args") or []]  # type: ignore[union-attr]
    argv.append(str(context))
    return argv


def save_argv(engine: str, exe: str, tag: str, archive: Path) -> list[str]:
    if engine == "docker":
        return [exe, "save", "-o", str(archive), tag]
    if engine == "podman":
        return [exe, "save", "--format", "docker-archive", "-o", str(archive), tag]
    return [exe, "push", tag, f"docker-archive:{archive}:{tag}"]
