"""The dashboard's sign-in under attack, as figures: how many of N parallel wrong passwords
the hub actually verified (its `login-failed` audit rows), and whether a sign-in form fetched
before a flood of anonymous `GET /ui/login` still signs in afterwards, with how long the
flood took. Works against whichever dashboard is on PYTHONPATH (run it on an older checkout
to compare), so it uses only the public `routes()` and the seeded test hub.

    PYTHONPATH=src:. python bench/dashboard_login.py [--guesses 40] [--flood 10000]

Prints counts and seconds; no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.hub.dashboard_seed import PASSWORD, TOKEN, USER, seed, seeded_server


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def parallel_guesses(n: int) -> None:
    with seeded_server(Path(tempfile.mkdtemp())) as (url, store):
        first = httpx.Client(base_url=url, timeout=120)
        token = csrf_of(first.get("/ui/login").text)
        clients = [httpx.Client(base_url=url, timeout=120, cookies=first.cookies)
                   for _ in range(n)]
        start = threading.Barrier(n)

        def go(i: int) -> int:
            start.wait()
            return clients[i].post("/ui/login", data={"csrf": token, "username": USER,
                                                      "password": f"guess-{i}"}).status_code

        with ThreadPoolExecutor(n) as pool:
            codes = list(pool.map(go, range(n)))
        rows = len(store.audit_log(action="login-failed", limit=100_000))
        print(f"{n} parallel wrong passwords: answers "
              f"{dict(sorted((c, codes.count(c)) for c in set(codes)))}, "
              f"passwords verified (login-failed audit rows): {rows}")


async def flood(n: int) -> None:
    from secpipe.hub.api import create_app
    from secpipe.hub.dashboard import routes

    store = seed(Path(tempfile.mkdtemp()) / "hub.db")
    app = create_app(store, token_role="read", extra_routes=routes(store, token=TOKEN))
    transport = httpx.ASGITransport(app=app)
    base = "http://127.0.0.1"
    async with httpx.AsyncClient(transport=transport, base_url=base) as pending, \
            httpx.AsyncClient(transport=transport, base_url=base) as visitors:
        token = csrf_of((await pending.get("/ui/login")).text)
        t0 = time.perf_counter()
        for _ in range(n):
            visitors.cookies.clear()
            await visitors.get("/ui/login")
        took = time.perf_counter() - t0
        r = await pending.post("/ui/login", data={"csrf": token, "username": USER,
                                                  "password": PASSWORD})
        print(f"{n} anonymous GET /ui/login in {took:.1f} s "
              f"({n / took:.0f}/s, in-process ASGI); the earlier form's sign-in: "
              f"{r.status_code} ({'signed in' if r.status_code == 303 else 'refused'})")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guesses", type=int, default=40)
    parser.add_argument("--flood", type=int, default=10_000)
    args = parser.parse_args()
    parallel_guesses(args.guesses)
    asyncio.run(flood(args.flood))


if __name__ == "__main__":
    main()
