"""What the scanned tree holds: its Dockerfiles and the checkov frameworks whose files are there.

One walk, shared by hadolint and checkov, so both scan the same Dockerfiles and the summary can
list them. Dockerfiles are recognised by name (`Dockerfile`, `Dockerfile.*`, `Dockerfile_*`,
`*.Dockerfile`, `Containerfile`, `Containerfile.*`) and, for any other small text file without a
known source or data extension, by content: the first instruction (after comments and parser
directives) is `FROM image` or `ARG NAME` followed later by a `FROM`. checkov's own name mask
misses `Dockerfile_web` and `Containerfile` (it scans only `[x.]Dockerfile[.y]`), so the
checkov adapter hands those over separately (see :func:`checkov_reads_name`).

Frameworks are detected from file names and, for YAML/JSON, from the first bytes of the file
(apiVersion/kind, AWSTemplateFormatVersion, openapi/swagger, an ARM `$schema`, ...), close to
what each checkov runner itself looks for, so that the IaC stage runs every framework whose
files are present and says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Sequence

from secpipe.scanners._files import walk

SNIFF_BYTES = 16 * 1024
MAX_SNIFF_FILE = 2 * 1024 * 1024
# Source, data and document files are never Dockerfiles by content (their names would say so).
_NOT_DOCKERFILE_EXT = frozenset(
    ".js .jsx .ts .tsx .mjs .cjs .py .rb .go .java .kt .c .h .cc .cpp .rs .php .cs .swift .sh "
    ".bash .ps1 .json .yml .yaml .toml .ini .cfg .xml .html .htm .css .scss .md .rst .txt "
    ".lock .sum .mod .tf .hcl .bicep .sql .csv .tsv .svg .png .jpg .jpeg .gif .ico .pdf .zip "
    ".gz .tgz .tar .jar .whl .pem .key .crt .map .env .properties .gradle .tpl .j2".split())
_FROM = re.compile(r"FROM\s+(--platform=\S+\s+)?[\w.${}:/@-]+(\s+AS\s+[\w.-]+)?\s*$",
                   re.IGNORECASE)
_ARG = re.compile(r"ARG\s+[A-Za-z_][A-Za-z0-9_]*(=\S*)?\s*$", re.IGNORECASE)
_CHECKOV_DOCKERFILE = re.compile(r"^(?:.+\.)?[Dd]ockerfile(?:\..+)?$")  # checkov 3's mask

# Frameworks secpipe can detect, in the order checkov is asked for them.
FRAMEWORKS = (
    "dockerfile", "kubernetes", "helm", "kustomize", "terraform", "cloudformation", "serverless",
    "arm", "bicep", "openapi", "ansible", "argo_workflows", "github_actions", "gitlab_ci",
    "azure_pipelines", "circleci_pipelines", "bitbucket_pipelines", "secrets",
)
_BY_NAME = {
    "Chart.yaml": "helm",
    "kustomization.yaml": "kustomize", "kustomization.yml": "kustomize",
    "Kustomization": "kustomize",
    "serverless.yml": "serverless", "serverless.yaml": "serverless",
    ".gitlab-ci.yml": "gitlab_ci", ".gitlab-ci.yaml": "gitlab_ci",
    "azure-pipelines.yml": "azure_pipelines", "azure-pipelines.yaml": "azure_pipelines",
    "bitbucket-pipelines.yml": "bitbucket_pipelines",
    "bitbucket-pipelines.yaml": "bitbucket_pipelines",
}
_K8S = (re.compile(r"^apiVersion:\s*\S+", re.M), re.compile(r"^kind:\s*\S+", re.M))
_ARGO = re.compile(r"^apiVersion:\s*argoproj\.io/", re.M)
_CFN = re.compile(r"AWSTemplateFormatVersion|[\"']?Type[\"']?\s*:\s*[\"']?AWS::\w+::")
_OPENAPI_YAML = re.compile(r"^(openapi|swagger)\s*:\s*[\"']?\d", re.M)
_OPENAPI_JSON = re.compile(r"^\s*\{?\s*\"(openapi|swagger)\"\s*:\s*\"\d", re.M)
_ARM = re.compile(r"\"\$schema\"\s*:\s*\"[^\"]*deploymentTemplate\.json", re.I)
_ANSIBLE_PLAY = re.compile(r"^\s*-\s+(hosts|import_playbook)\s*:", re.M)
_ANSIBLE_TASK = re.compile(r"^\s*-\s+name:\s+", re.M)


@dataclass
class TreeInventory:
    """Relative POSIX paths of what was found, per kind."""

    dockerfiles: list[str] = field(default_factory=list)
    frameworks: dict[str, list[str]] = field(default_factory=dict)

    def add(self, framework: str, rel: str) -> None:
        self.frameworks.setdefault(framework, []).append(rel)

    def framework_names(self) -> list[str]:
        return [f for f in FRAMEWORKS if f in self.frameworks]


def dockerfile_by_name(name: str) -> bool:
    """`Dockerfile`, `Dockerfile.*`, `Dockerfile_*`, `*.Dockerfile`, `Containerfile[.*]`."""
    for stem in ("Dockerfile", "Containerfile"):
        if name == stem or name.startswith((stem + ".", stem + "_", stem + "-")):
            return not name.endswith(".dockerignore")
        if name.endswith("." + stem):
            return True
    return False


def dockerfile_by_content(head: str) -> bool:
    """The first instruction is `FROM image` (or `ARG NAME` with a `FROM` later)."""
    saw_arg = False
    for raw in head.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _FROM.match(line):
            return True
        if _ARG.match(line):
            saw_arg = True
            continue
        return False
    return False


def checkov_reads_name(name: str) -> bool:
    """Whether checkov's dockerfile runner picks this file name up by itself."""
    return bool(_CHECKOV_DOCKERFILE.match(name)) and not name.endswith(".dockerignore")


