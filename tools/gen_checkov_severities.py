#!/usr/bin/env python3
"""Generate src/secpipe/formats/checkov_severities.tsv: a severity for every checkov check.

checkov states no severity offline (only Prisma Cloud fills it), so every failed check used to
be MEDIUM: an unencrypted public bucket ranked with a missing description. This script gives
each check id of the installed checkov (`checkov --list`) a severity and the basis for it, from
rules on the id prefix and on keywords of the check's title (first matching rule wins), then
explicit per-id overrides where the keywords mislead. The table is committed; re-run this
script when the pinned checkov changes, and review the diff:

    python tools/gen_checkov_severities.py [--checkov PATH] [--out PATH]

Bases (the `basis` column, also put on every finding as `severity_basis`):
  credential in code, IAM wildcard, public exposure, network exposure, privileged workload,
  code injection, authentication, encryption, encryption key choice, IAM, container hardening,
  supply chain, logging, resilience, hygiene, default.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "secpipe" / "formats" / "checkov_severities.tsv"

# (severity, basis, id regex or None, title regex or None); both given: both must match.
RULES: list[tuple[str, str, str | None, str | None]] = [
    # secrets found by checkov's secrets framework: a live credential
    ("HIGH", "credential in code", r"^CKV_SECRET_", None),
    ("HIGH", "credential in code", None,
     r"hard ?coded|secrets? (are|is) not|no secrets|credentials? (exist|in)"
     r"|plain ?text (password|secret)|access key and secret key"),
    # IAM: wildcards grant everything
    ("CRITICAL", "IAM wildcard", None,
     r"full (administrative|\"\*-\*\") privileges|\*:\*|admin(istrator)? (access|privileges)"
     r"|wildcard.*(action|principal)|(action|principal).*wildcard|allow \* "),
    ("HIGH", "IAM wildcard", None,
     r"wildcard|\"\*\"|'\*'|\* as|asterisk|privilege escalation|escalat"
     r"|assume.*(any|all)|data exfiltration|credentials exposure|write access.*without constraint"
     r"|permissions management"),
    # public data stores and public exposure
    ("CRITICAL", "public exposure", None,
     r"(bucket|blob|container|storage|database|snapshot|\bdb\b|rds|redshift|dms|elasticsearch"
     r"|opensearch|ami|ebs|registry|repository|secret|key vault|backup).*(public|anonymous)"
     r"|(public|anonymous).*(bucket|blob|storage|database|snapshot|rds|ami|ebs|registry)"),
    ("HIGH", "public exposure", None, r"public(ly)?|anonymous|open to the world|internet"),
    ("HIGH", "network exposure", None,
     r"0\.0\.0\.0|::/0|unrestricted|ingress from|allow.*all (ip|traffic|ports)|any ip"
     r"|(port|ports) (22|3389)|\b(ssh|rdp|telnet|ftp)\b.*(access|port|ingress)"),
    # workloads that own the node
    ("HIGH", "privileged workload", None,
     r"privileged|hostpid|host ?pid|host ?ipc|host ?network|hostpath|docker (socket|daemon)"
     r"|cap_sys_admin|sys_admin|root containers|run as root|hostport|kubernetes dashboard|tiller"
     r"|host (process|ipc|network)"),
    ("HIGH", "known vulnerability", None, r"cve-\d{4}-\d+|log4j|log4shell"),
    # injection and tampering in CI pipelines and images
    ("HIGH", "tampering (certificate validation off)", None,
     r"strict-ssl|certificate validation|--insecure|no-check-certificate|trusted-host|trusted_host"
     r"|verify ?(=|:)? ?false|disable.*(ssl|tls) verif|sslverify"),
    ("MEDIUM", "supply chain", None,
     r"signature|untrusted|gpg|unsigned|unauthenticated|force-yes"),
    ("HIGH", "code injection", None,
     r"injection|curl.*(pipe|\|)|suspicious use|netcat|reverse shell|unsecure commands"
     r"|allow_unsecure"),
    ("HIGH", "authentication", None,
     r"anonymous auth|without authentication|authentication is (disabled|not)|basic auth"
     r"|--anonymous-auth|insecure-port|auth(entication|orization)? mode.*alwaysallow"
     r"|rbac|\bmfa\b|multi-factor|password policy|authorization|authn|authenticat"),
    ("MEDIUM", "network exposure", None,
     r"overly permissive network|accept all traffic|'any'|\bany\b.*(source|address)|firewall"
     r"|security group|private endpoint|inside a vpc|custom vpc|network policy|legacy network"
     r"|private (google )?access|classic access|ssh keys"),
    # encryption
    ("LOW", "encryption key choice", None,
     r"customer[- ]managed|\bcmk\b|\bcsek\b|customer supplied|kms.*key|double encryption"
     r"|infrastructure encryption|key rotation|rotate|rotation"),
    ("MEDIUM", "encryption", None,
     r"encrypt|\btls\b|\bssl\b|https|in transit|at rest|cipher|certificate|secure transport"
     r"|secure protocol|strict transport security|hsts"),
    # IAM in general
    ("MEDIUM", "IAM", None,
     r"\biam\b|least privilege|permission|role|service account|token|access key|credential"
     r"|managed identit|policy attach|password|secret|elevated access|administrative privileges"
     r"|admin users|api keys?|root user"),
    # container and Kubernetes hardening
    ("MEDIUM", "container hardening", None,
     r"capabilit|seccomp|apparmor|selinux|readonly|read-only|read only|non-?root|\buser\b.*created"
     r"|allowprivilegeescalation|security ?context|uid|namespace shar|proc mount|sysctl|kubelet"
     r"|admission|api server|--"),
    ("LOW", "supply chain", None,
     r"latest|digest|image tag|pinned|version (is|are) (current|latest|pinned)|apt-get|apk add"
     r"|yum|pull ?policy|\bsha\b|detecting image|image usage|\badd\b instruction|copy"),
    # visibility
    ("LOW", "logging", None,
     r"\blog|audit|trail|monitor|alert|flow ?log|insight|tracing|x-ray|diagnostic|notification"
     r"|vulnerability assessment|defender|guardduty|security ?hub|scan on push|scanning"),
    # availability and hygiene
    ("LOW", "resilience", None,
     r"backup|versioning|deletion protection|multi-az|replicat|retention|recover|snapshot"
     r"|lifecycle|redundan|high availability|zone|termination protection|health ?check"
     r"|liveness|readiness|probe|limits? (are|is) set|requests? (are|is) set|cpu|memory|quota"
     r"|auto ?upgrade|auto ?repair|update|upgrade|patch|maintenance|failover|capacity"
     r"|soft[- ]delete|drop protection|purge protection|lockout"),
    ("INFORMATIONAL", "hygiene", None,
     r"description|\btags?\b|label|naming|comment|documentation|default namespace|default vpc"),
]

# Where the keywords mislead, with the reason in the basis.
OVERRIDES: dict[str, tuple[str, str]] = {
    "CKV_SECRET_2": ("CRITICAL", "credential in code (AWS access key: account takeover)"),
    "CKV_SECRET_13": ("CRITICAL", "credential in code (private key)"),
    "CKV_SECRET_6": ("MEDIUM", "credential in code (entropy only, no known credential pattern)"),
    "CKV_DOCKER_2": ("LOW", "resilience (no HEALTHCHECK)"),
    "CKV_DOCKER_3": ("MEDIUM", "container hardening (runs as root: no USER)"),
    "CKV_DOCKER_4": ("LOW", "hygiene (ADD instead of COPY)"),
    "CKV_DOCKER_7": ("LOW", "supply chain (base image without a version tag)"),
    "CKV_DOCKER_1": ("MEDIUM", "network exposure (port 22 exposed)"),
    "CKV_DOCKER_8": ("MEDIUM", "container hardening (last USER is root)"),
    "CKV_DOCKER_9": ("LOW", "hygiene (apt instead of apt-get)"),
    "CKV_DOCKER_10": ("LOW", "hygiene (relative WORKDIR)"),
    "CKV_DOCKER_11": ("LOW", "hygiene (duplicate stage alias)"),
    "CKV2_DOCKER_1": ("LOW", "container hardening (sudo in the image)"),
    "CKV_K8S_21": ("LOW", "hygiene (default namespace)"),
    "CKV_K8S_14": ("LOW", "supply chain (image tag latest or unset)"),
    "CKV_K8S_43": ("LOW", "supply chain (image without digest)"),
    "CKV_K8S_15": ("LOW", "supply chain (image pull policy not Always)"),
    "CKV_K8S_38": ("MEDIUM", "IAM (service account token mounted)"),
    "CKV_K8S_20": ("HIGH", "privileged workload (privilege escalation allowed)"),
    "CKV_K8S_16": ("HIGH", "privileged workload (privileged container)"),
    "CKV2_K8S_6": ("LOW", "network exposure (no NetworkPolicy: defence in depth)"),
    "CKV_GHA_2": ("HIGH", "code injection (run step interpolates untrusted event data)"),
    "CKV2_GHA_1": ("MEDIUM", "IAM (workflow token permissions not restricted)"),
    "CKV_GHA_7": ("MEDIUM", "code injection (workflow_dispatch inputs used unchecked)"),
    "CKV_AWS_20": ("CRITICAL", "public exposure (S3 bucket readable by everyone)"),
    "CKV_AWS_57": ("CRITICAL", "public exposure (S3 bucket writable by everyone)"),
    "CKV_AWS_19": ("MEDIUM", "encryption (S3 bucket not encrypted at rest)"),
    "CKV_AWS_18": ("LOW", "logging (S3 access logging)"),
    "CKV_AWS_21": ("LOW", "resilience (S3 versioning)"),
    "CKV2_AWS_61": ("LOW", "resilience (S3 lifecycle rule)"),
    "CKV2_AWS_62": ("LOW", "logging (S3 event notifications)"),
    "CKV_AWS_144": ("LOW", "resilience (S3 cross-region replication)"),
    "CKV_AWS_145": ("LOW", "encryption key choice (S3 KMS key)"),
    "CKV_AWS_1": ("CRITICAL", "IAM wildcard (policy grants \"*:*\")"),
    "CKV_AWS_41": ("HIGH", "credential in code (AWS keys in the provider block)"),
    "CKV_AWS_24": ("HIGH", "network exposure (SSH open to 0.0.0.0/0)"),
    "CKV_AWS_25": ("HIGH", "network exposure (RDP open to 0.0.0.0/0)"),
    "CKV_AWS_17": ("CRITICAL", "public exposure (RDS instance publicly accessible)"),
}

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")


def list_checks(checkov: str) -> tuple[str, dict[str, str]]:
    """(checkov version, {check id: title}) from `checkov --list`."""
    version = subprocess.run([checkov, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    out = subprocess.run([checkov, "--list", "--skip-download"], capture_output=True, text=True,
                         check=True).stdout
    return version, parse_listing(out)


def parse_listing(text: str) -> dict[str, str]:
    """`checkov --list`'s markdown table: | n | Id | Type | Entity | Policy | IaC | Link |."""
    checks: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 7 or not re.fullmatch(r"CKV\d?_[A-Z0-9_]+", cells[2]):
            continue
        checks.setdefault(cells[2], cells[5])
    return checks


