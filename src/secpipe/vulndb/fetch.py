"""The vulnerability DB on first use: fetch what the SBOM needs, only that, or say what to run.

Trivy and Grype fetch their database when they first need it; so does the SCA stage, but only
the OSV archives of the ecosystems the SBOM actually contains and the database lacks (a Python
project downloads PyPI's archive, not npm's). Offline, nothing is changed and the error names
the exact commands (`secpipe db import`, `secpipe db update PATH`).

`secpipe db update PATH` uses :func:`project_ecosystems` to default to the ecosystems of the
scanned project plus those already in the database.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

from secpipe.vulndb.ecosystems import canonical
from secpipe.vulndb.matcher import load_sbom, packages_of
from secpipe.vulndb.store import VulnDB
from secpipe.vulndb.update import OSV_BUCKET, UpdateResult, update

URL_ENV = "SECPIPE_OSV_URL"  # a mirror of OSV's bucket (<url>/<Ecosystem>/all.zip)


def osv_url(option: object = None) -> str:
    return str(option or os.environ.get(URL_ENV) or OSV_BUCKET)


def ecosystems_of_sbom(data: bytes, source: str = "<sbom>") -> list[str]:
    """The canonical OSV ecosystems of an SBOM's packages (ValueError if it is not one)."""
    found, _skipped = packages_of(load_sbom(data, source))
    return sorted({canonical(pkg.base) for pkg, _comp in found})


def missing(db: VulnDB, ecosystems: Sequence[str]) -> list[str]:
    """Those of `ecosystems` the database holds no advisory for."""
    if not ecosystems:
        return []
    have = {e.lower() for e, n in db.status().ecosystems.items() if n}
    return [e for e in ecosystems if e.lower() not in have]


def fetch(db: VulnDB, ecosystems: Iterable[str], *, base_url: str | None = None,
          log: Callable[[str], None] = lambda _m: None) -> UpdateResult:
    """Download and import these ecosystems' archives (raises Offline / VulnDBError, leaving
    the database unchanged)."""
    return update(db, list(ecosystems), base_url=osv_url(base_url), log=log)


def project_ecosystems(root: Path, exclude: Sequence[str] = ()) -> list[str]:
    """The ecosystems of the lockfiles and manifests secpipe reads under root."""
    from secpipe.sbom import build_sbom, to_json
    from secpipe.scanners._files import walk

    result = build_sbom(root, walk(root, exclude), name=root.resolve().name or "project")
    if not result.components:
        return []
    return ecosystems_of_sbom(to_json(result), str(root))
