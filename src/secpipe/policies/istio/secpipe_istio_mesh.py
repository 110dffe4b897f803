"""Shared logic of secpipe's Istio checks; checkov imports it from `--external-checks-dir`.

Why a hook: checkov hands a Kubernetes check one resource at a time, and its Kubernetes graph has
no namespace edges (YAML graph policies' `connection` conditions follow label selectors, service
accounts and RBAC names only), so "this namespace has no default-deny AuthorizationPolicy" can be
said neither by a plain check nor by a graph policy. This module therefore wraps the Kubernetes
runner's `check_definitions` (inherited by the helm and kustomize runners, which render first)
to index every resource of the scan before the checks run. A check that needs the index and does
not get it answers UNKNOWN, which checkov leaves out of the report: no false alarms.

checkov executes every .py file of the folder again for each framework it runs; so the index
lives in one holder module in `sys.modules`, never in this module's globals, and the hook is
installed once. This file defines no check, so executing it again is harmless.

A resource without `metadata.namespace` counts as in `default`, as checkov's resource ids do
(`Deployment.default.web`), except in a rendered Helm chart: there it is in the chart's release
namespace, one per chart, since two charts are seldom installed into the same namespace (an
Istio chart next to a plain one must not pull the plain one into the mesh).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
import types
from collections import defaultdict
from typing import Any, Iterable, Mapping

from checkov.common.bridgecrew.severities import Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check

ROOT_NAMESPACE = "istio-system"  # Istio's default meshConfig.rootNamespace: mesh-wide policies
DEFAULT_NAMESPACE = "default"
INJECT_KEY = "sidecar.istio.io/inject"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController",
                  "Job", "CronJob", "Pod", "DeploymentConfig")
_STATE = "_secpipe_istio_state"
_LOG = logging.getLogger(__name__)


def text(value: Any) -> str:
    """YAML turns `false`/`8080` into bool/int; Istio compares them as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value).strip()


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def strings(value: Any) -> list[str]:
    return [text(v) for v in items(value) if text(v)]


def keys(value: Any) -> set[str]:
    """The keys a manifest wrote (checkov adds `__startline__`/`__endline__` to every map)."""
    return {str(k) for k in mapping(value) if not str(k).startswith("__")}


def clean(value: Any) -> dict[str, str]:
    """A label/annotation map without checkov's `__startline__`-style bookkeeping keys. checkov's
    Kubernetes runner turns `metadata.annotations` into a list of maps: merged back here."""
    parts = value if isinstance(value, list) else [value]
    return {str(k): text(v) for part in parts for k, v in mapping(part).items()
            if not str(k).startswith("__")}


