"""The rules engine on real rules files: Falco's own falco_rules.yaml, the service rules, and
the loader's semantics (lists, macros, append/override, exceptions, versions)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest

from secpipe.formats.falco import alert_finding, read_alert
from secpipe.runtime.rules import ENGINE_VERSION, RulesError, load_rules
from secpipe.runtime.service_rules import RULE_NAMES, service_rules
from tests.asserts import assert_valid_asff
from tests.conftest import shared_fixture_dir

EVENTS = Path(__file__).parent / "fixtures" / "shell_events.jsonl"


def _falco_rules_file() -> Path:
    """Falco's own rules file from ../shared (a skip at collection time would be an error)."""
    return shared_fixture_dir("falco") / "falco_rules.yaml"


@pytest.fixture(scope="module")
def falco_rules():
    return load_rules(_falco_rules_file())


def test_the_real_falco_rules_file_loads_whole(falco_rules) -> None:
    """All 25 rules are accounted for: 12 evaluate on what the sensor sees, 13 need fields it
    cannot provide (network tuples, capabilities, syscall arguments) and say which."""
    rules = falco_rules
    assert len(rules.loaded) + len(rules.skipped) == 25
    assert (len(rules.loaded), len(rules.skipped)) == (12, 13)
    assert rules.required_engine_version == "0.57.0"
    assert {"name": "container", "version": "0.4.0"} in rules.required_plugins
    loaded = {r.name for r in rules.loaded}
    assert {"Run shell untrusted", "Read sensitive file untrusted", "Terminal shell in container",
            "Search Private Keys or Passwords", "Execution from /dev/shm"} <= loaded
    skipped = dict(rules.skipped)
    assert skipped["Contact K8S API Server From Container"] == \
        "needs fields the sensor cannot provide: fd.sip.name"
    assert "thread.cap_effective" in skipped["Linux Kernel Module Injection Detected"]
    assert all(reason.startswith("needs fields") for reason in skipped.values())
    assert len(rules.lists) > 40 and len(rules.macros) > 80


