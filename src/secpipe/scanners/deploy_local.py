"""The local deploy target: build and start the service on 127.0.0.1, hand its URL on, stop it.

The seed deploys with Helm to EKS and hands the load balancer's URL to ZAP; locally the same
stage starts the service from `secpipe.yml` on a free loopback port, waits for its health path,
and gives later stages `url` (and `pid`, which the runtime sensor watches). The service runs in
its own process group, killed whole when the run ends, also on failure or Ctrl-C (the runner's
cleanup), so nothing is left running.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

from secpipe.scanners.interface import (
    ScanOutcome, ScanRequest, Scanner, ToolCrashed, ToolTimeout, run_tool,
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    # not at import: every run imports every scanner, and urllib.request (with http.client
    # and email) is about 15 ms of a run's start that only a deployment's health check needs
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
            return 200 <= resp.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _ended(code: int) -> str:
    """`exited with code 3`, or `was killed by signal SIGKILL` for a negative code."""
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class LocalService:
    """A started service: its process group, URL and log file."""

    def __init__(self, proc: subprocess.Popen, url: str, log_path: Path) -> None:
        self.proc, self.url, self.log_path = proc, url, log_path

    def stop(self) -> None:
        from secpipe.scanners import lifeline

        lifeline.unwatch(self.proc.pid)
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class DeployLocal(Scanner):
    name = "deploy-local"
    format = ""
    executable = "sh"
    produces_findings = False

    def scan(self, req: ScanRequest) -> ScanOutcome:
        opts = req.options
        command = opts.get("command")
        if not command:
            raise ToolCrashed(self.name, "no `command` to start the service in tools.deploy-local")
        cwd = req.root / opts.get("cwd", ".")
        deadline = time.monotonic() + req.timeout
        notes: list[str] = []
        if opts.get("build"):
            build = run_tool(self.name, ["sh", "-c", str(opts["build"])], cwd=cwd, env=req.env,
                             timeout=req.timeout, ok=frozenset({0}))
            notes.append(f"build: {opts['build']} ({build.duration_s:.1f}s)")
        port = int(opts.get("port") or free_port())
        url = f"http://127.0.0.1:{port}"
        env = dict(req.env)
        env[str(opts.get("port_env", "PORT"))] = str(port)
        env[str(opts.get("host_env", "HOST"))] = "127.0.0.1"
        env.update({str(k): str(v) for k, v in (opts.get("env") or {}).items()})
        log_path = req.workdir / "service.log"
        argv = ["sh", "-c", f"exec {command}"]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        from secpipe.scanners import lifeline

        lifeline.watch(proc.pid)   # a SIGKILLed secpipe must not leave the service running
        service = LocalService(proc, url, log_path)
        health = url + "/" + str(opts.get("health_path", "/")).lstrip("/")
        wait = min(float(opts.get("health_timeout", 60)), max(1.0, deadline - time.monotonic()))
        give_up = time.monotonic() + wait
        try:
            while not _healthy(health):
                if proc.poll() is not None:
                    raise ToolCrashed(self.name, f"`{command}` {_ended(proc.returncode)} "
                                      f"before {health} answered:\n{service.log_tail()}",
                                      command=argv, exit_code=proc.returncode)
                if time.monotonic() > give_up:
                    raise ToolTimeout(self.name, f"{health} did not answer within {wait:.0f}s:\n"
                                      f"{service.log_tail()}", command=argv)
                time.sleep(0.2)
        except BaseException:
            service.stop()
            raise
        notes.append(f"service `{command}` pid {proc.pid} healthy at {health}")
        return ScanOutcome(reports=[], exit_code=0, command=shlex.split(command),
                           notes=notes, outputs={"url": url, "health_url": health,
                                    "pid": str(proc.pid)},
                           cleanup=service.stop)