def meta(res: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(res.get("metadata"))


def spec(res: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(res.get("spec"))


def name_of(res: Mapping[str, Any]) -> str:
    return text(meta(res).get("name"))


def namespace_of(res: Mapping[str, Any]) -> str:
    return text(meta(res).get("namespace")) or DEFAULT_NAMESPACE


def is_istio(res: Mapping[str, Any]) -> bool:
    """Istio's own API groups (`security.istio.io/v1`, `networking.istio.io/v1beta1`, ...);
    keeps the Kubernetes Gateway API's `Gateway` kind out of the Istio Gateway check."""
    group = text(res.get("apiVersion")).split("/", 1)[0]
    return group == "istio.io" or group.endswith(".istio.io")


def pod_metadata(res: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = res.get("kind")
    if kind == "Pod":
        return meta(res)
    body = spec(res)
    if kind == "CronJob":
        body = mapping(mapping(body.get("jobTemplate")).get("spec"))
    return mapping(mapping(body.get("template")).get("metadata"))


def inject_setting(res: Mapping[str, Any]) -> str | None:
    """A workload's own injection choice: "true", "false" or None. The label wins over the
    deprecated annotation, as in Istio's injector."""
    pod = pod_metadata(res)
    for source in (clean(pod.get("labels")), clean(pod.get("annotations"))):
        if INJECT_KEY in source:
            return source[INJECT_KEY].lower()
    return None


def match_labels(policy: Mapping[str, Any]) -> dict[str, str]:
    return clean(mapping(spec(policy).get("selector")).get("matchLabels"))


def namespace_wide(policy: Mapping[str, Any]) -> bool:
    """No workload selector and no targetRef(s): the policy covers its whole namespace (the
    whole mesh when it lives in the root namespace)."""
    body = spec(policy)
    return not match_labels(policy) and not body.get("targetRef") and not body.get("targetRefs")


def selects(policy: Mapping[str, Any], workload: Mapping[str, Any]) -> bool:
    wanted = match_labels(policy)
    if not wanted:
        return False
    labels = clean(pod_metadata(workload).get("labels"))
    return all(labels.get(k) == v for k, v in wanted.items())


def describe(res: Mapping[str, Any]) -> str:
    return f"{res.get('kind')} {namespace_of(res)}/{name_of(res)}"


def chart_scopes(runner: Any, files: Iterable[str]) -> dict[str, str]:
    """Rendered file -> its chart's folder, for checkov's helm runner (else {}).

    The helm runner writes a chart's rendering under `<tmp>/<chart folder minus a trailing chart
    name>/<chart name>/` (its `_get_target_dir` and `helm template`'s `# Source:` paths); this
    mirrors that. A file matching no chart keeps the shared scope.
    """
    charts = getattr(runner, "chart_dir_and_meta", None)
    tmp_root = getattr(runner, "tmp_root_dir", None)
    if not isinstance(charts, list) or not tmp_root:
        return {}
    prefixes = []
    for item in charts:
        try:
            chart_dir, chart_meta = item
        except (TypeError, ValueError):
            continue
        name = text(mapping(chart_meta).get("name") or mapping(chart_meta).get("Name"))
        if not name:
            continue
        target = f"{tmp_root}/{str(chart_dir).lstrip('/')}".rstrip("/")
        if target.endswith(name):
            target = target[: -len(name)]
        prefixes.append((os.path.normpath(os.path.join(target, name)) + os.sep, str(chart_dir)))
    prefixes.sort(key=lambda pair: len(pair[0]), reverse=True)
    scopes = {}
    for path in files:
        norm = os.path.normpath(str(path))
        scopes[path] = next((chart for prefix, chart in prefixes if norm.startswith(prefix)), "")
    return scopes


class MeshIndex:
    """Every resource of one checkov scan, grouped the way the cross-resource checks ask."""

    def __init__(self, resources: Iterable[tuple[Any, str]]) -> None:
        """`resources`: (resource, scope) pairs, scope "" or the chart a rendering came from."""
        self._scope: dict[int, str] = {}
        self.namespaces: dict[str, Mapping[str, Any]] = {}
        self.istio: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        self.workloads: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for res, scope in resources:
            if not isinstance(res, Mapping):
                continue
            self._scope[id(res)] = scope
            kind = res.get("kind")
            if kind == "Namespace" and name_of(res):
                self.namespaces[name_of(res)] = res
            elif is_istio(res):
                self.istio[self.ns(res)].append(res)
            elif kind in WORKLOAD_KINDS:
                self.workloads[self.ns(res)].append(res)

    def ns(self, res: Mapping[str, Any]) -> str:
        """The namespace key: an explicit namespace is shared by the whole scan; an unset one is
        `default`, or `default@<chart folder>` for a rendered chart (its release namespace)."""
        explicit = text(meta(res).get("namespace"))
        if explicit:
            return explicit
        scope = self._scope.get(id(res), "")
        return f"{DEFAULT_NAMESPACE}@{scope}" if scope else DEFAULT_NAMESPACE

    def of_kind(self, kind: str, namespace: str | None = None) -> list[Mapping[str, Any]]:
        pools = [self.istio.get(namespace, [])] if namespace is not None else self.istio.values()
        return [r for pool in pools for r in pool if r.get("kind") == kind]

    def injection(self, namespace: str) -> str:
        """enabled | ambient | disabled | none (a Namespace manifest without the labels) |
        unknown (no Namespace manifest in the scan, as for most Helm charts)."""
        res = self.namespaces.get(namespace)
        if res is None:
            return "unknown"
        labels = clean(meta(res).get("labels"))
        value = labels.get("istio-injection", "").lower()
        if value == "disabled":
            return "disabled"
        if value == "enabled" or labels.get("istio.io/rev"):
            return "enabled"
        if labels.get("istio.io/dataplane-mode", "").lower() == "ambient":
            return "ambient"
        return "none"

    def in_mesh(self, workload: Mapping[str, Any]) -> bool:
        """Whether the workload gets a mesh data plane. Without a Namespace manifest, a namespace
        holding Istio configuration is taken as meant to be in the mesh."""
        own = inject_setting(workload)
        if own == "false":
            return False
        state = self.injection(self.ns(workload))
        if state in ("enabled", "ambient"):
            return True
        if state == "disabled":
            return False
        has_config = bool(self.istio.get(self.ns(workload)))
        return own == "true" or (state == "unknown" and has_config)

    def covering(self, kind: str, workload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Policies of `kind` that apply to the workload: mesh-wide (root namespace),
        namespace-wide, or selecting its pod labels in its namespace."""
        ns = self.ns(workload)
        found = [p for p in self.of_kind(kind, ROOT_NAMESPACE) if namespace_wide(p)]
        if ns != ROOT_NAMESPACE:
            found += [p for p in self.of_kind(kind, ns) if namespace_wide(p)]
        found += [p for p in self.of_kind(kind, ns) if selects(p, workload)]
        return found


def _holder() -> types.ModuleType:
    holder = sys.modules.get(_STATE)
    if holder is None:
        holder = types.ModuleType(_STATE, "secpipe Istio checks: the current scan's resource index")
        holder.index = None  # type: ignore[attr-defined]
        sys.modules[_STATE] = holder
    return holder


def current_index() -> MeshIndex | None:
    return getattr(_holder(), "index", None)


def install_hook() -> None:
    """Index the scan's resources right before checkov's Kubernetes checks run over them."""
    try:
        from checkov.kubernetes.runner import Runner
    except ImportError:  # pragma: no cover - a checkov without the Kubernetes runner
        _LOG.warning("secpipe Istio checks: no Kubernetes runner; cross-resource checks off")
        return
    original = Runner.check_definitions
    if getattr(original, "_secpipe_istio", False):
        return

    def check_definitions(self: Any, *args: Any, **kwargs: Any) -> Any:
        definitions = getattr(self, "definitions", None) or {}
        try:
            scopes = chart_scopes(self, definitions)
        except Exception:  # a helm runner laid out differently: one shared scope
            scopes = {}
        holder = _holder()
        try:
            holder.index = MeshIndex(  # type: ignore[attr-defined]
                (res, scopes.get(path, "")) for path, conf in definitions.items()
                if isinstance(conf, list) for res in conf)
        except Exception:  # never break checkov's own checks; ours then answer UNKNOWN
            _LOG.warning("secpipe Istio checks: cannot index the scan", exc_info=True)
            holder.index = None  # type: ignore[attr-defined]
        try:
            return original(self, *args, **kwargs)
        finally:
            holder.index = None  # type: ignore[attr-defined]

    check_definitions._secpipe_istio = True  # type: ignore[attr-defined]
    Runner.check_definitions = check_definitions  # type: ignore[method-assign]


class IstioCheck(BaseK8Check):
    """A check that lists its problems: [] passes, a non-empty list fails, None means "does not
    apply / cannot tell" (UNKNOWN, which checkov leaves out of the report).

    The problems go to checkov's `details`, which its Kubernetes runner (3.3) does not copy into
    the report; the report does carry `evaluated_keys`, so each check names the keys it judged.
    """

    istio_only = True  # the resource must be Istio's (not the Gateway API's `Gateway`)

    def __init__(self, *, id: str, name: str, kinds: Iterable[str], severity: str,
                 guideline: str, keys: Iterable[str]) -> None:
        super().__init__(name=name, id=id, categories=[CheckCategories.KUBERNETES],
                         supported_entities=list(kinds), guideline=guideline)
        self.severity = Severities[severity]
        self.judged_keys = list(keys)

    def get_evaluated_keys(self) -> list[str]:
        return list(self.judged_keys)

    def scan_spec_conf(self, conf: dict[str, Any]) -> CheckResult:
        if self.istio_only and not is_istio(conf):
            return CheckResult.UNKNOWN
        try:
            problems = self.problems(conf, current_index())
        except Exception:  # checkov's Kubernetes registry lets a check's error end the scan
            _LOG.warning("%s: cannot evaluate %s", self.id, describe(conf), exc_info=True)
            return CheckResult.UNKNOWN
        if problems is None:
            return CheckResult.UNKNOWN
        self.details.extend(problems)
        return CheckResult.FAILED if problems else CheckResult.PASSED

    def problems(self, conf: Mapping[str, Any], index: MeshIndex | None) -> list[str] | None:
        raise NotImplementedError


def glob_match(value: str, pattern: str) -> bool:
    """Istio's string match (exact, `prefix*`, `*suffix`, `*`), via fnmatch."""
    return fnmatch.fnmatchcase(value, pattern)


install_hook()
