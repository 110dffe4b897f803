"""`secpipe cache`: the incremental-scan cache (`where`, `clear`).

The cache holds parsed findings (secrets only as digest and masked form) and scrubbed reports,
keyed by tool, version, options and content digests; clearing it only makes the next run cold.
"""

from __future__ import annotations

import click


@click.group()
def cache() -> None:
    """The scan cache that lets a re-run reuse what an unchanged tree already gave."""


@cache.command("where")
def where() -> None:
    """Print the cache directory ($SECPIPE_SCAN_CACHE, else under secpipe's cache dir)."""
    from secpipe.scancache.store import cache_root

    click.echo(str(cache_root()))


@cache.command("clear")
def clear() -> None:
    """Remove every cached scan result: the next run scans everything again."""
    from secpipe.scancache.store import cache_root, clear as clear_cache

    try:
        removed = clear_cache()
    except OSError as exc:
        from secpipe.cli._common import fail

        raise fail(f"cannot clear the scan cache {cache_root()}: {exc}") from None
    click.echo(f"removed {removed} cache entries from {cache_root()}")


def register(main: click.Group) -> None:
    main.add_command(cache)
