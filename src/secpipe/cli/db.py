"""Vulnerability database commands: `secpipe db import|update|status`.

The database is the one the SCA stage (osv-match) and the hub's OSV routes read: `--db PATH`,
else $SECPIPE_VULNDB, else ~/.cache/secpipe/vulndb.sqlite.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from secpipe.words import plural

DB_OPTION = click.option(
    "--db", "db_path", metavar="PATH", type=click.Path(path_type=Path), default=None,
    help="The database file (default: $SECPIPE_VULNDB or ~/.cache/secpipe/vulndb.sqlite).")


def _open(db_path: Path | None):
    from secpipe.vulndb import VulnDB

    return VulnDB(db_path)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never imported"
    if seconds < 3600:
        return f"{seconds / 60:.0f} minutes ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} hours ago"
    return f"{seconds / 86400:.0f} days ago"


@click.group("db")
def db() -> None:
    """The OSV vulnerability database the SCA stage matches SBOMs against.

    \b
    Examples:
      secpipe db import examples/web/osv-demo
      secpipe db import ~/Downloads/npm-all.zip ~/Downloads/PyPI-all.zip
      secpipe db update --ecosystem npm --ecosystem PyPI
      secpipe db status
    """


@db.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@DB_OPTION
def db_import(paths: tuple[Path, ...], db_path: Path | None) -> None:
    """Import OSV records from JSON files, folders of them, or OSV's per-ecosystem all.zip.

    A record replaces a stored one with the same id unless the stored one is newer. Archives
    with path-traversal names or that inflate beyond the size caps are refused whole.

    \b
    Examples:
      secpipe db import examples/web/osv-demo
      secpipe db import npm-all.zip --db .secpipe/vulndb.sqlite
    """
    from secpipe.cli._common import _fail
    from secpipe.vulndb import VulnDBError

    console = Console(stderr=True)
    store = _open(db_path)
    total = 0
    try:
        for path in paths:
            result = store.import_path(path)
            total += result.imported
            imported = plural(result.imported, "advisory", "advisories")
            console.print(f"{escape(str(path))}: {imported} imported"
                          + (f", {result.kept_newer} kept (stored copy newer)"
                             if result.kept_newer else "")
                          + f" in {result.seconds:.1f}s", highlight=False)
            for where, why in result.rejected[:20]:
                console.print(f"  [yellow]rejected[/] {escape(where)}: {escape(why)}",
                              highlight=False)
            if len(result.rejected) > 20:
                console.print(f"  ... and {len(result.rejected) - 20} more rejected")
        status = store.status()
    except VulnDBError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"{status.path}: {plural(status.advisories, 'advisory', 'advisories')}",
                  highlight=False)
    if total == 0 and status.advisories == 0:
        raise _fail("nothing was imported: the database is still empty")


@db.command("update")
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=".")
@click.option("--ecosystem", "ecosystems", multiple=True, metavar="NAME",
              help="OSV ecosystem to download (npm, PyPI, Go, Maven, Debian, Alpine, ...); "
                   "repeatable. Default: the ecosystems of PATH's lockfiles plus those already "
                   "in the database (else npm, PyPI, Go, Maven, Debian, Alpine).")
@click.option("--url", "base_url", default=None, metavar="URL",
              help="Base URL of the archives (default: $SECPIPE_OSV_URL, else OSV's public "
                   "bucket; a mirror works).")
@DB_OPTION
def db_update(path: Path, ecosystems: tuple[str, ...], base_url: str | None,
              db_path: Path | None) -> None:
    """Download OSV's per-ecosystem archives (<url>/<Ecosystem>/all.zip) and import them.

    Without --ecosystem: those of the project at PATH (default: the current directory), read
    from the lockfiles and manifests secpipe reads, plus those already in the database.
    Offline, it says so within seconds and leaves the database as it was: nothing is imported
    unless every archive arrived.

    \b
    Examples:
      secpipe db update                      # this project's ecosystems + those present
      secpipe db update ~/src/flaskapp
      secpipe db update --ecosystem npm --url https://mirror.example.com/osv
    """
    from secpipe.cli._common import _fail
    from secpipe.sbom import LockfileError
    from secpipe.vulndb import VulnDBError, update
    from secpipe.vulndb.fetch import osv_url, project_ecosystems

    console = Console(stderr=True)
    store = _open(db_path)
    wanted = list(ecosystems)
    try:
        if not wanted:
            try:
                found = project_ecosystems(path)
            except (LockfileError, OSError) as exc:
                raise _fail(f"{path}: cannot read its lockfiles: {exc}") from None
            present = list(store.status().ecosystems)
            wanted = list(dict.fromkeys([*found, *present]))
            console.print(f"ecosystems: {', '.join(found) or 'none'} (in {escape(str(path))})"
                          + (f", {', '.join(present)} (already in the database)"
                             if present else ""), highlight=False)
        result = update(store, wanted or None, base_url=osv_url(base_url),
                        log=lambda m: console.print(escape(m), highlight=False))
    except VulnDBError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    for ecosystem, res in result.results.items():
        console.print(f"{ecosystem}: {plural(res.imported, 'advisory', 'advisories')} "
                      "imported"
                      + (f", {len(res.rejected)} rejected" if res.rejected else ""))
    console.print(f"downloaded {result.bytes_downloaded / 1e6:.1f} MB")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@DB_OPTION
def db_status(as_json: bool, db_path: Path | None) -> None:
    """Show the database: ecosystems, advisory counts, last import and its age.

    \b
    Examples:
      secpipe db status
      secpipe db status --json --db .secpipe/vulndb.sqlite
    """
    from secpipe.cli._common import _fail
    from secpipe.vulndb import VulnDBError

    try:
        status = _open(db_path).status()
    except VulnDBError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        click.echo(json.dumps({
            "path": str(status.path), "exists": status.exists, "advisories": status.advisories,
            "ecosystems": status.ecosystems, "last_import": status.last_import,
            "age_seconds": status.age_seconds, "size_bytes": status.size_bytes}, indent=2))
        return
    console = Console()
    if not status.exists or status.advisories == 0:
        console.print(f"{escape(str(status.path))}: [bold red]empty[/] — the SCA stage will "
                      "refuse to run on it. Import advisories with `secpipe db import PATH` or "
                      "`secpipe db update`.", highlight=False)
        return
    table = Table("ecosystem", "advisories", show_edge=False)
    for ecosystem, count in status.ecosystems.items():
        table.add_row(escape(ecosystem), str(count))
    console.print(table)
    console.print(f"{escape(str(status.path))}: {status.advisories} advisories, "
                  f"{status.size_bytes / 1e6:.1f} MB, last import {status.last_import} "
                  f"({_age(status.age_seconds)})", highlight=False)


def register(main: click.Group) -> None:
    main.add_command(db)
