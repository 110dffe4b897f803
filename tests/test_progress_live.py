"""The live progress table (rich's Live and Spinner, imported only in live mode) still renders
queued and running tools; the plain mode prints lines without importing them."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from secpipe.progress import Progress


def test_the_live_table_shows_queued_and_running_tools() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with Progress(console, live=True) as display:
        events = display.events()
        events.tool_queued("secrets", "gitleaks")
        events.tool_queued("iac", "checkov")
        events.tool_started("secrets", "gitleaks")
        events.phase("writing reports")
    text = out.getvalue()
    assert "gitleaks" in text and "running" in text and "queued" in text


def test_plain_progress_imports_no_live_display() -> None:
    code = ("import io, sys\n"
            "from rich.console import Console\n"
            "from secpipe.progress import Progress\n"
            "c = Console(file=io.StringIO(), force_terminal=False)\n"
            "with Progress(c, live=False) as d:\n"
            "    d.events().tool_queued('s', 't'); d.events().tool_started('s', 't')\n"
            "print(c.file.getvalue().count('s/t'), 'rich.live' in sys.modules, "
            "'rich.spinner' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["2", "False", "False"]
