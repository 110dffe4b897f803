"""Sidecar injection: mesh policies only bind workloads that actually run an Istio proxy.

A namespace that holds PeerAuthentications, AuthorizationPolicies or routing for its workloads
but is not labelled for injection gets none of it enforced: its pods run without a sidecar, send
and accept plaintext and bypass every AuthorizationPolicy. The same holds for a single workload
that opts out with `sidecar.istio.io/inject: "false"` inside an injected namespace.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # checkov adds the folder itself; this keeps the file importable alone
    sys.path.insert(0, _HERE)
import secpipe_istio_mesh as mesh  # noqa: E402

INJECTION_DOCS = "https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/"


class NamespaceWithoutInjection(mesh.IstioCheck):
    istio_only = False

    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_9",
            name="Namespace with Istio configuration and workloads has no sidecar injection",
            kinds=["Namespace"], severity="HIGH", keys=["metadata/labels"],
            guideline=(
                "Label the namespace istio-injection: enabled (or istio.io/rev: <revision> with "
                "revisioned control planes, or istio.io/dataplane-mode: ambient for ambient "
                "mode), then restart its workloads (kubectl rollout restart) so they get a proxy; "
                "until then its PeerAuthentication and AuthorizationPolicies are not enforced. "
                f"{INJECTION_DOCS}"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        ns = mesh.name_of(conf)
        if index is None or not ns or ns == mesh.ROOT_NAMESPACE:
            return None
        state = index.injection(ns)
        if state in ("enabled", "ambient"):
            return []
        if not index.istio.get(ns):
            return None  # no mesh configuration here: a namespace outside the mesh
        bare = [w for w in index.workloads.get(ns, []) if mesh.inject_setting(w) != "true"]
        if not bare:
            return []
        config = sorted({mesh.text(r.get("kind")) for r in index.istio[ns]})
        label = "istio-injection: disabled" if state == "disabled" else "no injection label"
        return [f"{ns} has {label} but holds {', '.join(config)}; without a proxy: "
                + ", ".join(mesh.describe(w) for w in bare[:10])]


class WorkloadOptsOut(mesh.IstioCheck):
    istio_only = False

    def __init__(self) -> None:
        super().__init__(
            id="CKV_SECPIPE_ISTIO_10",
            name="Workload opts out of Istio sidecar injection (sidecar.istio.io/inject: "
                 "\"false\") in an injected namespace",
            kinds=mesh.WORKLOAD_KINDS, severity="HIGH",
            keys=["spec/template/metadata/labels", "spec/template/metadata/annotations"],
            guideline=(
                "Remove the sidecar.istio.io/inject: \"false\" label/annotation from the pod "
                "template so the workload gets a proxy and falls under the namespace's mTLS and "
                "AuthorizationPolicies. If it truly cannot run one (e.g. a host-network agent), "
                "move it to a namespace outside the mesh and allow its traffic explicitly "
                "instead of leaving a plaintext hole inside an injected namespace. "
                f"{INJECTION_DOCS}"))

    def problems(self, conf: Mapping[str, Any], index: mesh.MeshIndex | None) -> list[str] | None:
        if mesh.inject_setting(conf) != "false":
            return [] if index is not None and index.in_mesh(conf) else None
        state = index.injection(index.ns(conf)) if index else "unknown"
        if state in ("none", "disabled", "ambient"):
            return []  # nothing to opt out of: the namespace injects no sidecar
        where = ("the namespace is labelled for injection" if state == "enabled"
                 else "an opt-out only matters in an injected namespace")
        return [f'the pod template sets {mesh.INJECT_KEY}: "false" ({where})']


check_9 = NamespaceWithoutInjection()
check_10 = WorkloadOptsOut()
