"""Istio security checks for checkov, ids `CKV_SECPIPE_ISTIO_1..10`.

checkov loads this folder with `--external-checks-dir` and imports every `*.py` here except this
file (it only needs it to exist); secpipe never imports the modules, they need checkov's API.
Severities are set on the checks and reach checkov's JSON report; each check's `guideline` is the
remediation text (ending with an istio.io link).

CKV_SECPIPE_ISTIO_1  HIGH    PeerAuthentication mTLS mode PERMISSIVE or DISABLE, or UNSET at
                             mesh/namespace level with no mesh-wide STRICT policy
CKV_SECPIPE_ISTIO_2  MEDIUM  PeerAuthentication per-port override (portLevelMtls) not STRICT
CKV_SECPIPE_ISTIO_3  HIGH    workload in the mesh with no mesh-wide, namespace or workload
                             PeerAuthentication (Istio's default is PERMISSIVE)
CKV_SECPIPE_ISTIO_4  HIGH    DestinationRule TLS mode DISABLE or SIMPLE towards an in-mesh host
CKV_SECPIPE_ISTIO_5  MEDIUM  workload in the mesh whose namespace (nor istio-system) has no
                             default-deny AuthorizationPolicy
CKV_SECPIPE_ISTIO_6  HIGH    ALLOW rule open to any caller, `*` principals or namespaces, on a
                             path not declared public
CKV_SECPIPE_ISTIO_7  MEDIUM  Gateway server on plain HTTP/HTTP2/GRPC without tls.httpsRedirect
CKV_SECPIPE_ISTIO_8  MEDIUM  Gateway server with TLS PASSTHROUGH where termination was meant
CKV_SECPIPE_ISTIO_9  HIGH    Namespace with Istio configuration and workloads but no sidecar
                             injection
CKV_SECPIPE_ISTIO_10 HIGH    workload with `sidecar.istio.io/inject: "false"` in an injected
                             namespace
"""
