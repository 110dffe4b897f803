"""Scanner adapters by tool name: built-ins plus `secpipe.scanners` entry points."""

from __future__ import annotations

from functools import lru_cache

from secpipe.scanners.build_image import BuildImage
from secpipe.scanners.checkov import Checkov
from secpipe.scanners.dast import Dast
from secpipe.scanners.deploy_helm import DeployHelm
from secpipe.scanners.deploy_local import DeployLocal
from secpipe.scanners.detect_secrets import DetectSecrets
from secpipe.scanners.ecr_scan import EcrScan
from secpipe.scanners.git_secrets import GitSecrets
from secpipe.scanners.grype import Grype
from secpipe.scanners.hadolint import Hadolint
from secpipe.scanners.interface import Scanner
from secpipe.scanners.kingfisher import Kingfisher
from secpipe.scanners.osv_match import OsvMatch
from secpipe.scanners.runtime_sensor import RuntimeSensor
from secpipe.scanners.sbom import Sbom
from secpipe.scanners.trivy import Trivy
from secpipe.scanners.trivy_vuln import TrivyVuln
from secpipe.scanners.trufflehog3 import Trufflehog3

GROUP = "secpipe.scanners"


BUILT_IN: dict[str, type[Scanner]] = {
    cls.name: cls for cls in (GitSecrets, DetectSecrets, Trufflehog3, Hadolint, Checkov, Trivy,
                              DeployLocal, DeployHelm, Dast, OsvMatch,
                              BuildImage, Sbom, Grype, TrivyVuln, EcrScan, RuntimeSensor,
                              Kingfisher)
}


@lru_cache(maxsize=1)
def all_scanners() -> dict[str, type[Scanner]]:
    # imported here: importlib.metadata (zipfile, email, ...) cost every run ~30 ms of start-up
    from importlib.metadata import entry_points

    found = dict(BUILT_IN)
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep.load())
    return found


def find_scanner(name: str) -> type[Scanner] | None:
    """A built-in wins over a plugin of the same name (as in `all_scanners`), so a run whose
    tools are all built in never scans the installed packages' entry points (~10-25 ms)."""
    return BUILT_IN.get(name) or all_scanners().get(name)


def get_scanner(name: str) -> Scanner:
    cls = find_scanner(name)
    if cls is None:
        raise KeyError(f"unknown tool {name!r}; known tools: {', '.join(sorted(all_scanners()))}")
    return cls()
