"""The runtime sensor's pure parts, no root needed: the kernel's wire formats, /proc parsing,
the process tree, events as the rules engine sees them, and the alert outputs."""

from __future__ import annotations

import json
import os
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from secpipe.runtime.sensor import service_ruleset
from secpipe.runtime.sensor.events import exec_event, open_event
from secpipe.runtime.sensor.fanotify import (FAN_CLOSE_WRITE, FAN_OPEN, FAN_OPEN_EXEC,
                                             FanotifyError, parse_metadata)
from secpipe.runtime.sensor.netlink import (CN_IDX_PROC, NLMSG_DONE, PROC_CN_MCAST_LISTEN,
                                            control_message, parse_messages)
from secpipe.runtime.sensor.outputs import AlertOutputs, falco_url, json_lines
from secpipe.runtime.sensor.procfs import ProcInfo, parse_stat, snapshot
from secpipe.runtime.sensor.tree import ProcessTree

SHELL_RULE = "Shell spawned by the web server"
ETC_RULE = "Write below etc in the service"


# -- the proc connector's wire format ---------------------------------------------------------

def _proc_msg(what: int, body: bytes) -> bytes:
    event = struct.pack("=IIQ", what, 0, 123456789) + body
    cn = struct.pack("=IIIIHH", CN_IDX_PROC, 1, 0, 0, len(event), 0) + event
    raw = struct.pack("=IHHII", 16 + len(cn), NLMSG_DONE, 0, 0, 0) + cn
    return raw + b"\0" * (-len(raw) % 4)


def test_proc_events_are_parsed_from_one_datagram() -> None:
    data = (_proc_msg(0x1, struct.pack("=iiii", 100, 100, 101, 101))        # fork
            + _proc_msg(0x2, struct.pack("=ii", 101, 101))                   # exec
            + _proc_msg(0x80000000, struct.pack("=iiIIii", 101, 101, 0, 17, 100, 100))
            + _proc_msg(0x1, struct.pack("=iiii", 100, 100, 102, 100))       # a thread
            + _proc_msg(0x0, struct.pack("=I", 0)))                          # the ack
    fork, exe, exit_, thread, ack = parse_messages(data)
    assert (fork.kind, fork.parent_tgid, fork.tgid, fork.is_thread) == ("fork", 100, 101, False)
    assert (exe.kind, exe.tgid, exe.ts_ns) == ("exec", 101, 123456789)
    assert (exit_.kind, exit_.tgid, exit_.parent_tgid) == ("exit", 101, 100)
    assert thread.is_thread
    assert (ack.kind, ack.value) == ("ack", 0)


def test_truncated_or_foreign_messages_are_ignored() -> None:
    good = _proc_msg(0x2, struct.pack("=ii", 7, 7))
    assert parse_messages(good[:20]) == []
    foreign = bytearray(good)
    struct.pack_into("=I", foreign, 16, 99)       # another connector's idx
    assert parse_messages(bytes(foreign)) == []


def test_subscription_message_layout() -> None:
    msg = control_message(PROC_CN_MCAST_LISTEN, port=42)
    length, mtype, _flags, _seq, port = struct.unpack_from("=IHHII", msg)
    assert (length, mtype, port) == (len(msg), NLMSG_DONE, 42) and len(msg) == 40
    assert struct.unpack_from("=IIIIHH", msg, 16)[:2] == (CN_IDX_PROC, 1)
    assert struct.unpack_from("=I", msg, 36) == (PROC_CN_MCAST_LISTEN,)


# -- fanotify's wire format -------------------------------------------------------------------

def test_fanotify_metadata() -> None:
    rec = struct.pack("=IBBHQii", 24, 3, 0, 24, FAN_OPEN | FAN_CLOSE_WRITE, 9, 1234)
    rec2 = struct.pack("=IBBHQii", 24, 3, 0, 24, FAN_OPEN | FAN_OPEN_EXEC, -1, 55)
    assert parse_metadata(rec + rec2) == [(FAN_OPEN | FAN_CLOSE_WRITE, 9, 1234),
                                          (FAN_OPEN | FAN_OPEN_EXEC, -1, 55)]
    with pytest.raises(FanotifyError, match="version 2"):
        parse_metadata(struct.pack("=IBBHQii", 24, 2, 0, 24, FAN_OPEN, 9, 1))


# -- /proc ------------------------------------------------------------------------------------

def test_stat_with_spaces_and_parens_in_the_name() -> None:
    line = b"4242 (we (ird) name) S 1 4242 4242 0 -1 4194304 " + b"0 " * 12 + b"98765 0 0\n"
    fields = parse_stat(line)
    assert fields["name"] == "we (ird) name" and fields["ppid"] == 1
    assert fields["pgid"] == 4242 and fields["start"] == 98765
    assert parse_stat(b"garbage") == {}


def test_snapshot_of_this_process() -> None:
    me = snapshot(os.getpid())
    assert me is not None and me.pid == os.getpid() and me.ppid == os.getppid()
    assert me.uid == os.geteuid() and me.args and not me.partial
    assert snapshot(2 ** 22 + 12345) is None       # beyond pid_max: never a process


