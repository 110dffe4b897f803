"""trivy's four kinds of result entries, each turned into Findings.

Kept apart from :mod:`secpipe.formats.trivy` (which only knows the report shapes) so each module
stays readable. Every function takes a :class:`Scope`: where in the report the entry sits (the
artifact, the result's target and class, and for cluster reports the Kubernetes object).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from secpipe.formats._common import as_int, as_list, dig, text
from secpipe.model import (
    Category, Finding, Location, Resource, Secret, Severity, Vulnerability, snippet_hash,
)

TOOL = "trivy"
# VEX/vendor statement that the installed package is not affected: not a problem to report.
SKIPPED_VULN_STATUSES = frozenset({"not_affected"})
# Misconfiguration statuses that are not failures (trivy writes FAIL, PASS, EXCEPTION).
NON_FAILING = frozenset({"PASS", "EXCEPTION"})
_CVSS_PREFERENCE = ("nvd", "ghsa", "redhat", "bitnami")
_REDACTED = re.compile(r"\*{3,}")
_MAX_REFS = 10


@dataclass(frozen=True)
class Scope:
    artifact_name: str = ""
    artifact_type: str = ""
    target: str = ""
    result_class: str = ""
    result_type: str = ""
    k8s: tuple[str, str, str, str] | None = None  # cluster, namespace, kind, name

    def resource(self) -> Resource | None:
        """The ASFF resource: the Kubernetes object, the image, or None for a file tree."""
        if self.k8s is not None:
            cluster, namespace, kind, name = self.k8s
            rid = "/".join(p for p in (namespace, kind, name) if p) or self.target or "cluster"
            details = {k: v for k, v in (("cluster", cluster), ("namespace", namespace),
                                         ("kind", kind), ("name", name)) if v}
            return Resource(type="Other", id=f"k8s:{cluster}/{rid}" if cluster else f"k8s:{rid}",
                            details=details)
        if self.artifact_type == "container_image" and self.artifact_name:
            return Resource(type="Container", id=self.artifact_name,
                            details={"target": self.target} if self.target else {})
        return None

    def is_file_target(self) -> bool:
        """Whether `target` names a file (a lockfile, a manifest) rather than an OS or image."""
        if self.k8s is not None or not self.target:
            return False
        if self.result_class:
            return self.result_class not in ("os-pkgs", "license")
        return "(" not in self.target  # legacy: "alpine:3.9 (alpine 3.9.4)" is an OS target

    def properties(self) -> dict[str, str]:
        props = {"Target": self.target, "Class": self.result_class, "Type": self.result_type}
        if self.artifact_name:
            props["ArtifactName"] = self.artifact_name
        if self.artifact_type:
            props["ArtifactType"] = self.artifact_type
        return {k: v for k, v in props.items() if v}


def _path(value: str) -> str:
    return value.replace("\\", "/").lstrip("/")


def _location(scope: Scope, path: str, start: int | None = None,
              end: int | None = None) -> Location | None:
    path = _path(path)
    if not path:
        return None
    start = start if start and start > 0 else None
    end = end if end and end > 0 and start else start
    return Location(path=path, start_line=start, end_line=end)


def _fallback_resource(scope: Scope, location: Location | None) -> Resource | None:
    """Without an artifact or a file, name the target so ASFF has something concrete."""
    resource = scope.resource()
    if resource is None and location is None and scope.target:
        resource = Resource(type="Other", id=scope.target)
    return resource


def _severity(value: Any) -> tuple[Severity, str | None]:
    word = text(value) or None
    return Severity.parse(word, Severity.INFORMATIONAL), word


def _refs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(text(v) for v in value if text(v)))[:_MAX_REFS]


def _cwes(value: Any) -> tuple[str, ...]:
    out = []
    for item in value if isinstance(value, list) else []:
        match = re.search(r"(?<!\d)(\d{1,9})(?!\d)", text(item))  # int() refuses 5,000 digits
        if match:
            out.append(f"CWE-{int(match.group(1))}")
    return tuple(dict.fromkeys(out))


def _cvss(item: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """One score for ASFF: the severity source's, else NVD, GHSA, Red Hat...; v3 before v4, v2."""
    cvss = item.get("CVSS")
    if not isinstance(cvss, Mapping):
        return None, None
    order = [text(item.get("SeveritySource"))] + list(_CVSS_PREFERENCE) + list(cvss)
    for source in dict.fromkeys(s for s in order if s):
        entry = cvss.get(source)
        if not isinstance(entry, Mapping):
            continue
        for score_key, vector_key in (("V3Score", "V3Vector"), ("V40Score", "V40Vector"),
                                      ("V2Score", "V2Vector")):
            score = entry.get(score_key)
            if isinstance(score, (int, float)) and not isinstance(score, bool):
                return float(score), text(entry.get(vector_key)) or None
    return None, None


