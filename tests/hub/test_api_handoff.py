"""`hub serve --workers N` hands each accepted connection to the worker with the fewest open
ones (`secpipe.hub.api.handoff.Dispatcher`): real TCP connections, real SCM_RIGHTS passing,
the workers' ends read here in place of forked workers."""

from __future__ import annotations

import socket
import threading
import time

from secpipe.hub.api.handoff import Dispatcher
from secpipe.hub.api.workers import bind


def _received(dispatcher: Dispatcher, timeout: float = 10.0) -> list[list[socket.socket]]:
    """The connections each worker end has been handed so far."""
    got: list[list[socket.socket]] = [[] for _ in dispatcher.handoffs]
    for slot, h in enumerate(dispatcher.handoffs):
        h.channel.settimeout(0.2)
        while True:
            try:
                _msg, fds, _f, _a = socket.recv_fds(h.channel, 16, 16)
            except (TimeoutError, BlockingIOError):
                break
            got[slot] += [socket.socket(fileno=fd) for fd in fds]
    return got


def _connect(port: int, n: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(n)]


def test_connections_go_to_the_least_busy_worker() -> None:
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    dispatcher = Dispatcher(sock, 2)
    ends = [h.channel for h in dispatcher.handoffs]
    # as `start` does, but the worker ends stay open here: this test reads them
    threading.Thread(target=dispatcher._accept, daemon=True).start()
    clients: list[socket.socket] = []
    try:
        clients += _connect(port, 4)
        deadline = time.monotonic() + 10
        while sum(dispatcher.handed) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        handed = _received(dispatcher)
        assert [len(h) for h in handed] == [2, 2]
        # the handed socket is the client's connection: bytes go through
        clients[0].sendall(b"ping")
        time.sleep(0.2)
        readable = [c for conns in handed for c in conns if _readable(c)]
        assert len(readable) == 1 and readable[0].recv(4) == b"ping"
        # worker 0 closes both of its connections: the next two go to it
        dispatcher.closed[0] += 2
        clients += _connect(port, 2)
        while sum(dispatcher.handed) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        more = _received(dispatcher)
        assert [len(h) for h in more] == [2, 0]
        # a worker that is gone gets nothing
        dispatcher.gone(0)
        clients += _connect(port, 1)
        while sum(dispatcher.handed) < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [len(h) for h in _received(dispatcher)] == [0, 1]
        for conns in (*handed, *more):
            for c in conns:
                c.close()
    finally:
        for c in clients:
            c.close()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        dispatcher.close()
        for end in ends:
            end.close()


def _readable(conn: socket.socket) -> bool:
    conn.setblocking(False)
    try:
        return bool(conn.recv(4, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        conn.setblocking(True)