# -- the tree ---------------------------------------------------------------------------------

def _info(pid: int, ppid: int, name: str, *args: str, exe: str = "") -> ProcInfo:
    return ProcInfo(pid=pid, ppid=ppid, name=name, exe=name, exepath=exe or f"/usr/bin/{name}",
                    args=tuple(args), uid=0, gid=0)


def _tree(world: dict[int, ProcInfo], roots: list[int]) -> ProcessTree:
    tree = ProcessTree(roots, read=world.get, max_processes=3, keep_exited=2)
    tree.seed(scan=lambda roots: {})
    return tree


def test_tree_follows_forks_execs_and_exits() -> None:
    world = {1: _info(1, 0, "init"), 50: _info(50, 1, "python3"),
             100: _info(100, 50, "node", "server.js")}
    tree = _tree(world, [100])
    assert tree.tracked(100) and not tree.tracked(50)
    child = tree.on_fork(100, 101)
    assert child is not None and child.name == "node" and child.ppid == 100
    assert tree.on_fork(999, 998) is None                   # not ours
    sh = _info(101, 100, "sh", "-c", "id", exe="/usr/bin/dash")
    assert tree.on_exec(101, sh) == sh
    assert [a.name for a in tree.ancestors(101)] == ["node", "python3", "init"]
    assert tree.on_fork(101, 102) is not None
    assert tree.on_fork(101, 103) is None and tree.refused == 1     # max_processes
    tree.on_exit(101)
    assert not tree.tracked(101) and tree.known(101)        # late file events still resolve
    gone = tree.on_exec(102, None)
    assert gone is not None and gone.partial and gone.ppid == 101


def test_exec_read_after_its_status_vanished_keeps_the_forked_ids() -> None:
    """`stat` read, then the process reaped before `status`: the ids are the forked ones, not
    None (an alert naming no user), and the info says it is partial."""
    world = {100: _info(100, 1, "node", "server.js")}
    tree = _tree(world, [100])
    tree.on_fork(100, 101)
    late = ProcInfo(pid=101, ppid=100, name="id", exe="id", exepath="/usr/bin/id",
                    uid=None, gid=None, partial=False)
    info = tree.on_exec(101, late)
    assert info is not None and (info.uid, info.gid, info.name) == (0, 0, "id") and info.partial
    full = _info(101, 100, "id")
    assert tree.on_exec(101, full) == full                  # a complete read is kept as read


def test_seed_reports_roots_that_are_not_running() -> None:
    tree = ProcessTree([5, 6], read={5: _info(5, 1, "node")}.get)
    assert tree.seed(scan=lambda roots: {}) == [6]


# -- events and the service's rules -----------------------------------------------------------

@pytest.fixture(scope="module")
def rules():
    return service_ruleset(["node"])


def test_all_service_rules_load(rules) -> None:
    assert len(rules.loaded) == 4 and rules.skipped == []


def test_shell_under_the_web_server_fires_and_node_itself_does_not(rules) -> None:
    node = _info(100, 50, "node", "server.js")
    ancestors = [node, _info(50, 1, "python3"), _info(1, 0, "systemd")]
    sh = _info(101, 100, "sh", "-c", "id", exe="/usr/bin/dash")
    event = exec_event(sh, ancestors, hostname="h1")
    assert event["proc.cmdline"] == "sh -c id" and event["proc.aname"][0] == "node"
    [alert] = rules.alerts(event, hostname="h1")
    assert alert["rule"] == SHELL_RULE and alert["priority"] == "Error"
    assert alert["output_fields"]["proc.cmdline"] == "sh -c id"
    assert alert["output_fields"]["proc.pname"] == "node"
    assert alert["source"] == "syscall" and alert["hostname"] == "h1"
    assert rules.alerts(exec_event(node, ancestors[1:])) == []
    # a shell started by something else is not this rule's business
    assert rules.alerts(exec_event(sh, ancestors[1:])) == []


def test_open_for_write_below_etc_fires_a_read_does_not(rules) -> None:
    node = _info(100, 50, "node", "server.js")
    ancestors = [_info(50, 1, "python3")]
    write = open_event(node, ancestors, "/etc/passwd", write=True)
    assert [a["rule"] for a in rules.alerts(write)] == [ETC_RULE]
    assert rules.alerts(open_event(node, ancestors, "/etc/passwd", write=False)) == []
    assert rules.alerts(open_event(node, ancestors, "/srv/app/x", write=True)) == []


def test_identity_fields_reach_the_alert(rules) -> None:
    node = _info(100, 50, "node")
    sh = _info(101, 100, "sh", "-c", "id")
    event = exec_event(sh, [node], identity={"container.image.repository": "web",
                                             "container.image.tag": "1.2"})
    [alert] = rules.alerts(event)
    assert alert["output_fields"]["container.image.repository"] == "web"
    assert "image=web:1.2" in alert["output"]


# -- outputs ----------------------------------------------------------------------------------

