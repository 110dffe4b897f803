"""osv-match: the SCA stage's matcher (the seed's Anchore step), secpipe's own engine.

It reads the CycloneDX SBOM the SBOM stage handed on (`sbom`, via `needs`) — or
`tools.osv-match.sbom`, a path under the scanned tree — matches it against the OSV database
in-process and hands back a CycloneDX-with-vulnerabilities report, which the `cyclonedx`
format parses like any other tool's report. In-process, but through the same interface as an
external tool: every way the match cannot be trusted is a ScannerError, so the stage fails
closed rather than passing on an absent SBOM, an empty database, or a stale one.

Options (tools.osv-match in secpipe.yml):
  db: path of the database (default: $SECPIPE_VULNDB or ~/.cache/secpipe/vulndb.sqlite)
  sbom: SBOM path relative to the scanned tree, used when no stage hands one on
  max_age_days: refuse a database not refreshed for this long (default 30; 0 = no limit)
  empty_ecosystems: error (default) | skip — an ecosystem of the SBOM without any advisory
  fetch: auto (default) | never — on first use, download the OSV archives of the SBOM's
    ecosystems the DB has nothing for (only those); offline, an error naming the commands
  osv_url: a mirror of OSV's bucket (default: $SECPIPE_OSV_URL, else OSV's)

With no SBOM handed on and no `sbom` option (`secpipe run --stage sca` alone), the SBOM is built
from the tree's lockfiles by secpipe's own builder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from secpipe.scanners.interface import (RawReport, ReportMissing, ScanOutcome, ScanRequest,
                                        Scanner, ToolCrashed, ToolMissing)
from secpipe.words import plural

DEFAULT_MAX_AGE_DAYS = 30


class OsvMatch(Scanner):
    name = "osv-match"
    format = "cyclonedx"
    executable = ""  # in-process: nothing to find on PATH

    def _db_path(self, req: ScanRequest) -> Path | None:
        opt = req.options.get("db")
        if not opt:
            return None
        path = Path(str(opt)).expanduser()
        return path if path.is_absolute() else req.root / path

    def _sbom(self, req: ScanRequest) -> Path:
        given = req.inputs.get("sbom")
        if given:
            path = Path(given)
        elif req.options.get("sbom"):
            path = req.root / str(req.options["sbom"])
        else:
            built = self._sbom_from_tree(req)
            if built is None:
                raise ReportMissing(self.name, "no SBOM to match: add the SBOM stage to this "
                                    "stage's `needs` (it hands on `sbom`) or set "
                                    "tools.osv-match.sbom")
            path = built
        if not path.is_file():
            raise ReportMissing(self.name, f"SBOM {path} does not exist")
        return path

    def _sbom_from_tree(self, req: ScanRequest) -> Path | None:
        """`--stage sca` alone: no SBOM stage ran, so build one from the tree's lockfiles
        (secpipe's builder, as the sbom stage does without syft). None when there are none."""
        from secpipe.sbom import LockfileError, build_sbom, to_json
        from secpipe.scanners._files import walk

        try:
            result = build_sbom(req.root, walk(req.root, req.exclude),
                                name=req.root.resolve().name or "project")
        except (LockfileError, OSError) as exc:
            raise ReportMissing(self.name, f"no SBOM handed on, and the tree's lockfiles "
                                f"cannot be read: {exc}") from None
        if not result.components:
            return None
        out = req.workdir / "sbom-from-tree.cdx.json"
        out.write_bytes(to_json(result))
        return out

    def _status(self, db: Any, command: list[str]) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        from secpipe.vulndb import VulnDBError

        try:
            return db.status()
        except (VulnDBError, SQLAlchemyError) as exc:
            raise ToolCrashed(self.name, str(exc), command=command) from None

    def _fetch_missing(self, req: ScanRequest, db: Any, sbom_path: Path,
                       command: list[str]) -> list[str]:
        """First use (`fetch: auto`, the default): download the OSV archives of the SBOM's
        ecosystems the DB has nothing for, with progress on stderr. Offline: the DB is left
        as it was and the error names the commands to run. `fetch: never` skips this."""
        import sys

        from sqlalchemy.exc import SQLAlchemyError

        from secpipe.vulndb import VulnDBError
        from secpipe.vulndb.fetch import ecosystems_of_sbom, fetch, missing
        from secpipe.vulndb.update import Offline

        if str(req.options.get("fetch", "auto")).lower() in ("never", "false", "off", "no"):
            return []
        try:
            wanted = missing(db, ecosystems_of_sbom(sbom_path.read_bytes(), str(sbom_path)))
        except (ValueError, OSError, VulnDBError, SQLAlchemyError):
            return []  # the checks below report an unreadable SBOM or DB with their messages
        if not wanted:
            return []

        def progress(message: str) -> None:
            print(f"secpipe: osv-match: {message}", file=sys.stderr, flush=True)

        progress(f"the vulnerability DB {db.path} has no advisories for {', '.join(wanted)}: "
                 "fetching them from OSV (first use)")
        try:
            result = fetch(db, wanted, base_url=req.options.get("osv_url"), log=progress)
        except Offline as exc:
            empty = db.status().advisories == 0
            if not empty and str(req.options.get("empty_ecosystems", "error")).lower() == "skip":
                return [f"could not fetch {', '.join(wanted)} on first use: {exc}"]
            what = f"{db.path} is empty" if empty else f"empty for {', '.join(wanted)}"
            raise ToolMissing(
                self.name, f"vulnerability DB {what}: run `secpipe db import PATH` (OSV JSON "
                f"files, a folder of them, or OSV's {'/'.join(wanted)} all.zip copied from "
                f"elsewhere) or, online, `secpipe db update {req.root}`. Fetching "
                f"{', '.join(wanted)} on first use failed: {exc}", command=command) from None
        except VulnDBError as exc:
            raise ToolCrashed(self.name, f"fetching {', '.join(wanted)} failed: {exc}",
                              command=command) from None
        return [f"fetched {eco} from OSV on first use: {res.imported} advisories"
                for eco, res in result.results.items()]

    def scan(self, req: ScanRequest) -> ScanOutcome:
        from sqlalchemy.exc import SQLAlchemyError

        from secpipe.vulndb import VulnDB, VulnDBError, match_sbom
        from secpipe.vulndb.ecosystems import canonical

        start = time.monotonic()
        sbom_path = self._sbom(req)
        db = VulnDB(self._db_path(req))
        command = [self.name, "--db", str(db.path), str(sbom_path)]
        try:
            fetched = self._fetch_missing(req, db, sbom_path, command)
            status = self._status(db, command)
            if not status.exists or status.advisories == 0:
                raise ToolMissing(self.name, f"vulnerability DB {db.path} is empty: run "
                                  "`secpipe db import PATH` (OSV files, a folder or all.zip) or "
                                  "`secpipe db update`", command=command)
            max_age = float(req.options.get("max_age_days", DEFAULT_MAX_AGE_DAYS) or 0)
            age = status.age_seconds
            if max_age and age is not None and age > max_age * 86400:
                raise ToolMissing(self.name, f"vulnerability DB {db.path} is stale: last import "
                                  f"{status.last_import} ({age / 86400:.0f} days ago, limit "
                                  f"{max_age:g}); run `secpipe db update` or `secpipe db import "
                                  "...`, or raise tools.osv-match.max_age_days", command=command)
            try:
                scan = match_sbom(db, sbom_path.read_bytes(), str(sbom_path))
            except (VulnDBError, SQLAlchemyError) as exc:
                raise ToolCrashed(self.name, f"vulnerability DB {db.path}: {exc}",
                                  command=command) from None
            except ValueError as exc:
                raise ToolCrashed(self.name, f"cannot read the SBOM: {exc}",
                                  command=command) from None
            except OSError as exc:
                raise ReportMissing(self.name, f"cannot read {sbom_path}: {exc}",
                                    command=command) from None
        finally:
            db.close()
        result = scan.result
        notes = [*fetched, f"vulnerability DB {status.path}: {status.advisories} advisories, "
                 f"last import {status.last_import}",
                 f"{plural(len(result.packages), 'package')} matched, "
                 f"{plural(len(result.matches), 'vulnerability', 'vulnerabilities')} found"]
        empty = result.empty_ecosystems()
        if empty:
            message = (f"vulnerability DB empty for {', '.join(empty)}: run `secpipe db import "
                       "...` (OSV files or all.zip for " + ", ".join(empty) + ") or `secpipe db "
                       "update --ecosystem " + " --ecosystem ".join(empty) + "`")
            if str(req.options.get("empty_ecosystems", "error")).lower() != "skip":
                raise ToolMissing(self.name, message, command=command)
            notes.append(f"NOT CHECKED (empty_ecosystems: skip): {message}")
        if not result.packages:
            raise ReportMissing(self.name, f"the SBOM {sbom_path} lists no package this matcher "
                                "can check (no purls of a supported ecosystem)", command=command)
        ecosystems = sorted({canonical(p.base) for p in result.packages})
        notes.append("ecosystems: " + ", ".join(
            f"{e} ({result.advisory_counts.get(e.lower(), 0)} advisories in DB)"
            for e in ecosystems))
        if result.skipped:
            notes.append(f"{len(result.skipped)} components not checked: " + "; ".join(
                f"{what}: {why}" for what, why in result.skipped[:10])
                + (" ..." if len(result.skipped) > 10 else ""))
        notes += result.notes[:20]
        return ScanOutcome(reports=[RawReport("osv-match.cdx.json", scan.report)], exit_code=0,
                           command=command, duration_s=time.monotonic() - start, notes=notes)
