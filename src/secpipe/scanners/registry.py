"""Scanner adapters by tool name: built-ins plus `secpipe.scanners` entry points."""

from __future__ import annotations

import importlib
from functools import lru_cache

from secpipe.scanners.interface import Scanner

GROUP = "secpipe.scanners"

# name -> "module:class", imported on first use: a run imports its own tools' adapters, not
# the seventeen (deploy_local's socket, the image and cloud engines: ~5 ms of start-up).
BUILT_IN: dict[str, str] = {
    "git-secrets": "secpipe.scanners.git_secrets:GitSecrets",
    "detect-secrets": "secpipe.scanners.detect_secrets:DetectSecrets",
    "trufflehog3": "secpipe.scanners.trufflehog3:Trufflehog3",
    "hadolint": "secpipe.scanners.hadolint:Hadolint",
    "checkov": "secpipe.scanners.checkov:Checkov",
    "trivy": "secpipe.scanners.trivy:Trivy",
    "deploy-local": "secpipe.scanners.deploy_local:DeployLocal",
    "deploy-helm": "secpipe.scanners.deploy_helm:DeployHelm",
    "dast": "secpipe.scanners.dast:Dast",
    "osv-match": "secpipe.scanners.osv_match:OsvMatch",
    "build-image": "secpipe.scanners.build_image:BuildImage",
    "sbom": "secpipe.scanners.sbom:Sbom",
    "grype": "secpipe.scanners.grype:Grype",
    "trivy-vuln": "secpipe.scanners.trivy_vuln:TrivyVuln",
    "ecr-scan": "secpipe.scanners.ecr_scan:EcrScan",
    "runtime-sensor": "secpipe.scanners.runtime_sensor:RuntimeSensor",
    "kingfisher": "secpipe.scanners.kingfisher:Kingfisher",
}


def built_in(name: str) -> type[Scanner] | None:
    """The built-in adapter class named `name` (its module imported now), else None."""
    path = BUILT_IN.get(name)
    if path is None:
        return None
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)


@lru_cache(maxsize=1)
def all_scanners() -> dict[str, type[Scanner]]:
    # imported here: importlib.metadata (zipfile, email, ...) cost every run ~30 ms of start-up
    from importlib.metadata import entry_points

    found = {name: cls for name in BUILT_IN if (cls := built_in(name)) is not None}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep.load())
    return found


def find_scanner(name: str) -> type[Scanner] | None:
    """A built-in wins over a plugin of the same name (as in `all_scanners`), so a run whose
    tools are all built in never scans the installed packages' entry points (~10-25 ms)."""
    return built_in(name) or all_scanners().get(name)


def get_scanner(name: str) -> Scanner:
    cls = find_scanner(name)
    if cls is None:
        raise KeyError(f"unknown tool {name!r}; known tools: {', '.join(sorted(all_scanners()))}")
    return cls()
