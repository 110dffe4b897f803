"""What every command group shares: the error console and the one way to fail (exit 2).

Kept apart from the root group so the command modules import it without importing each other."""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape

EXIT_ERROR = 2
err_console = Console(stderr=True)


def _fail(message: str) -> "click.exceptions.Exit":
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False,
                      soft_wrap=True)
    return click.exceptions.Exit(EXIT_ERROR)


fail = _fail


def _cli_fingerprint_key(hub: str | None):
    """The secret-fingerprint key for `convert` and `import` (secpipe.secretkey): the hub's
    when it is a local one, else $SECPIPE_FINGERPRINT_KEY_FILE or the project's
    (`.secpipe/hub.db.key`). A bad key file is exit 2."""
    from pathlib import Path

    from secpipe.keyfile import KeyFileError
    from secpipe.secretkey import load_fingerprint_key

    try:
        return load_fingerprint_key(hub, Path(".secpipe"))
    except (KeyFileError, OSError) as exc:
        raise _fail(f"secret fingerprint key: {exc}") from None