def test_falco_url() -> None:
    assert falco_url("http://127.0.0.1:8443") == "http://127.0.0.1:8443/falco"
    assert falco_url("http://127.0.0.1:8443/") == "http://127.0.0.1:8443/falco"
    assert falco_url("https://hub/custom/falco") == "https://hub/custom/falco"
    with pytest.raises(ValueError):
        falco_url("hub:8443")


def test_outputs_keep_write_and_cap(tmp_path: Path) -> None:
    out = AlertOutputs(file=tmp_path / "alerts.jsonl", max_alerts=2)
    for i in range(3):
        out.emit({"rule": f"r{i}"})
    assert out.wait(3, timeout=0.1) and not out.wait(4, timeout=0.05)
    out.close()
    assert [a["rule"] for a in out.snapshot()] == ["r0", "r1"]
    assert out.stats.dropped_memory == 1 and out.stats.written == 3
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["rule"] for line in lines] == ["r0", "r1", "r2"]
    assert json_lines([{"b": 1, "a": 2}]) == b'{"a": 2, "b": 1}\n'


def test_poster_sends_bearer_token_and_counts_refusals() -> None:
    seen: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, self.headers.get("Authorization", ""), body))
            self.send_response(200 if len(seen) == 1 else 400)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = AlertOutputs(hub_url=f"http://127.0.0.1:{server.server_address[1]}", token="t0k")
        out.emit({"rule": "a"})
        out.emit({"rule": "b"})
        out.close()
    finally:
        server.shutdown()
        server.server_close()
    assert [(p, a) for p, a, _ in seen] == [("/falco", "Bearer t0k")] * 2
    assert json.loads(seen[0][2]) == {"rule": "a"}
    assert out.stats.posted == 1 and out.stats.post_failed == 1     # 400: not retried
    assert "answered 400" in (out.stats.last_error or "")


# -- reconciling /proc with fanotify's exec opens ----------------------------------------------

LD = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"


@pytest.mark.parametrize("name, exepath, args, opens, expect, left", [
    # /proc read in time: kept as read; this exec's opens consumed
    ("sh", "/usr/bin/dash", ("-c", "id"), ["/usr/bin/dash", LD],
     ("sh", "/usr/bin/dash", ("-c", "id")), []),
    # a script: comm is the script's name, exe its interpreter
    ("run.sh", "/usr/bin/dash", (), ["/srv/run.sh", "/usr/bin/dash", LD],
     ("run.sh", "/usr/bin/dash", ()), []),
    # /proc already shows the NEXT exec (bash -c id execs id in place)
    ("id", "/usr/bin/id", (), ["/usr/bin/bash", LD, "/usr/bin/id", LD],
     ("bash", "/usr/bin/bash", ()), ["/usr/bin/id", LD]),
    # torn: exe still bash, name and arguments already id's
    ("id", "/usr/bin/bash", (), ["/usr/bin/bash", LD, "/usr/bin/id", LD],
     ("bash", "/usr/bin/bash", ()), ["/usr/bin/id", LD]),
    # a zombie: the name is left, the binary comes from the exec open
    ("sh", "", (), ["/usr/bin/dash", LD], ("sh", "/usr/bin/dash", ()), []),
    # reaped: only the exec open says what ran
    ("", "", (), [LD, "/usr/bin/dash", LD], ("dash", "/usr/bin/dash", ()), []),
])
def test_exec_reconciled_with_exec_opens(name, exepath, args, opens, expect, left) -> None:
    from collections import deque

    from secpipe.runtime.sensor.execs import reconcile

    paths = deque(opens)
    info = ProcInfo(pid=7, ppid=1, name=name, exe=exepath, exepath=exepath, args=args)
    out = reconcile(info, paths)
    assert (out.name, out.exepath, out.args) == expect
    assert list(paths) == left
    assert reconcile(info, deque()) == info            # nothing to check against


def test_an_exec_waits_until_its_reading_can_be_judged() -> None:
    from secpipe.runtime.sensor.execs import settled

    sh = ProcInfo(pid=7, name="sh", exepath="/usr/bin/dash")
    assert not settled(sh, [])
    assert not settled(sh, ["/usr/bin/dash"])          # symlink or torn: wait for more
    node = ProcInfo(pid=7, name="node", exepath="/usr/bin/node")
    assert settled(node, ["/usr/bin/node", LD]) and not settled(node, [LD])
    assert settled(ProcInfo(pid=7), ["/usr/bin/dash"])


def test_web_processes_are_the_services_own_programs_never_a_shell() -> None:
    import subprocess
    import sys
    import time

    from secpipe.scanners.runtime_sensor import _service_names

    proc = subprocess.Popen(["sh", "-c", f"{sys.executable} -c 'import time; time.sleep(5)'; "
                             "true"], start_new_session=True)
    try:
        names: list[str] = []
        for _ in range(100):                 # until the child has exec'd
            names = _service_names(proc.pid)
            if names:
                break
            time.sleep(0.02)
        assert names and names[0].startswith("python") and "sh" not in names, names
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