def _recorded() -> list[dict]:
    return [json.loads(line) for line in EVENTS.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("event", _recorded(), ids=lambda e: e["_case"])
def test_run_shell_untrusted_on_recorded_events(falco_rules, event: dict) -> None:
    fired = [rule.name for rule in falco_rules.match(event)]
    assert fired == event["_fires"]


def test_an_alert_is_what_falco_would_send(falco_rules) -> None:
    event = _recorded()[0]
    alert, = falco_rules.alerts(event, hostname="node-7", when=1_700_000_000_123_456_789)
    assert alert["rule"] == "Run shell untrusted" and alert["priority"] == "Notice"
    assert alert["time"] == "2023-11-14T22:13:20.123456789Z"
    assert alert["output"].startswith("2023-11-14T22:13:20.123456789+0000: Notice Shell spawned "
                                      "by untrusted binary | parent_exe=nginx: worker process "
                                      "parent_exepath=/usr/sbin/nginx")
    assert "gparent=nginx ggparent=containerd-shim" in alert["output"]
    assert "command=sh -c id; uname -a" in alert["output"]
    assert "terminal=<NA>" in alert["output"]
    fields = alert["output_fields"]
    assert fields["proc.aname[2]"] == "nginx" and fields["user.uid"] == 33
    assert fields["proc.tty"] is None and fields["container.image.repository"] == \
        "docker.io/library/nginx"
    assert "mitre_execution" in alert["tags"]
    finding = alert_finding(read_alert(json.loads(json.dumps(alert)), "engine"))
    assert finding.types == ("TTPs/Execution",) and finding.resource.id == "3ad7b26ded6d"
    assert_valid_asff([finding])


def _snapshot(pid: int) -> dict:
    """An exec event as a sensor records it, read from /proc (Falco's field meanings:
    proc.name = comm, proc.exe = argv[0], proc.exepath = the executable's path)."""
    def proc(p: int) -> tuple[str, str, list[str], int, int]:
        comm = Path(f"/proc/{p}/comm").read_text().strip()
        argv = [a.decode() for a in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0") if a]
        status = dict(line.split(":", 1) for line in
                      Path(f"/proc/{p}/status").read_text().splitlines() if ":" in line)
        try:
            exe = os.readlink(f"/proc/{p}/exe")
        except OSError:
            exe = ""
        return comm, exe, argv, int(status["PPid"]), int(status["Uid"].split()[0])

    comm, exe, argv, ppid, uid = proc(pid)
    names, exes, paths, cmdlines = [], [], [], []
    parent = ppid
    while parent > 1 and len(names) < 8:
        pcomm, pexe, pargv, parent_ppid, _ = proc(parent)
        names.append(pcomm), exes.append(pargv[0] if pargv else ""), paths.append(pexe)
        cmdlines.append(" ".join([pcomm, *pargv[1:]]))
        parent = parent_ppid
    return {"evt.type": "execve", "evt.num": 1, "proc.pid": pid, "proc.name": comm,
            "proc.exe": argv[0], "proc.exepath": exe, "proc.args": " ".join(argv[1:]),
            "proc.aname": names, "proc.aexe": exes, "proc.aexepath": paths,
            "proc.acmdline": cmdlines, "user.uid": uid,
            "user.name": pwd.getpwuid(uid).pw_name, "container.id": "host"}


@pytest.fixture
def live_shell(tmp_path: Path):
    """A real `sh` whose parent is a process named nginx (python run through a symlink)."""
    link = tmp_path / "nginx"
    link.symlink_to(sys.executable)
    code = ("import subprocess, sys; p = subprocess.Popen(['/bin/sh', '-c', 'sleep 30; true']); "
            "print(p.pid, flush=True); p.wait()")
    parent = subprocess.Popen([str(link), "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        yield int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait()


def test_run_shell_untrusted_on_a_live_process_tree(falco_rules, live_shell: int) -> None:
    for _ in range(50):                       # the child has exec'd sh once its comm says so
        if Path(f"/proc/{live_shell}/comm").read_text().strip() == "sh":
            break
        time.sleep(0.02)
    event = _snapshot(live_shell)
    assert event["proc.aname"][0] == "nginx"
    assert [r.name for r in falco_rules.match(event)] == ["Run shell untrusted"]
    own = dict(event, **{"proc.aname": ["python3", "bash"]})    # a shell below a script
    assert falco_rules.match(own) == []


SERVICE_CASES = [
    ("Shell spawned by the web server",
     {"evt.type": "execve", "proc.name": "sh", "proc.args": "-c id", "proc.aname": ["node"]},
     {"evt.type": "execve", "proc.name": "sh", "proc.args": "-c id", "proc.aname": ["npm"]}),
    ("Package manager run in the service",
     {"evt.type": "execve", "proc.name": "apk", "proc.args": "add curl",
      "proc.aname": ["sh", "node"]},
     {"evt.type": "execve", "proc.name": "npm", "proc.args": "start", "proc.aname": ["sh"],
      "container.id": "c0ffee000000"}),
    ("Package manager run in the service",
     {"evt.type": "execve", "proc.name": "npm", "proc.args": "install left-pad",
      "container.id": "c0ffee000000"},
     {"evt.type": "execve", "proc.name": "apk", "proc.args": "add curl", "proc.aname": ["bash"],
      "container.id": "host"}),
    ("Write below etc in the service",
     {"evt.type": "openat", "evt.is_open_write": True, "fd.typechar": "f",
      "fd.name": "/etc/passwd", "proc.name": "node"},
     {"evt.type": "openat", "evt.is_open_write": False, "evt.is_open_read": True,
      "fd.typechar": "f", "fd.name": "/etc/passwd", "proc.name": "node"}),
    ("Outbound connection from the web process",
     {"evt.type": "connect", "fd.type": "ipv4", "evt.rawres": 0, "proc.name": "node",
      "fd.name": "172.17.0.2:40312->203.0.113.9:4444", "evt.num": 9},
     {"evt.type": "connect", "fd.type": "ipv4", "evt.rawres": 0, "proc.name": "node",
      "fd.name": "127.0.0.1:40312->127.0.0.1:5432", "evt.num": 9}),
]


@pytest.mark.parametrize("name,fires,quiet", SERVICE_CASES, ids=[c[0] for c in SERVICE_CASES])
def test_service_rules_fire_and_stay_quiet(name: str, fires: dict, quiet: dict) -> None:
    rules = load_rules(("secpipe_rules.yaml", service_rules(("node",))))
    assert [r.name for r in rules.loaded] == list(RULE_NAMES) and rules.skipped == []
    assert [r.name for r in rules.match(fires)] == [name]
    assert [r.name for r in rules.match(quiet)] == []


def test_service_rules_load_beside_the_default_rules() -> None:
    both = load_rules(_falco_rules_file(), ("secpipe_rules.yaml", service_rules(("gunicorn", "nginx"))))
    assert len(both.loaded) == 16
    event = {"evt.type": "execve", "proc.name": "bash", "proc.args": "-i",
             "proc.aname": ["nginx", "systemd"], "user.name": "www-data"}
    assert {r.name for r in both.match(event)} == {"Shell spawned by the web server",
                                                   "Run shell untrusted"}
    with pytest.raises(ValueError):
        service_rules(("node, sh",))


BASE = """
- list: shells
  items: [sh, bash]
- macro: spawned
  condition: evt.type = execve
- rule: Shell
  desc: a shell
  condition: spawned and proc.name in (shells)
  output: shell %proc.name by %proc.pname (%user.name)
  priority: WARNING
  tags: [shell]
"""


def _rules(*extra: str, **kw):
    return load_rules(("base.yaml", BASE), *[(f"extra{i}.yaml", t) for i, t in enumerate(extra)],
                      **kw)


def _fires(rules, **event) -> bool:
    return bool(rules.match({"evt.type": "execve", **event}))


def test_append_and_override() -> None:
    legacy = _rules("- list: shells\n  items: [zsh]\n  append: true\n"
                    "- rule: Shell\n  condition: and user.name != root\n  append: true\n")
    assert _fires(legacy, **{"proc.name": "zsh", "user.name": "bob"})
    assert not _fires(legacy, **{"proc.name": "zsh", "user.name": "root"})
    replaced = _rules("- list: shells\n  items: [fish]\n"
                      "- macro: spawned\n  condition: evt.type in (execve, execveat)\n")
    assert _fires(replaced, **{"proc.name": "fish"}) and not _fires(replaced, **{"proc.name": "sh"})
    override = _rules("- list: shells\n  items: [ksh]\n  override: {items: append}\n"
                      "- rule: Shell\n  condition: and proc.pname = nginx\n  priority: ERROR\n"
                      "  tags: [web]\n  override: {condition: append, priority: replace,"
                      " tags: append}\n")
    rule = override.get("Shell")
    assert rule.priority == "Error" and rule.tags == ("shell", "web")
    assert _fires(override, **{"proc.name": "ksh", "proc.aname": ["nginx"]})
    assert not _fires(override, **{"proc.name": "ksh", "proc.aname": ["cron"]})
    assert rule.format({"proc.name": "ksh", "proc.aname": ["nginx"]}) == "shell ksh by nginx (<NA>)"


def test_enabled_and_sources_and_fields_are_reported_never_dropped() -> None:
    rules = _rules("- rule: Shell\n  enabled: false\n"
                   "- rule: Audit\n  desc: k8s\n  condition: ka.verb = create\n  output: x\n"
                   "  priority: INFO\n  source: k8s_audit\n")
    assert rules.loaded == []
    assert dict(rules.skipped) == {"Shell": "disabled (enabled: false)",
                                   "Audit": "source 'k8s_audit' is not evaluated here "
                                            "(syscall events only)"}
    narrow = _rules(fields={"evt.type"})
    assert narrow.skipped == [("Shell", "needs fields the sensor cannot provide: proc.name")]


def test_exceptions_are_compiled_as_falco_writes_them() -> None:
    rules = _rules("""
- rule: Shell
  exceptions:
    - name: by_parent_and_user
      fields: [proc.pname, user.name]
      comps: [=, in]
      values:
        - [cron, [root, daemon]]
        - [sshd, admins]
    - name: by_cmdline
      fields: proc.cmdline
      values: ["sh -c uptime", "bash -l"]
  override: {exceptions: append}
- list: admins
  items: [alice]
- rule: Shell
  exceptions:
    - name: by_cmdline
      values: ["sh -c date"]
  append: true
""")
    rule = rules.get("Shell")
    assert "and not ((proc.pname = cron and user.name in (root, daemon)) or " \
           "(proc.pname = sshd and user.name in (admins)))" in rule.condition
    assert 'and not (proc.cmdline in ("sh -c uptime", "bash -l", "sh -c date"))' in rule.condition
    shell = {"proc.name": "sh", "proc.args": "-c ls"}
    assert _fires(rules, **shell, **{"proc.aname": ["cron"], "user.name": "bob"})
    assert not _fires(rules, **shell, **{"proc.aname": ["cron"], "user.name": "daemon"})
    assert not _fires(rules, **shell, **{"proc.aname": ["sshd"], "user.name": "alice"})
    assert not _fires(rules, **{"proc.name": "sh", "proc.args": "-c date"})


@pytest.mark.parametrize("text,problem", [
    ("- rule: X\n  desc: d\n  output: o\n  priority: INFO\n", "no mapping for key 'condition'"),
    ("- rule: X\n  desc: d\n  condition: nope_macro\n  output: o\n  priority: INFO\n",
     "Undefined macro 'nope_macro'"),
    ("- rule: X\n  desc: d\n  condition: proc.name =\n  output: o\n  priority: INFO\n",
     "does not parse"),
    ("- rule: X\n  desc: d\n  condition: proc.name = a\n  output: o\n  priority: LOUD\n",
     "invalid priority"),
    ("- rule: Y\n  condition: and x\n  append: true\n", "no earlier definition"),
    ("- rule: Y\n  enabled: false\n", "no rule by that name"),
    ("- required_engine_version: 99.0.0\n", "rules require engine version 99.0.0"),
    ("rule: X\n", "YAML list"),
    ("- [1]\n", "mapping"),
    ("- rule: X\n  condition: a\n  append: true\n  override: {condition: append}\n",
     "cannot be used together"),
    ("- rule: X\n  desc: d\n  condition: proc.name = a\n  output: o\n  priority: INFO\n"
     "  exceptions:\n    - name: e\n      fields: proc.name\n      comps: '='\n", "comps must be"),
])
def test_what_falco_refuses_raises_with_the_place(text: str, problem: str) -> None:
    with pytest.raises(RulesError) as err:
        load_rules(("bad.yaml", text))
    assert problem in str(err.value) and "bad.yaml" in str(err.value)


def test_versions_and_yaml_words() -> None:
    assert load_rules(("v.yaml", "- required_engine_version: 9\n")).required_engine_version \
        == "0.9.0"
    older = ".".join(map(str, (ENGINE_VERSION[0], ENGINE_VERSION[1] - 1, 0)))
    assert load_rules(("v.yaml", f"- required_engine_version: {older}\n")).loaded == []
    words = load_rules(("w.yaml", "- list: l\n  items: [010, on, yes, 80]\n"))
    assert words.lists["l"] == ["010", "on", "yes", "80"]     # strings, as Falco reads them
