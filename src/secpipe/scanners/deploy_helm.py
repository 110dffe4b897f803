"""The seed's deploy stage: Helm onto Kubernetes (EKS), the Service's load balancer URL handed on.

With a cluster (a kube context `kubectl` can use), it runs `helm upgrade --install --atomic
--wait` with the image from the build stage or the options, then waits for the LoadBalancer's
hostname or IP, as the seed read it with kubectl, and hands `url` to the DAST stage. Without one,
it is a visible dry run: `helm lint` and `helm template` (the rendered manifests are archived),
and no URL, so a DAST stage that needs one fails closed instead of scanning nothing.
"""

from __future__ import annotations

import json
import time

from secpipe.scanners.interface import (
    RawReport, ScanOutcome, ScanRequest, Scanner, ToolCrashed, ToolTimeout, run_tool,
)


def _set_args(values: dict[str, object]) -> list[str]:
    args: list[str] = []
    for key, value in sorted(values.items()):
        args += ["--set-string" if isinstance(value, str) else "--set", f"{key}={value}"]
    return args


def split_image(image: str) -> tuple[str, str]:
    """`registry:5000/web:1.2` -> (`registry:5000/web`, `1.2`); a digest stays in the repository."""
    if "@" in image:
        return image, ""
    repo, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, ""
    return repo, tag


def service_url(svc: dict, port: int | None = None) -> str | None:
    """http(s)://host[:port] of a LoadBalancer Service, once it has an ingress point."""
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not ingress:
        return None
    host = ingress[0].get("hostname") or ingress[0].get("ip")
    if not host:
        return None
    ports = (svc.get("spec") or {}).get("ports") or [{}]
    port = port or ports[0].get("port") or 80
    scheme = "https" if port == 443 else "http"
    return f"{scheme}://{host}" + ("" if port in (80, 443) else f":{port}")


class DeployHelm(Scanner):
    name = "deploy-helm"
    format = ""
    executable = "helm"
    produces_findings = False

    def scan(self, req: ScanRequest) -> ScanOutcome:
        helm = self.locate(req)
        opts = req.options
        chart = str(req.root / opts.get("chart", "helm"))
        release = str(opts.get("release", "web"))
        namespace = str(opts.get("namespace", "default"))
        values: dict[str, object] = dict(opts.get("set") or {})
        image = req.inputs.get("image") or opts.get("image")
        if image:
            repo, tag = split_image(str(image))
            values.setdefault("image.repository", repo)
            if tag:
                values.setdefault("image.tag", tag)
        common = [chart, "--namespace", namespace, *_set_args(values)]
        for vf in opts.get("values_files", []):
            common += ["-f", str(req.root / vf)]
        if opts.get("dry_run", not self._cluster(req)):
            return self._dry_run(req, helm, release, common)
        timeout = int(opts.get("wait_seconds", min(req.timeout, 600)))
        argv = [helm, "upgrade", "--install", release, *common, "--create-namespace", "--atomic",
                "--wait", "--timeout", f"{timeout}s"]
        if opts.get("kube_context"):
            argv += ["--kube-context", str(opts["kube_context"])]
        run = self.execute(req, argv)
        url = self._wait_for_url(req, namespace, str(opts.get("service", release)))
        return ScanOutcome(reports=[], exit_code=run.exit_code, command=argv, stderr=run.stderr,
                           notes=[f"released {release} into {namespace}; service at {url}"],
                           outputs={"url": url})

    def _cluster(self, req: ScanRequest) -> bool:
        """Whether kubectl has a usable context (the seed's CodeBuild role had one)."""
        try:
            kubectl = self.locate(req, "kubectl")
            done = run_tool(self.name, [kubectl, "config", "current-context"], cwd=req.root,
                            env=req.env, timeout=15, ok=frozenset(range(256)))
        except (ToolCrashed, ToolTimeout, Exception):
            return False
        return done.exit_code == 0 and bool(done.stdout.strip())

    def _dry_run(self, req: ScanRequest, helm: str, release: str, common: list[str]) -> ScanOutcome:
        lint = self.execute(req, [helm, "lint", *common])
        rendered = self.execute(req, [helm, "template", release, *common])
        return ScanOutcome(
            reports=[], artifacts=[RawReport("helm-rendered.yaml", rendered.stdout),
                                   RawReport("helm-lint.txt", lint.stdout)],
            exit_code=0, command=[helm, "template", release, *common],
            notes=["dry run: no Kubernetes context configured; chart linted and rendered, "
                   "nothing deployed and no URL handed on"],
            outputs={"mode": "dry-run"})

    def _wait_for_url(self, req: ScanRequest, namespace: str, service: str) -> str:
        kubectl = self.locate(req, "kubectl")
        deadline = time.monotonic() + float(req.options.get("lb_wait_seconds", 600))
        delay = 2.0
        while True:
            done = run_tool(self.name, [kubectl, "get", "service", service, "-n", namespace,
                                        "-o", "json"], cwd=req.root, env=req.env, timeout=30,
                            ok=frozenset({0}))
            try:
                url = service_url(json.loads(done.stdout))
            except ValueError:
                raise ToolCrashed(self.name, "kubectl printed no JSON for the service") from None
            if url:
                return url
            if time.monotonic() > deadline:
                raise ToolTimeout(self.name, f"service {namespace}/{service} got no load balancer "
                                  "address in time")
            time.sleep(delay)
            delay = min(delay * 1.5, 15)
