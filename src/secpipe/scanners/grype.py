"""grype (Anchore's matcher, the successor of the seed's Anchore Engine scan) where a user has it.

What it scans, in order of preference (`target: auto`): the SBOM a stage this one needs handed
on (`grype sbom:PATH`), else the image archive (`docker-archive:PATH`), else the tree
(`dir:ROOT`); `target: sbom | image | dir` forces one. grype matches against its own database,
which it downloads and updates itself: offline, with no database yet, it exits with an error,
and the stage fails closed with grype's own message. `db_auto_update: false` stops the update
check for air-gapped runners that load the database with `grype db import`.

grype is not pinned by `secpipe tools` (no registry here carries it): install it the way
Anchore documents, and put it on PATH.
"""

from __future__ import annotations

from pathlib import Path

from secpipe.scanners.interface import (
    ReportMissing, ScanOutcome, ScanRequest, Scanner, ToolCrashed, ToolMissing, require_report,
)


def pick_target(tool: str, req: ScanRequest, prefixes: dict[str, str]) -> tuple[str, str]:
    """(kind, argument) for sbom / image / dir as the `target` option and the inputs say."""
    wanted = str(req.options.get("target", "auto")).lower()
    if wanted not in ("auto", "sbom", "image", "dir"):
        raise ToolCrashed(tool, f"unknown target {wanted!r}; use auto, sbom, image or dir")
    given = {"sbom": req.inputs.get("sbom"), "image": req.inputs.get("image_archive")}
    for kind in (("sbom", "image") if wanted == "auto" else (wanted,)):
        if kind == "dir":
            break
        path = given[kind]
        if not path:
            if wanted == kind:
                what = "an SBOM (need the sbom stage)" if kind == "sbom" else \
                    "an image archive (need the build stage)"
                raise ReportMissing(tool, f"target: {kind}, but no stage this one needs handed "
                                    f"{what}")
            continue
        if not Path(path).is_file():
            raise ReportMissing(tool, f"the {kind} file {path} handed on is gone")
        return kind, prefixes[kind] + str(path)
    return "dir", prefixes["dir"] + str(req.root)


class Grype(Scanner):
    name = "grype"
    format = "grype"
    executable = "grype"

    def scan(self, req: ScanRequest) -> ScanOutcome:
        try:
            exe = self.locate(req)
        except ToolMissing:
            raise ToolMissing(self.name, "`grype` not found on PATH; secpipe cannot install it "
                              "here: install grype as Anchore documents it (or use the "
                              "osv-match tool, which needs no download)") from None
        kind, target = pick_target(self.name, req, {"sbom": "sbom:", "image": "docker-archive:",
                                                    "dir": "dir:"})
        argv = [exe, target, "-o", "json", "-q"]
        for name in req.options.get("exclude", []) if kind == "dir" else []:
            argv += ["--exclude", str(name)]
        env = dict(req.env)
        env.setdefault("GRYPE_CHECK_FOR_APP_UPDATE", "false")
        if req.options.get("db_auto_update") is False:
            env["GRYPE_DB_AUTO_UPDATE"] = "false"
        run = self.execute(ScanRequest(**{**req.__dict__, "env": env}), argv)
        report = require_report(self.name, "grype.json", run.stdout, argv)
        return ScanOutcome(reports=[report], exit_code=run.exit_code, command=argv,
                           stderr=run.stderr, notes=[f"target: {target}"])
