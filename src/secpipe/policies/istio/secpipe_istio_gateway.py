"""Edge: Istio Gateway servers in plaintext, and TLS passed through where it should end.

A plain HTTP server without `tls.httpsRedirect` serves the application, cookies and tokens
included, in clear. A PASSTHROUGH server hands the TLS stream to the workload untouched: the
gateway can then apply no HTTP routing, no AuthorizationPolicy on paths and no JWT checks, which
is only intended for `protocol: TLS` servers routed by SNI. Signs that termination was meant:
the port says HTTPS, a certificate is configured, or a VirtualService routes HTTP through it.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # checkov adds the folder itself; this keeps the file importable alone
    sys.path.insert(0, _HERE)
import secpipe_istio_mesh as mesh  # noqa: E402

PLAINTEXT_PROTOCOLS = ("HTTP", "HTTP2", "GRPC")
CERTIFICATE_FIELDS = ("credentialName", "credentialNames", "serverCertificate", "privateKey",
                      "tlsCertificates")
GATEWAY_DOCS = "https://istio.io/latest/docs/tasks/traffic-management/ingress/secure-ingress/"


def _servers(conf: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    return [(i, mesh.mapping(s)) for i, s in enumerate(mesh.items(mesh.spec(conf).get("servers")))]


def _label(i: int, server: Mapping[str, Any]) -> str:
    port = mesh.mapping(server.get("port"))
    hosts = ", ".join(mesh.strings(server.get("hosts"))) or "no hosts"
    return (f"servers[{i}] (port {mesh.text(port.get('number')) or '?'} "
            f"{mesh.text(port.get('protocol')).upper() or '?'}, {hosts})")


class GatewayPlainHttp(mesh.IstioCheck):
    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_7",
            name="Istio Gateway serves plain HTTP without redirecting to HTTPS",
            kinds=["Gateway"], severity="MEDIUM", keys=["spec/servers"],
            guideline=(
                "Serve the hosts on an HTTPS server (port 443, protocol HTTPS, tls.mode SIMPLE, "
                "tls.credentialName: <TLS secret in the gateway's namespace>) and set "
                "tls.httpsRedirect: true on the port 80 HTTP server so browsers are sent to "
                f"HTTPS; drop plaintext HTTP2/GRPC servers. {GATEWAY_DOCS}"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        found = []
        for i, server in _servers(conf):
            protocol = mesh.text(mesh.mapping(server.get("port")).get("protocol")).upper()
            redirect = mesh.text(mesh.mapping(server.get("tls")).get("httpsRedirect")).lower()
            if protocol in PLAINTEXT_PROTOCOLS and redirect != "true":
                found.append(f"{_label(i, server)} serves plaintext without tls.httpsRedirect")
        return found


def _bare_host(host: str) -> str:
    """Gateway hosts may be scoped `namespace/host`; VirtualService hosts are not."""
    return host.split("/", 1)[1] if "/" in host else host


def _overlap(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return mesh.glob_match(a, b) or mesh.glob_match(b, a)


def _http_routes_through(gateway: Mapping[str, Any], hosts: list[str],
                         index: mesh.MeshIndex | None) -> list[str]:
    """VirtualServices bound to this gateway with `http` routes for one of these hosts."""
    if index is None:
        return []
    gw_ns, gw_name = index.ns(gateway), mesh.name_of(gateway)
    found = []
    for vs in index.of_kind("VirtualService"):
        body = mesh.spec(vs)
        vs_ns = index.ns(vs)
        bound = any(ref == f"{gw_ns}/{gw_name}" or (ref == gw_name and vs_ns == gw_ns)
                    for ref in mesh.strings(body.get("gateways")))
        if not bound or not mesh.items(body.get("http")):
            continue
        if any(_overlap(_bare_host(h), v) for h in hosts for v in mesh.strings(body.get("hosts"))):
            found.append(f"VirtualService {vs_ns}/{mesh.name_of(vs)} routes HTTP through it")
    return found


class GatewayPassthrough(mesh.IstioCheck):
    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_8",
            name="Istio Gateway passes TLS through (PASSTHROUGH) where it should terminate it",
            kinds=["Gateway"], severity="MEDIUM", keys=["spec/servers"],
            guideline=(
                "Terminate TLS at the gateway: set tls.mode: SIMPLE (or MUTUAL for client "
                "certificates) with tls.credentialName, keep protocol HTTPS, and route with the "
                "VirtualService's http section so AuthorizationPolicy paths and JWT rules apply. "
                "Keep PASSTHROUGH only on protocol: TLS servers whose VirtualService routes by "
                f"sniHosts under tls:, with no certificate configured. {GATEWAY_DOCS}"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        found = []
        for i, server in _servers(conf):
            tls = mesh.mapping(server.get("tls"))
            if mesh.text(tls.get("mode")).upper() != "PASSTHROUGH":
                continue
            reasons = []
            if mesh.text(mesh.mapping(server.get("port")).get("protocol")).upper() == "HTTPS":
                reasons.append("the port protocol is HTTPS")
            certs = [f for f in CERTIFICATE_FIELDS if tls.get(f)]
            if certs:
                reasons.append(f"a certificate is configured ({', '.join(certs)}) but never used")
            reasons += _http_routes_through(conf, mesh.strings(server.get("hosts")), index)
            if reasons:
                found.append(f"{_label(i, server)} is PASSTHROUGH but {'; '.join(reasons)}")
        return found


check_7 = GatewayPlainHttp()
check_8 = GatewayPassthrough()