def vulnerability(item: Mapping[str, Any], scope: Scope) -> Finding | None:
    status = text(item.get("Status")).lower()
    if status in SKIPPED_VULN_STATUSES:
        return None
    vid = text(item.get("VulnerabilityID")) or "UNIDENTIFIED"
    pkg = text(item.get("PkgName"))
    installed = text(item.get("InstalledVersion"))
    fixed = text(item.get("FixedVersion"))
    pkg_path = text(item.get("PkgPath"))
    severity, word = _severity(item.get("Severity") or "UNKNOWN")
    score, vector = _cvss(item)
    primary = text(item.get("PrimaryURL"))
    refs = _refs(item.get("References"))
    aliases = tuple(text(v) for v in as_list(item.get("VendorIDs")) if text(v))
    location = None
    if pkg_path:
        location = _location(scope, pkg_path)
    elif scope.is_file_target():
        location = _location(scope, scope.target)
    vuln_title = text(item.get("Title"))
    lines = [vuln_title] if vuln_title else []
    if text(item.get("Description")):
        lines.append(text(item.get("Description")))
    lines.append(f"Package: {pkg} {installed}".rstrip())
    lines.append(f"Fixed version: {fixed or 'none yet'}")
    if scope.target:
        lines.append(f"Target: {scope.target}")
    props = scope.properties()
    for key, value in (("Status", status), ("SeveritySource", text(item.get("SeveritySource"))),
                       ("PkgPath", pkg_path), ("PURL", text(dig(item, "PkgIdentifier", "PURL")))):
        if value:
            props[key] = value
    return Finding(
        tool=TOOL,
        rule_id=vid,
        title=" ".join(p for p in (vid, pkg, installed) if p),
        description="\n".join(lines),
        severity=severity,
        severity_original=word,
        category=Category.VULNERABILITY,
        location=location,
        resource=_fallback_resource(scope, location),
        remediation=f"Upgrade {pkg} to {fixed}." if fixed and pkg else None,
        remediation_url=primary or (refs[0] if refs else None),
        references=refs,
        cwe=_cwes(item.get("CweIDs")),
        vulnerabilities=(Vulnerability(
            id=vid, package=pkg or None, version=installed or None, fixed_version=fixed or None,
            aliases=aliases, cvss_score=score, cvss_vector=vector,
            urls=(primary,) if primary else refs[:1]),),
        location_key=f"{vid}|{pkg}|{pkg_path or scope.target}",
        properties=props,
    )


def misconfiguration(item: Mapping[str, Any], scope: Scope) -> Finding | None:
    status = text(item.get("Status")).upper()
    if status in NON_FAILING:
        return None
    rule = text(item.get("ID")) or text(item.get("AVDID")) or "UNIDENTIFIED"
    title = text(item.get("Title"), rule)
    message = text(item.get("Message"))
    cause = item.get("CauseMetadata") if isinstance(item.get("CauseMetadata"), Mapping) else {}
    start, end = as_int(cause.get("StartLine")), as_int(cause.get("EndLine"))
    location = None if scope.k8s is not None else _location(scope, scope.target, start, end)
    severity, word = _severity(item.get("Severity") or "UNKNOWN")
    refs = _refs(item.get("References"))
    cause_resource = text(cause.get("Resource"))
    props = scope.properties()
    for key, value in (("CheckType", text(item.get("Type"))),
                       ("Namespace", text(item.get("Namespace"))),
                       ("Provider", text(cause.get("Provider"))),
                       ("Service", text(cause.get("Service"))),
                       ("CauseResource", cause_resource),
                       ("AVDID", text(item.get("AVDID")))):
        if value:
            props[key] = value
    if scope.k8s is not None and start:
        props["ManifestLines"] = f"{start}-{end or start}"
    description = "\n".join(p for p in (text(item.get("Description")), message) if p)
    return Finding(
        tool=TOOL,
        rule_id=rule,
        title=f"{rule} - {title}",
        description=description or title,
        severity=severity,
        severity_original=word,
        category=Category.MISCONFIGURATION,
        location=location,
        resource=_fallback_resource(scope, location),
        remediation=text(item.get("Resolution")) or None,
        remediation_url=text(item.get("PrimaryURL")) or (refs[0] if refs else None),
        references=refs,
        # The message names the object and container ("Container 'web' of Deployment 'web'"),
        # which tells apart several failures of one check in one file without line numbers.
        location_key=f"{rule}|{scope.target}|{cause_resource}|{message}",
        properties=props,
    )


