"""Provisioning of the external scanners: pinned specs, isolated installs, probing.

The CLI (`secpipe tools install`, `secpipe doctor`) and the scanner adapters call these
functions; all of them return plain data and take a `log` callback for progress lines.
"""

from __future__ import annotations

from secpipe.tools.probe import (
    ToolState,
    bin_dir,
    install_hint,
    locate,
    probe,
    probe_many,
    read_receipt,
    tool_env,
    tools_dir,
)
from secpipe.tools.provision import InstallResult, ToolInstallError, install, install_many
from secpipe.tools.specs import (
    DEFAULT_TOOLS,
    OPTIONAL_TOOLS,
    SPECS,
    ToolSpec,
    UnknownToolError,
    get_spec,
)

__all__ = [
    "DEFAULT_TOOLS",
    "OPTIONAL_TOOLS",
    "SPECS",
    "InstallResult",
    "ToolInstallError",
    "ToolSpec",
    "ToolState",
    "UnknownToolError",
    "bin_dir",
    "get_spec",
    "install",
    "install_hint",
    "install_many",
    "locate",
    "probe",
    "probe_many",
    "read_receipt",
    "tool_env",
    "tools_dir",
]
