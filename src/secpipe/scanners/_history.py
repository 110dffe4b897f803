"""History scanning outside a git work tree: said, never silently skipped.

The secret scanners that read history (git-secrets, trufflehog3) scan only the files of a plain
folder. `history` (tools.<tool>.history) is true (default: history when there is one), false,
or `required`: a folder without history is then an error (exit 2), for pipelines that must not
pass without the history check.
"""

from __future__ import annotations

from secpipe.scanners.interface import ScannerError, ScanRequest

OFF = ("false", "no", "off", "0")


def history_setting(req: ScanRequest) -> str:
    return str(req.options.get("history", True)).lower()


def history_coverage(tool: str, req: ScanRequest, command: list[str]) -> dict[str, str]:
    """{"history": why it is not scanned} ({} when it is); ScannerError when required."""
    setting = history_setting(req)
    where = req.root.name or str(req.root)
    if req.git_root is None:
        if setting in ("required", "require"):
            raise ScannerError(tool, f"history: required, but {where} is not inside a git work "
                               "tree, so its history cannot be scanned (scan a clone, or set "
                               f"tools.{tool}.history: true to scan the files only)",
                               command=command)
        return {"history": f"not scanned: {where} is not inside a git work tree (only its "
                           "files were scanned)"}
    if setting in OFF:
        return {"history": f"not scanned: tools.{tool}.history is false"}
    return {}
