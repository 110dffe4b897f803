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
