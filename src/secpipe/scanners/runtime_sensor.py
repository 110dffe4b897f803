"""runtime-sensor: the `runtime` stage, Falco's watch over the service the deploy stage started.

Needs a deploy stage (`needs: [deploy]`): `deploy-local` hands on the service's `pid` (and
`url`). For the stage's duration (`watch_seconds`) the sensor watches that process and its
descendants (exec through the netlink proc connector, file opens through fanotify), evaluates
the service's Falco rules (`secpipe falco values` ships the same file to Falco on EKS) plus
any `rules_files`, and the alerts become the stage's raw report in Falco's JSON lines - so
they are findings of the run like any scanner's. Optionally it exercises the service first
(`trigger`: requests against the deployed URL) and posts each alert to a hub's `/falco` as
Falco's http_output would (`hub_url`, token from `hub_token_env`).

    runtime:
      tools: [runtime-sensor]
      needs: [deploy]
    tools:
      runtime-sensor:
        watch_seconds: 5
        trigger: [{path: /api/debug/exec?cmd=id}]

Root only: anyone else gets a ToolMissing error saying so (never an empty, passing report).
"""

from __future__ import annotations

import os
import sys
import time
import urllib.parse
from typing import Any

from secpipe.scanners.interface import (
    RawReport, ReportMissing, ScanOutcome, ScanRequest, Scanner, ToolCrashed, ToolMissing,
)

DEFAULT_WATCH = 5.0
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})


class RuntimeSensor(Scanner):
    name = "runtime-sensor"
    format = "falco"
    executable = sys.executable     # in-process: nothing to install, only root to have

    def scan(self, req: ScanRequest) -> ScanOutcome:
        from secpipe.runtime.rules import RulesError
        from secpipe.runtime.sensor import (NEEDS_ROOT, Sensor, SensorConfig,
                                            SensorUnavailable, json_lines, service_ruleset)
        from secpipe.runtime.sensor.procfs import snapshot

        opts = req.options
        if os.geteuid() != 0:
            raise ToolMissing(self.name, f"{NEEDS_ROOT} (running as uid {os.geteuid()}); run "
                              "secpipe as root or leave the runtime stage out")
        pid = _pid(opts.get("pid") or req.inputs.get("pid"))
        if pid is None:
            raise ReportMissing(self.name, "no process to watch: add the deploy stage "
                                "(deploy-local) to this stage's `needs`, or set "
                                "tools.runtime-sensor.pid")
        root_info = snapshot(pid)
        web = opts.get("web_processes") or _service_names(pid) or ["node"]
        extra = [req.root / p for p in opts.get("rules_files") or []]
        try:
            rules = service_ruleset([str(w) for w in web], extra)
        except (RulesError, ValueError) as exc:
            raise ToolCrashed(self.name, f"cannot load the rules: {exc}") from None
        token = None
        if opts.get("hub_url"):
            token_env = str(opts.get("hub_token_env") or "SECPIPE_HUB_TOKEN")
            token = req.env.get(token_env) or os.environ.get(token_env)
            if not token:
                raise ToolCrashed(self.name, f"hub_url is set but ${token_env} (the hub's "
                                  "token) is not")
        config = SensorConfig(
            pids=[pid], rules=rules, watch_paths=[str(p) for p in opts.get("watch_paths") or []],
            files=bool(opts.get("files", True)), identity=_identity(opts),
            hub_url=str(opts["hub_url"]) if opts.get("hub_url") else None, token=token)
        watch = min(float(opts.get("watch_seconds", DEFAULT_WATCH)), max(1.0, req.timeout - 5))
        started = time.monotonic()
        try:
            sensor = Sensor(config).start()
        except SensorUnavailable as exc:
            raise ToolMissing(self.name, exc.reason) from None
        notes = [f"watching pid {pid} ({root_info.cmdline if root_info else '?'}) and its "
                 f"descendants for {watch:g}s; web processes: {', '.join(map(str, web))}",
                 f"rules: {len(rules.loaded)} loaded, {len(rules.skipped)} not loaded"]
        notes += [f"rule not loaded: {name}: {why}" for name, why in rules.skipped[:20]]
        try:
            notes += self._trigger(req, opts)
            time.sleep(max(0.0, started + watch - time.monotonic()))
        finally:
            stats = sensor.stop()
        notes += stats.notes()
        if stats.error:
            raise ToolCrashed(self.name, f"the sensor failed while watching: {stats.error}")
        alerts = sensor.alerts
        report = RawReport("falco.jsonl", json_lines(alerts))
        return ScanOutcome(reports=[report], exit_code=0,
                           command=["runtime-sensor", "--pid", str(pid)], notes=notes,
                           duration_s=time.monotonic() - started)

    def _trigger(self, req: ScanRequest, opts: Any) -> list[str]:
        """Send the configured requests to the deployed service; what they got is noted."""
        triggers = opts.get("trigger") or []
        if isinstance(triggers, (str, dict)):
            triggers = [triggers]
        # not at import: every run imports every scanner, and urllib.request (with http.client
        # and email) is about 15 ms of a run's start that only a trigger needs
        import urllib.error
        import urllib.request

        base = str(opts.get("target") or req.inputs.get("url") or "")
        notes = []
        for trig in triggers:
            spec = {"path": trig} if isinstance(trig, str) else dict(trig)
            url = spec.get("url") or (urllib.parse.urljoin(base.rstrip("/") + "/",
                                                           str(spec.get("path", "/")).lstrip("/"))
                                      if base else "")
            if not url:
                raise ReportMissing(self.name, "a trigger needs the service's URL: add the "
                                    "deploy stage to `needs` or give the trigger a `url`")
            method = str(spec.get("method", "GET")).upper()
            request = urllib.request.Request(url, method=method)
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                    resp.read(65536)
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError) as exc:
                notes.append(f"trigger {method} {url} failed: {getattr(exc, 'reason', exc)}")
                continue
            notes.append(f"trigger {method} {url} -> {status}")
        return notes


def _service_names(pid: int) -> list[str]:
    """The service's own program names (`npm start` runs node below npm): the web processes
    the rules watch, unless configured. Shells are never among them."""
    from secpipe.runtime.sensor.procfs import children_of, snapshot

    names = []
    for p in (pid, *sorted(children_of({pid}))):
        info = snapshot(p)
        if info and info.name and info.name not in SHELLS and info.name not in names \
                and not any(c in info.name for c in ",()[]'\" "):
            names.append(info.name)
    return names[:8]


def _pid(value: Any) -> int | None:
    try:
        pid = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return pid if pid > 0 else None


def _identity(opts: Any) -> dict[str, str]:
    """Container/image fields stamped on every event (`image: repo:tag` ties the alerts the
    hub receives to the run that built that image)."""
    from secpipe.formats.falco import split_image

    out = {str(k): str(v) for k, v in (opts.get("container") or {}).items()}
    if opts.get("image"):
        repo, tag, digest = split_image(str(opts["image"]))
        out.update({"container.image.repository": repo, "container.image.tag": tag,
                    "container.image.digest": digest})
    return {k: v for k, v in out.items() if v}


__all__ = ["RuntimeSensor"]