def secret(item: Mapping[str, Any], scope: Scope) -> Finding:
    """trivy masks the value in `Match` but prints neighbouring lines (`Code`) in clear, and
    those may hold another secret it did not recognise: Code is never read."""
    rule = text(item.get("RuleID")) or "UNIDENTIFIED"
    title = text(item.get("Title"), rule)
    match = text(item.get("Match"))
    start, end = as_int(item.get("StartLine")), as_int(item.get("EndLine"))
    location = None if scope.k8s is not None else _location(scope, scope.target, start, end)
    severity, word = _severity(item.get("Severity") or "UNKNOWN")
    found = None
    if match and _REDACTED.search(match):
        shown = match.strip()
        key = f"{rule}|{scope.target}|{snippet_hash(shown)}"
    elif match:
        # An unredacted match (a custom rule, an old trivy): keep only its hash and mask.
        found = Secret.from_value(match)
        shown = found.masked
        key = None  # identity comes from the secret's hash
    else:
        shown = ""
        key = None  # nothing stable to tell two such secrets apart: the pipeline's ordinal
    props = scope.properties()
    if text(item.get("Category")):
        props["SecretCategory"] = text(item.get("Category"))
    lines = [f"trivy found a secret: {title} ({rule})."]
    if shown:
        lines.append(f"Match (masked): {shown[:200]}")
    return Finding(
        tool=TOOL,
        rule_id=rule,
        title=title,
        description="\n".join(lines),
        severity=severity,
        severity_original=word,
        category=Category.SECRET,
        location=location,
        resource=_fallback_resource(scope, location),
        remediation="Revoke and rotate the credential, then remove it from the code and history.",
        secret=found,
        location_key=key,
        properties=props,
    )


def license_(item: Mapping[str, Any], scope: Scope) -> Finding:
    name = text(item.get("Name"), "unknown license")
    pkg = text(item.get("PkgName"))
    file_path = text(item.get("FilePath"))
    severity, word = _severity(item.get("Severity") or "UNKNOWN")
    location = _location(scope, file_path) if file_path and scope.k8s is None else None
    where = pkg or _path(file_path) or scope.target
    link = text(item.get("Link"))
    category = text(item.get("Category"))
    props = scope.properties()
    if category:
        props["LicenseCategory"] = category
    if pkg:
        props["PkgName"] = pkg
    confidence = item.get("Confidence")
    lines = [f"{name} license ({category or 'unclassified'}) in {where}."]
    if scope.target:
        lines.append(f"Target: {scope.target}")
    return Finding(
        tool=TOOL,
        rule_id=f"license:{name}",
        title=f"{name} license in {where}",
        description="\n".join(lines),
        severity=severity,
        severity_original=word,
        category=Category.COMPLIANCE,
        location=location,
        resource=_fallback_resource(scope, location),
        remediation_url=link or None,
        references=(link,) if link else (),
        confidence=(round(confidence * 100) if isinstance(confidence, (int, float))
                    and not isinstance(confidence, bool) and 0 <= confidence <= 1 else None),
        location_key=f"{name}|{pkg}|{_path(file_path)}|{scope.target}",
        properties=props,
    )