def classify(check_id: str, title: str) -> tuple[str, str]:
    if check_id in OVERRIDES:
        return OVERRIDES[check_id]
    low = title.lower()
    for severity, basis, id_re, title_re in RULES:
        if id_re and not re.search(id_re, check_id):
            continue
        if title_re and not re.search(title_re, low):
            continue
        return severity, basis
    return "MEDIUM", "default (a misconfiguration of no class above)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkov", default=shutil.which("checkov") or "checkov")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    version, checks = list_checks(args.checkov)
    rows = []
    for check_id in sorted(checks, key=_id_key):
        severity, basis = classify(check_id, checks[check_id])
        assert severity in SEVERITIES, (check_id, severity)
        title = " ".join(checks[check_id].split()).replace("\t", " ")
        rows.append(f"{check_id}\t{severity}\t{basis}\t{title}")
    header = (f"# severity for every check of checkov {version}: generated by "
              "tools/gen_checkov_severities.py (rules + overrides); do not edit by hand\n"
              "check_id\tseverity\tbasis\ttitle\n")
    args.out.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    counts = {s: sum(1 for r in rows if r.split("\t")[1] == s) for s in SEVERITIES}
    print(f"{len(rows)} checks of checkov {version} -> {args.out}: {counts}")
    return 0


def _id_key(check_id: str) -> tuple[str, int]:
    prefix, _, num = check_id.rpartition("_")
    return (prefix, int(num) if num.isdigit() else 0)


if __name__ == "__main__":
    sys.exit(main())
