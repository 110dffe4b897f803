"""`secpipe db update`: download OSV's public per-ecosystem archives and import them.

Every archive is downloaded to a temporary folder first; only when all of them arrived are
they imported (in one transaction each). A machine without network access therefore gets a
clear "offline" error within seconds and keeps its database exactly as it was, instead of a
half-updated one or, worse, an empty one that would read as "no vulnerabilities".
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote

import httpx

from secpipe.vulndb.ecosystems import CANONICAL, base_of, canonical
from secpipe.vulndb.sources import MAX_TOTAL_BYTES, read_records
from secpipe.vulndb.store import ImportResult, VulnDB, VulnDBError

OSV_BUCKET = "https://osv-vulnerabilities.storage.googleapis.com"
DEFAULT_ECOSYSTEMS = ("npm", "PyPI", "Go", "Maven", "Debian", "Alpine")
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
MAX_DOWNLOAD_BYTES = 2 * 1024 ** 3


class Offline(VulnDBError):
    """OSV's archives could not be reached; the database was left untouched."""


@dataclass
class UpdateResult:
    ecosystems: list[str]
    results: dict[str, ImportResult] = field(default_factory=dict)
    bytes_downloaded: int = 0


def archive_url(base_url: str, ecosystem: str) -> str:
    return f"{base_url.rstrip('/')}/{quote(ecosystem, safe='')}/all.zip"


PROGRESS_EVERY = 16 * 1024 ** 2


def _download(client: httpx.Client, url: str, dest: Path, limit: int,
              log: Callable[[str], None] = lambda _m: None) -> int:
    with client.stream("GET", url) as resp:
        if resp.status_code == 404:
            raise VulnDBError(f"{url}: 404 (is the ecosystem name spelled as OSV spells it?)")
        if resp.status_code != 200:
            raise VulnDBError(f"{url}: HTTP {resp.status_code}")
        size = 0
        with dest.open("wb") as out:
            for chunk in resp.iter_bytes(1 << 20):
                if size // PROGRESS_EVERY != (size + len(chunk)) // PROGRESS_EVERY:
                    log(f"  {(size + len(chunk)) / 1e6:.0f} MB of {url}")
                size += len(chunk)
                if size > limit:
                    raise VulnDBError(f"{url}: larger than {limit} bytes; refusing it")
                out.write(chunk)
    return size


def update(db: VulnDB, ecosystems: Iterable[str] | None = None, *,
           base_url: str = OSV_BUCKET, log: Callable[[str], None] = lambda _m: None,
           connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT
           ) -> UpdateResult:
    """Download and import `ecosystems` (default: those already in the DB, else a common set).

    Raises Offline when the archive host cannot be reached, VulnDBError for any other failed
    download; in both cases nothing has been imported.
    """
    wanted = [canonical(base_of(e)) if base_of(e) in CANONICAL else e.strip()
              for e in (ecosystems or [])]
    if not wanted:
        wanted = list(db.status().ecosystems) or list(DEFAULT_ECOSYSTEMS)
    wanted = list(dict.fromkeys(wanted))
    result = UpdateResult(wanted)
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    with tempfile.TemporaryDirectory(prefix="secpipe-osv-") as tmp:
        files: list[tuple[str, Path]] = []
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            for ecosystem in wanted:
                url = archive_url(base_url, ecosystem)
                dest = Path(tmp) / f"{len(files)}.zip"
                log(f"downloading {url}")
                try:
                    result.bytes_downloaded += _download(client, url, dest,
                                                         min(MAX_DOWNLOAD_BYTES, MAX_TOTAL_BYTES),
                                                         log)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    raise Offline(
                        f"cannot reach {base_url} ({type(exc).__name__}: {exc}): this machine "
                        "looks offline. The vulnerability DB was not changed; import OSV "
                        "archives copied from elsewhere with `secpipe db import all.zip`"
                    ) from None
                except httpx.HTTPError as exc:
                    raise VulnDBError(f"{url}: download failed ({type(exc).__name__}: {exc}); "
                                      "the vulnerability DB was not changed") from None
                files.append((ecosystem, dest))
        for ecosystem, path in files:
            log(f"importing {ecosystem}")
            res = ImportResult()
            db.import_records(read_records(path, res.rejected),
                              label=archive_url(base_url, ecosystem), result=res)
            result.results[ecosystem] = res
    return result
