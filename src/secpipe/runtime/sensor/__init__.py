"""secpipe's local runtime sensor: Falco's job for the service a pipeline run deployed.

Falco cannot run on these machines (no driver), but the kernel gives root two event channels
with nothing to install: the netlink proc connector (fork/exec/exit of every process) and
fanotify (file opens on whole mounts). The sensor watches one process tree - the deployed
service and its descendants - turns what it sees into Falco's event fields, evaluates Falco
rules with secpipe's engine, and emits Falco's own alert JSON: to the hub's `/falco` (as
http_output would), to a JSON lines file (file_output), and in memory for the `runtime`
stage's report.

    rules = service_ruleset(["node"])
    with Sensor(SensorConfig(pids=[service_pid], rules=rules,
                             hub_url="http://127.0.0.1:8443", token=token)) as sensor:
        ...                                 # exercise the service
        sensor.wait_for_alerts(1, timeout=5)
    alerts = sensor.alerts

What it sees: execs (`evt.type = execve`) with the process, its arguments, user and
ancestors; opens (`evt.type = openat`) below the watched mounts, as reads, or as writes when
the file was open for writing (fanotify's FAN_CLOSE_WRITE). What it cannot see: network
connections and other syscalls, so rules on `connect` and the like load but never fire.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from secpipe.runtime.rules import RuleSet, load_rules
from secpipe.runtime.sensor.outputs import json_lines
from secpipe.runtime.sensor.sensor import (NEEDS_ROOT, Sensor, SensorConfig, SensorStats,
                                           SensorUnavailable)
from secpipe.runtime.service_rules import DEFAULT_WEB_PROCESSES, service_rules


def service_ruleset(web_processes: Sequence[str] = DEFAULT_WEB_PROCESSES,
                    extra: Sequence[Path | str] = (), *, service: str = "web") -> RuleSet:
    """The service's own Falco rules (`secpipe.runtime.service_rules`), then `extra` rules
    files in order (later files may append to or override earlier ones, as in Falco)."""
    return load_rules(("secpipe service rules", service_rules(web_processes, service)),
                      *[Path(p) for p in extra])


__all__ = ["NEEDS_ROOT", "Sensor", "SensorConfig", "SensorStats", "SensorUnavailable",
           "json_lines", "service_ruleset"]
