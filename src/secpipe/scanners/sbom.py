"""The SBOM stage: one CycloneDX JSON bill of materials per run, handed to the SCA stage.

From syft when it is installed (`syft scan dir:ROOT` or `docker-archive:IMAGE.tar` when the
build stage handed an image archive), otherwise built by secpipe itself from the tree's
lockfiles and, with an image archive, the image's dpkg/apk databases (:mod:`secpipe.sbom`).
The SBOM is written into the tool's workdir, which lives until the run ends, handed on as
`outputs = {"sbom": path}` and archived with the run as `raw/<stage>/sbom.cdx.json`. It holds
no findings: it is what later stages (osv-match, grype, trivy-vuln) read.

Options (`tools.sbom`): `engine` (auto | syft | secpipe), `source` (auto | dir | image: auto
takes the image archive when the build stage handed one), `include_dev` (false: packages only a
development build installs are left out, as syft does), `name` (the SBOM's subject).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from secpipe.scanners._files import ALWAYS_EXCLUDED, walk
from secpipe.scanners.interface import (
    RawReport, ReportMissing, ScanOutcome, ScannerError, ScanRequest, Scanner, ToolCrashed,
    ToolMissing,
)
from secpipe.words import plural

SBOM_NAME = "sbom.cdx.json"


class Sbom(Scanner):
    name = "sbom"
    format = "cyclonedx"
    executable = "syft"
    produces_findings = False

    def scan(self, req: ScanRequest) -> ScanOutcome:
        opts = req.options
        engine = str(opts.get("engine", "auto")).lower()
        if engine not in ("auto", "syft", "secpipe"):
            raise ToolCrashed(self.name, f"unknown engine {engine!r}; use auto, syft or secpipe")
        archive = self._image_archive(req)
        syft = shutil.which("syft", path=req.env.get("PATH", "")) if engine != "secpipe" else None
        if engine == "syft" and syft is None:
            raise ToolMissing(self.name, "engine syft was asked for but `syft` is not on PATH; "
                              "install it with `secpipe tools install syft`")
        out = req.workdir / SBOM_NAME
        if syft is not None:
            outcome = self._syft(req, syft, archive, out)
        else:
            outcome = self._secpipe(req, archive, out)
        data = out.read_bytes() if out.is_file() else b""
        count = _check_sbom(self.name, data, outcome.command)
        outcome.notes.append(f"{plural(count, 'component')} in {out.name}")
        outcome.artifacts = [RawReport(SBOM_NAME, data)]
        outcome.outputs = {"sbom": str(out)}
        return outcome

    def _image_archive(self, req: ScanRequest) -> Path | None:
        source = str(req.options.get("source", "auto")).lower()
        if source not in ("auto", "dir", "image"):
            raise ToolCrashed(self.name, f"unknown source {source!r}; use auto, dir or image")
        given = req.inputs.get("image_archive")
        if source == "dir":
            return None
        if not given:
            if source == "image":
                raise ReportMissing(self.name, "source: image, but no stage this one needs "
                                    "handed an image archive (add the build stage to `needs`)")
            return None
        path = Path(given)
        if not path.is_file():
            raise ReportMissing(self.name, f"the image archive {path} handed on is gone")
        return path

    def _syft(self, req: ScanRequest, exe: str, archive: Path | None, out: Path) -> ScanOutcome:
        target = f"docker-archive:{archive}" if archive else f"dir:{req.root}"
        argv = [exe, "scan", target, "-o", f"cyclonedx-json={out}", "-q"]
        if archive is None:
            for name in (*ALWAYS_EXCLUDED, *req.exclude):
                argv += ["--exclude", f"./**/{name.strip('/')}/**"]
        env = dict(req.env)
        env.setdefault("SYFT_CHECK_FOR_APP_UPDATE", "false")
        run = self.execute(ScanRequest(**{**req.__dict__, "env": env}), argv)
        return ScanOutcome(reports=[], exit_code=run.exit_code, command=argv, stderr=run.stderr,
                           notes=[f"engine: syft ({target})"])

    def _secpipe(self, req: ScanRequest, archive: Path | None, out: Path) -> ScanOutcome:
        from secpipe.sbom import LockfileError, build_sbom, to_json

        opts = req.options
        command = ["secpipe.sbom", f"dir:{req.root}"]
        if archive is not None:
            command.append(f"docker-archive:{archive}")
        try:
            result = build_sbom(req.root, walk(req.root, req.exclude), image_archive=archive,
                                name=str(opts.get("name") or req.root.resolve().name),
                                include_dev=bool(opts.get("include_dev", False)))
        except LockfileError as exc:
            raise ScannerError(self.name, f"cannot read {exc}; the SBOM would miss its "
                               "packages (exclude the file if it is not the project's)",
                               command=command) from None
        except OSError as exc:
            raise ScannerError(self.name, f"cannot read the tree: {exc}", command=command) from None
        out.write_bytes(to_json(result))
        notes = ["engine: secpipe (syft is not installed: `secpipe tools install syft`)"
                 if opts.get("engine", "auto") == "auto" else "engine: secpipe",
                 *(f"read {s}" for s in result.sources), *result.notes]
        if result.dev_left_out:
            notes.append(f"{result.dev_left_out} development-only packages left out "
                         "(include_dev: true keeps them)")
        if not result.sources:
            notes.append("no lockfile found: the SBOM lists no packages")
        return ScanOutcome(reports=[], exit_code=0, command=command, notes=notes)


def _check_sbom(tool: str, data: bytes, command: list[str]) -> int:
    """The SBOM must be CycloneDX JSON: a missing or broken one fails the stage."""
    if not data.strip():
        raise ReportMissing(tool, f"wrote no SBOM ({SBOM_NAME})", command=command)
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ReportMissing(tool, f"the SBOM is not JSON: {exc}", command=command) from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise ReportMissing(tool, "the SBOM is not a CycloneDX document", command=command)
    comps = doc.get("components") or []
    return len(comps) if isinstance(comps, list) else 0
