"""checkov custom policies that secpipe ships and enables in its IaC stage.

The folders below are handed to checkov with `--external-checks-dir`; checkov, not secpipe,
imports their modules (inside its own environment), so nothing here is imported by secpipe.
"""

from __future__ import annotations

from pathlib import Path

#: Istio security checks `CKV_SECPIPE_ISTIO_*` (see istio/__init__.py for the list).
ISTIO_POLICY_DIR = Path(__file__).resolve().parent / "istio"

__all__ = ["ISTIO_POLICY_DIR"]
