"""Find report formats: built-ins and third-party plugins alike come from entry points."""

from __future__ import annotations

import importlib
from functools import lru_cache

from secpipe.formats.interface import Document, ReportFormat, ReportFormatError

GROUP = "secpipe.formats"

# Built-ins are also listed here so a source checkout works before `pip install -e`.
BUILTIN = {
    "git-secrets": "secpipe.formats.git_secrets",
    "detect-secrets": "secpipe.formats.detect_secrets",
    "trufflehog": "secpipe.formats.trufflehog",
    "trufflehog3": "secpipe.formats.trufflehog3",
    "gitleaks": "secpipe.formats.gitleaks",
    "kingfisher": "secpipe.formats.kingfisher",
    "hadolint": "secpipe.formats.hadolint",
    "checkov": "secpipe.formats.checkov",
    "trivy": "secpipe.formats.trivy",
    "sarif": "secpipe.formats.sarif",
    "semgrep": "secpipe.formats.semgrep",
    "bandit": "secpipe.formats.bandit",
    "kics": "secpipe.formats.kics",
    "tfsec": "secpipe.formats.tfsec",
    "terrascan": "secpipe.formats.terrascan",
    "kubescape": "secpipe.formats.kubescape",
    "kube-bench": "secpipe.formats.kube_bench",
    "kubeaudit": "secpipe.formats.kubeaudit",
    "zap": "secpipe.formats.zap",
    "wapiti": "secpipe.formats.wapiti",
    "nuclei": "secpipe.formats.nuclei",
    "nikto": "secpipe.formats.nikto",
    "asff": "secpipe.formats.asff",
    "ocsf": "secpipe.formats.ocsf",
    "anchore-engine": "secpipe.formats.anchore_engine",
    "anchorectl": "secpipe.formats.anchorectl",
    "grype": "secpipe.formats.grype",
    "ecr": "secpipe.formats.ecr",
    "inspector2": "secpipe.formats.inspector2",
    "npm-audit": "secpipe.formats.npm_audit",
    "pip-audit": "secpipe.formats.pip_audit",
    "osv-scanner": "secpipe.formats.osv_scanner",
    "dependency-check": "secpipe.formats.dependency_check",
    "cyclonedx": "secpipe.formats.cyclonedx",
    "falco": "secpipe.formats.falco",
    "snyk": "secpipe.formats.snyk",
}

# Sniffing order: specific shapes first, generic containers (SARIF, ASFF) and loose text last.
_SNIFF_LAST = ("sarif", "asff", "ocsf", "git-secrets")


@lru_cache(maxsize=1)
def all_formats() -> dict[str, ReportFormat]:
    found: dict[str, ReportFormat] = {}
    for name, module in BUILTIN.items():
        fmt = getattr(importlib.import_module(module), "FORMAT")
        found[name] = fmt
    # imported here: importlib.metadata (zipfile, email, ...) costs every run ~30 ms of
    # start-up, and a run asks only for its tools' built-in formats (get_format)
    from importlib.metadata import entry_points

    for ep in entry_points(group=GROUP):
        if ep.name in found:
            continue
        fmt = ep.load()
        if not isinstance(fmt, ReportFormat):
            raise TypeError(f"entry point {ep.name} ({ep.value}) is not a ReportFormat")
        found[ep.name] = fmt
    return dict(sorted(found.items()))


def get_format(name: str) -> ReportFormat:
    """The format `name`. A built-in is imported alone (a built-in name wins over an entry
    point in `all_formats` too): every tool of a run asks for its own, and importing all 36
    modules and reading every installed package's entry points cost each run 0.1-0.2 s."""
    if name in BUILTIN:
        return getattr(importlib.import_module(BUILTIN[name]), "FORMAT")
    formats = all_formats()
    try:
        return formats[name]
    except KeyError:
        raise KeyError(
            f"unknown format {name!r}; known formats: {', '.join(formats)}"
        ) from None


def sniff(data: bytes, source: str = "<report>") -> ReportFormat:
    """Pick the format of a report by its content, or raise ReportFormatError."""
    doc = Document(data, source)
    formats = all_formats()
    order = [n for n in formats if n not in _SNIFF_LAST] + [n for n in _SNIFF_LAST if n in formats]
    for name in order:
        fmt = formats[name]
        if fmt.sniff is None:
            continue
        try:
            if fmt.sniff(doc):
                return fmt
        except Exception:  # a sniffer that breaks must not pick a format
            continue
    raise ReportFormatError(
        source, "could not recognise the report's format; name it with --from FORMAT"
    )
