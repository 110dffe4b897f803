"""Mutual TLS: PeerAuthentication modes and presence, DestinationRule TLS towards the mesh.

A single PERMISSIVE or missing PeerAuthentication lets every workload it covers accept
plaintext, and a DestinationRule with TLS DISABLE/SIMPLE makes clients drop Istio's mutual TLS
(and with it the peer identity AuthorizationPolicies match on) towards an in-mesh service.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # checkov adds the folder itself; this keeps the file importable alone
    sys.path.insert(0, _HERE)
import secpipe_istio_mesh as mesh  # noqa: E402

NOT_STRICT = ("PERMISSIVE", "DISABLE")
WEAK_CLIENT_TLS = ("DISABLE", "SIMPLE")
MTLS_DOCS = "https://istio.io/latest/docs/tasks/security/authentication/mtls-migration/"


def _mode(value: Any) -> str:
    return mesh.text(mesh.mapping(value).get("mode")).upper() or "UNSET"


class PeerAuthenticationNotStrict(mesh.IstioCheck):
    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_1",
            name="Istio PeerAuthentication does not enforce STRICT mutual TLS",
            kinds=["PeerAuthentication"], severity="HIGH",
            keys=["spec/mtls/mode", "spec/selector"],
            guideline=(
                "Set spec.mtls.mode: STRICT on the mesh-wide PeerAuthentication (named default, "
                "in istio-system, no selector) and on each namespace one. PERMISSIVE and DISABLE "
                "accept plaintext, and UNSET at mesh or namespace level inherits Istio's "
                "PERMISSIVE default. Migrate: check with Kiali or the istio_requests_total "
                "connection_security_policy label that no client still sends plaintext, then "
                f"switch to STRICT. {MTLS_DOCS}"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        mode = _mode(mesh.spec(conf).get("mtls"))
        if mode in NOT_STRICT:
            return [f"spec.mtls.mode is {mode}: plaintext connections are accepted"]
        if mode == "UNSET" and mesh.namespace_wide(conf):
            mesh_wide = [p for p in (index.of_kind("PeerAuthentication", mesh.ROOT_NAMESPACE)
                                     if index else [])
                         if mesh.namespace_wide(p)]
            if mesh.namespace_of(conf) == mesh.ROOT_NAMESPACE or not any(
                    _mode(mesh.spec(p).get("mtls")) == "STRICT" for p in mesh_wide):
                return ["spec.mtls.mode is not set on a mesh/namespace-wide policy and no "
                        "mesh-wide STRICT policy is in the scan: Istio's default, PERMISSIVE, "
                        "applies"]
        return []


class PeerAuthenticationPortNotStrict(mesh.IstioCheck):
    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_2",
            name="Istio PeerAuthentication disables STRICT mutual TLS on a port (portLevelMtls)",
            kinds=["PeerAuthentication"], severity="MEDIUM", keys=["spec/portLevelMtls"],
            guideline=(
                "Remove the spec.portLevelMtls override or set its mode to STRICT. If a port must "
                "take plaintext (e.g. a metrics scraper outside the mesh), scrape through the "
                "sidecar's merged metrics on 15020 instead, or limit the exception to that one "
                "port of that one workload selector and document it. "
                "https://istio.io/latest/docs/reference/config/security/peer_authentication/"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        ports = mesh.mapping(mesh.spec(conf).get("portLevelMtls"))
        return [f"portLevelMtls[{port}].mode is {_mode(setting)}"
                for port, setting in ports.items()
                if not str(port).startswith("__") and _mode(setting) in NOT_STRICT]


class WorkloadWithoutPeerAuthentication(mesh.IstioCheck):
    istio_only = False

    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_3",
            name="Workload in the Istio mesh has no PeerAuthentication (mutual TLS is only "
                 "PERMISSIVE by default)",
            kinds=mesh.WORKLOAD_KINDS, severity="HIGH",
            keys=["metadata/namespace", "spec/template/metadata/labels"],
            guideline=(
                "Add a PeerAuthentication with spec.mtls.mode: STRICT and no selector, either "
                "mesh-wide in istio-system or in this workload's namespace, so sidecars refuse "
                "plaintext. Without one, Istio runs PERMISSIVE and any pod can reach the "
                f"workload unauthenticated. {MTLS_DOCS}"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        if index is None or not index.in_mesh(conf):
            return None
        if index.covering("PeerAuthentication", conf):
            return []
        return [f"no PeerAuthentication in {mesh.ROOT_NAMESPACE} or {index.ns(conf)} "
                "covers this workload"]


def in_mesh_host(host: str, index: mesh.MeshIndex | None) -> bool:
    """Cluster-local names (short, `*.svc`, `*.cluster.local`, `*`) and ServiceEntry hosts marked
    MESH_INTERNAL. External FQDNs are not: SIMPLE TLS origination to them is legitimate."""
    h = host.strip().lower()
    if not h:
        return False
    if h == "*" or "." not in h or h.endswith((".svc", ".cluster.local")) or ".svc." in h:
        return True
    for entry in index.of_kind("ServiceEntry") if index else []:
        body = mesh.spec(entry)
        if mesh.text(body.get("location")).upper() == "MESH_INTERNAL" and any(
                mesh.glob_match(h, pattern.lower()) for pattern in mesh.strings(body.get("hosts"))):
            return True
    return False


def _tls_modes(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, mode) for the policy's TLS settings, subsets and per-port settings included."""
    found: list[tuple[str, str]] = []

    def policy(tp: Any, where: str) -> None:
        tp = mesh.mapping(tp)
        if "tls" in tp:
            found.append((f"{where}.tls.mode", _mode(tp.get("tls"))))
        for i, port in enumerate(mesh.items(tp.get("portLevelSettings"))):
            if "tls" in mesh.mapping(port):
                found.append((f"{where}.portLevelSettings[{i}].tls.mode",
                              _mode(mesh.mapping(port).get("tls"))))

    policy(body.get("trafficPolicy"), "trafficPolicy")
    for i, subset in enumerate(mesh.items(body.get("subsets"))):
        policy(mesh.mapping(subset).get("trafficPolicy"), f"subsets[{i}].trafficPolicy")
    return found


class DestinationRuleWeakTls(mesh.IstioCheck):
    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_4",
            name="Istio DestinationRule sends plaintext or one-way TLS (DISABLE/SIMPLE) to an "
                 "in-mesh host",
            kinds=["DestinationRule"], severity="HIGH",
            keys=["spec/host", "spec/trafficPolicy", "spec/subsets"],
            guideline=(
                "For hosts inside the mesh, remove trafficPolicy.tls (Istio then uses automatic "
                "mutual TLS) or set tls.mode: ISTIO_MUTUAL, including in subsets and "
                "portLevelSettings. DISABLE sends plaintext and SIMPLE drops the client "
                "certificate, so the server sees no peer identity and STRICT servers refuse it. "
                "Keep SIMPLE/DISABLE only for external hosts declared by a ServiceEntry. "
                "https://istio.io/latest/docs/ops/configuration/traffic-management/"
                "tls-configuration/"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        body = mesh.spec(conf)
        host = mesh.text(body.get("host"))
        if not in_mesh_host(host, index):
            return None
        return [f"{where} is {mode} towards in-mesh host {host}"
                for where, mode in _tls_modes(body) if mode in WEAK_CLIENT_TLS]


check_1 = PeerAuthenticationNotStrict()
check_2 = PeerAuthenticationPortNotStrict()
check_3 = WorkloadWithoutPeerAuthentication()
check_4 = DestinationRuleWeakTls()