def _head(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_SNIFF_FILE:
            return ""
        with path.open("rb") as fh:
            data = fh.read(SNIFF_BYTES)
    except OSError:
        return ""
    if b"\x00" in data:
        return ""
    return data.decode("utf-8", "replace")


def find_dockerfiles(root: Path, exclude: Sequence[str] = ()) -> list[Path]:
    """Every Dockerfile under root, by name or by content (the one rule hadolint and checkov
    share)."""
    return [root / rel for rel in inventory(root, exclude, dockerfiles_only=True).dockerfiles]


def inventory(root: Path, exclude: Sequence[str] = (), *, dockerfiles_only: bool = False
              ) -> TreeInventory:
    """Walk the tree once: Dockerfiles and the checkov frameworks whose files are present."""
    inv = TreeInventory()
    for path in walk(root, exclude):
        rel = path.relative_to(root).as_posix()
        name = path.name
        suffix = PurePosixPath(name).suffix.lower()
        if dockerfile_by_name(name) or (suffix not in _NOT_DOCKERFILE_EXT
                                        and dockerfile_by_content(_head(path))):
            inv.dockerfiles.append(rel)
            inv.add("dockerfile", rel)
            continue
        if dockerfiles_only:
            continue
        if name in _BY_NAME:
            inv.add(_BY_NAME[name], rel)
            continue
        parts = rel.split("/")
        if suffix == ".tf" or name.endswith(".tf.json"):
            inv.add("terraform", rel)
        elif suffix == ".bicep":
            inv.add("bicep", rel)
        elif suffix in (".yml", ".yaml"):
            if len(parts) >= 3 and parts[-3:-1] == [".github", "workflows"]:
                inv.add("github_actions", rel)
            elif len(parts) >= 2 and parts[-2] == ".circleci" and name.startswith("config."):
                inv.add("circleci_pipelines", rel)
            else:
                _sniff_yaml(inv, rel, parts, _head(path))
        elif suffix == ".json":
            _sniff_json(inv, rel, _head(path))
    inv.add("secrets", ".")  # checkov's secrets framework reads every file
    return inv


def _sniff_yaml(inv: TreeInventory, rel: str, parts: list[str], head: str) -> None:
    if not head:
        return
    in_chart = "templates" in parts[:-1]  # helm templates: the helm framework renders them
    if _ARGO.search(head):
        inv.add("argo_workflows", rel)
    elif _CFN.search(head) and re.search(r"^Resources\s*:", head, re.M):
        inv.add("cloudformation", rel)
    elif _OPENAPI_YAML.search(head):
        inv.add("openapi", rel)
    elif all(p.search(head) for p in _K8S):
        if not in_chart:
            inv.add("kubernetes", rel)
    elif _ANSIBLE_PLAY.search(head) or (
            _ANSIBLE_TASK.search(head) and any(p in ("tasks", "handlers", "playbooks")
                                               for p in parts[:-1])):
        inv.add("ansible", rel)


def _sniff_json(inv: TreeInventory, rel: str, head: str) -> None:
    if not head:
        return
    if _ARM.search(head):
        inv.add("arm", rel)
    elif "AWSTemplateFormatVersion" in head or re.search(r"\"Type\"\s*:\s*\"AWS::", head):
        inv.add("cloudformation", rel)
    elif _OPENAPI_JSON.search(head):
        inv.add("openapi", rel)
    elif all(re.search(rf"\"{k}\"\s*:", head) for k in ("apiVersion", "kind")):
        inv.add("kubernetes", rel)
