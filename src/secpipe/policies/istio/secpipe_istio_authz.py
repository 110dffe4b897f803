"""Authorization: a namespace default-deny, and ALLOW rules that let anyone in.

Istio allows every request to a workload no ALLOW policy selects; only a namespace-wide
"allow-nothing" policy (`spec: {}`) makes new workloads closed by default. And an ALLOW rule with
no `from`, or with `*` principals/namespaces, admits any caller (any pod, with PERMISSIVE mTLS
even unauthenticated ones) to the paths it names.

Public paths: an open rule is fine on paths meant for anyone. Those are the usual health
endpoints plus whatever the policy lists in its `secpipe.io/public-paths` annotation
(comma-separated, Istio path patterns such as `/`, `/static/*`). Policies of an ingress gateway
(selector `istio: ingressgateway` / `app: istio-ingressgateway`, or a targetRef to a Gateway)
are the public edge and not judged by CKV_SECPIPE_ISTIO_6.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Mapping

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # checkov adds the folder itself; this keeps the file importable alone
    sys.path.insert(0, _HERE)
import secpipe_istio_mesh as mesh  # noqa: E402

PUBLIC_PATHS_ANNOTATION = "secpipe.io/public-paths"
DEFAULT_PUBLIC_PATHS = ("/healthz", "/readyz", "/livez", "/health", "/ready", "/ping",
                        "/.well-known/*")
IDENTITY_FIELDS = ("principals", "namespaces", "requestPrincipals", "ipBlocks", "remoteIpBlocks",
                   "serviceAccounts")
# `when` keys that tie a rule to an identity; header-based conditions do not (clients set them).
IDENTITY_CONDITIONS = ("request.auth.", "source.principal", "source.namespace",
                       "source.serviceAccount", "source.ip", "remote.ip")
AUTHZ_DOCS = ("https://istio.io/latest/docs/ops/best-practices/security/"
              "#use-allow-with-positive-matching-and-deny-with-negative-match-patterns")


def action_of(policy: Mapping[str, Any]) -> str:
    return mesh.text(mesh.spec(policy).get("action")).upper() or "ALLOW"


def is_default_deny(policy: Mapping[str, Any]) -> bool:
    """Namespace-wide allow-nothing (ALLOW without rules) or deny-all (DENY with an empty rule)."""
    if not mesh.namespace_wide(policy):
        return False
    rules = mesh.items(mesh.spec(policy).get("rules"))
    action = action_of(policy)
    if action == "ALLOW":
        return not rules
    return action == "DENY" and any(not mesh.keys(rule) for rule in rules)


class NoDefaultDeny(mesh.IstioCheck):
    istio_only = False

    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_5",
            name="Workload in the Istio mesh runs in a namespace without a default-deny "
                 "AuthorizationPolicy",
            kinds=mesh.WORKLOAD_KINDS, severity="MEDIUM", keys=["metadata/namespace"],
            guideline=(
                "Add an allow-nothing AuthorizationPolicy to the namespace (kind "
                "AuthorizationPolicy, metadata.name allow-nothing, spec: {}) or mesh-wide in "
                "istio-system, then one ALLOW policy per workload naming the callers' principals "
                "and the paths they need. Apply the ALLOW policies first, or traffic stops. "
                "https://istio.io/latest/docs/tasks/security/authorization/authz-http/"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        if index is None or not index.in_mesh(conf):
            return None
        ns = index.ns(conf)
        for where in (mesh.ROOT_NAMESPACE, ns):
            if any(is_default_deny(p) for p in index.of_kind("AuthorizationPolicy", where)):
                return []
        return [f"no allow-nothing/deny-all AuthorizationPolicy in {ns} or {mesh.ROOT_NAMESPACE}: "
                "a workload without its own ALLOW policy accepts every request"]


def _open_source(rule: Mapping[str, Any]) -> str | None:
    """Why the rule admits any caller, or None when it names who may call."""
    conditions = [mesh.text(mesh.mapping(c).get("key")) for c in mesh.items(rule.get("when"))]
    if any(key.startswith(IDENTITY_CONDITIONS) for key in conditions):
        return None
    sources = [mesh.mapping(mesh.mapping(f).get("source")) for f in mesh.items(rule.get("from"))]
    if not sources:
        return "no `from`, so any caller"
    for i, source in enumerate(sources):
        for field in ("principals", "namespaces"):
            if "*" in mesh.strings(source.get(field)):
                return f'from[{i}].source.{field} is "*"'
        if not any(mesh.strings(source.get(field)) for field in IDENTITY_FIELDS):
            return f"from[{i}].source names no principal, namespace or IP block"
    return None


def _public_paths(policy: Mapping[str, Any]) -> list[str]:
    declared = mesh.clean(mesh.meta(policy).get("annotations")).get(PUBLIC_PATHS_ANNOTATION, "")
    return [*DEFAULT_PUBLIC_PATHS, *(p for p in re.split(r"[,\s]+", declared) if p)]


def _private_paths(rule: Mapping[str, Any], public: list[str]) -> list[str]:
    operations = [mesh.mapping(mesh.mapping(t).get("operation"))
                  for t in mesh.items(rule.get("to"))]
    if not operations:
        return ["every path (no `to`)"]
    private: list[str] = []
    for op in operations:
        paths = mesh.strings(op.get("paths"))
        if not paths:
            private.append("every path" + (" but its notPaths" if op.get("notPaths") else ""))
            continue
        private += [p for p in paths if not any(mesh.glob_match(p, pat) for pat in public)]
    return private


def _gateway_policy(policy: Mapping[str, Any]) -> bool:
    labels = mesh.match_labels(policy)
    if labels.get("istio") == "ingressgateway" or labels.get("app") == "istio-ingressgateway":
        return True
    body = mesh.spec(policy)
    refs = [body.get("targetRef"), *mesh.items(body.get("targetRefs"))]
    return any(mesh.text(mesh.mapping(ref).get("kind")) == "Gateway" for ref in refs)


class OpenAllowRule(mesh.IstioCheck):
    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_6",
            name="Istio ALLOW AuthorizationPolicy admits any principal or namespace on "
                 "non-public paths",
            kinds=["AuthorizationPolicy"], severity="HIGH", keys=["spec/action", "spec/rules"],
            guideline=(
                "Give each ALLOW rule a from.source.principals list of the calling service "
                "accounts (cluster.local/ns/<ns>/sa/<sa>) or a namespaces list, never \"*\" or an "
                "empty source, and restrict to.operation to the paths and methods they use. If a "
                "path really is public, list it in the policy's secpipe.io/public-paths "
                f"annotation so the exception is explicit. {AUTHZ_DOCS}"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        if action_of(conf) != "ALLOW" or _gateway_policy(conf):
            return None
        public = _public_paths(conf)
        found = []
        for i, rule in enumerate(mesh.items(mesh.spec(conf).get("rules"))):
            rule = mesh.mapping(rule)
            why = _open_source(rule)
            private = _private_paths(rule, public) if why else []
            if private:
                found.append(f"rules[{i}]: {why}, on {', '.join(private)}")
        return found


check_5 = NoDefaultDeny()
check_6 = OpenAllowRule()
