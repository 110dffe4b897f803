"""Connections handed to `hub serve --workers N` processes by their parent, to the worker with
the fewest open connections, instead of each worker accepting on the shared socket.

Why: with one shared listening socket every idle worker is woken for a new connection and the
first to run accepts it (asyncio accepts every pending connection at once). Clients that keep
their connection (boto3, the pipeline's recorder) then stay wherever that race put them: most
`bench/hub_http.py` runs split four boto3 clients evenly over two workers, but one put 73% of
the server's samples in one worker, bound by its one GIL while the other idled. The parent
accepts (a few microseconds per connection, nothing per request) and passes the socket
(SCM_RIGHTS over a SOCK_SEQPACKET pair) to the worker with the fewest connections it handed
and the worker has not yet closed (a counter per worker in shared memory, written only by
that worker).

Nothing else changes for a connection: the worker runs uvicorn's own protocol on it, with
the same app, limits and keep-alive, and its peer address is the client's.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import socket
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import uvicorn

log = logging.getLogger("secpipe.hub.workers")


@dataclass
class Handoff:
    """A worker's end: where its connections arrive, and its closed-connection counter."""

    channel: socket.socket
    closed: Any                    # multiprocessing Array('q'), one slot per worker
    slot: int


class Dispatcher:
    """The parent's end: accepts on the listening socket and hands each connection on."""

    def __init__(self, sock: socket.socket, count: int) -> None:
        self.sock = sock
        self.closed = mp.get_context("fork").Array("q", count, lock=False)
        self.handed = [0] * count
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(count)]
        self.ends = [ours for ours, _ in pairs]
        self.handoffs = [Handoff(theirs, self.closed, i) for i, (_, theirs) in enumerate(pairs)]
        self.alive = [True] * count
        self._thread: threading.Thread | None = None

    def child_side(self, slot: int) -> Handoff:
        """In worker `slot` after fork: its Handoff; every other end is closed there."""
        for i, (ours, theirs) in enumerate(zip(self.ends, self.handoffs)):
            ours.close()
            if i != slot:
                theirs.channel.close()
        self.sock.close()
        return self.handoffs[slot]

    def start(self) -> None:
        """After the fork: drop the workers' ends here and start accepting."""
        for h in self.handoffs:
            h.channel.close()
        self._thread = threading.Thread(target=self._accept, name="hub-dispatcher",
                                        daemon=True)
        self._thread.start()

    def gone(self, slot: int) -> None:
        self.alive[slot] = False

    def _pick(self) -> int | None:
        live = [(self.handed[i] - self.closed[i], i) for i in range(len(self.ends))
                if self.alive[i]]
        return min(live)[1] if live else None

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return                        # the socket was closed: serving is over
            with conn:
                while (slot := self._pick()) is not None:
                    try:
                        socket.send_fds(self.ends[slot], [b"c"], [conn.fileno()])
                        self.handed[slot] += 1
                        break
                    except OSError as err:    # that worker is gone: try the next one
                        log.warning("hub worker %d did not take a connection: %s", slot, err)
                        self.alive[slot] = False

    def close(self) -> None:
        for ours in self.ends:
            ours.close()


class HandedServer(uvicorn.Server):
    """uvicorn serving the connections its parent hands over (see the module docstring)."""

    def __init__(self, config: uvicorn.Config, handoff: Handoff) -> None:
        super().__init__(config)
        self.handoff = handoff

    async def startup(self, sockets: Sequence[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])     # no listener of its own
        loop = asyncio.get_running_loop()
        config, closed, slot = self.config, self.handoff.closed, self.handoff.slot

        def protocol() -> asyncio.Protocol:
            proto = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state)
            lost = proto.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                try:
                    lost(exc)
                finally:
                    closed[slot] += 1

            proto.connection_lost = connection_lost  # type: ignore[method-assign]
            return proto

        channel = self.handoff.channel
        channel.setblocking(False)
        loop.add_reader(channel.fileno(), self._receive, loop, protocol)

    def _receive(self, loop: asyncio.AbstractEventLoop, protocol: Any) -> None:
        channel = self.handoff.channel
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(channel, 16, 16)
            except BlockingIOError:
                return
            if not msg and not fds:           # the parent is gone: stop like on SIGTERM
                loop.remove_reader(channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)
                conn.setblocking(False)
                loop.create_task(self._serve_one(loop, protocol, conn))

    async def _serve_one(self, loop: asyncio.AbstractEventLoop, protocol: Any,
                         conn: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(protocol, conn)
        except OSError as err:                # the client left before we started
            log.info("handed connection closed before serving: %s", err)
            conn.close()
            self.handoff.closed[self.handoff.slot] += 1

    async def shutdown(self, sockets: Sequence[socket.socket] | None = None) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.handoff.channel.fileno())
        except (ValueError, OSError):
            pass                              # already closed by the parent's exit
        await super().shutdown(sockets=None)
