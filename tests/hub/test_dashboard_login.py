"""Sign-in under attack, against the real server and store (SQLite and PostgreSQL): parallel guesses are capped
exactly (counted by the audit trail's `login-failed` rows, one per verified password), the
per-account and per-address limits hold, another account's success resets neither, the
throttle's memory is bounded, and a flood of anonymous sign-in pages keeps no state, so a
sign-in form fetched before the flood still works."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from secpipe.hub.dashboard import LoginThrottle, Sessions
from secpipe.hub.dashboard.signin import LOGIN_COOKIE, LoginForms
from tests.hub.dashboard_seed import PASSWORD, TOKEN, USER, seed, seeded_server

BOB, BOB_PASSWORD = "bob", "bob's own long password"


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, follow_redirects=False, timeout=60)


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def form_of(c: httpx.Client) -> str:
    """Fetch the sign-in page (which sets the nonce cookie on `c`); its CSRF token."""
    r = c.get("/ui/login")
    assert r.status_code == 200
    return csrf_of(r.text)


def attempt(c: httpx.Client, token: str, user: str, password: str) -> int:
    return c.post("/ui/login", data={"csrf": token, "username": user,
                                     "password": password}).status_code


def parallel(url: str, guesses: list[tuple[str, str]]) -> list[int]:
    """All guesses at once, each from its own client holding the same fetched form."""
    first = client(url)
    token, nonce = form_of(first), first.cookies.get(LOGIN_COOKIE)
    clients = [client(url) for _ in guesses]
    for c in clients:
        c.cookies.set(LOGIN_COOKIE, nonce)
    start = threading.Barrier(len(guesses))

    def go(i: int) -> int:
        start.wait()
        return attempt(clients[i], token, *guesses[i])

    with ThreadPoolExecutor(len(guesses)) as pool:
        return list(pool.map(go, range(len(guesses))))


def verified(store, principal: str | None = None) -> int:
    """How many passwords the hub checked and refused (each is one audit row)."""
    return len(store.audit_log(action="login-failed", principal=principal, limit=10_000))


def test_parallel_guesses_at_one_account_are_capped_exactly(store_url: str) -> None:
    throttle = LoginThrottle(account_limit=10, address_limit=1000)
    with seeded_server(store_url, throttle=throttle) as (url, store):
        codes = parallel(url, [(USER, f"guess-{i}") for i in range(40)])
        assert sorted(codes) == [401] * 10 + [429] * 30
        assert verified(store, f"user:{USER}") == 10, "exactly the cap reached scrypt"
        c = client(url)
        assert attempt(c, form_of(c), USER, PASSWORD) == 429, "the right password waits too"
        assert verified(store) == 10


def test_parallel_guesses_from_one_address_are_capped_exactly(store_url: str) -> None:
    throttle = LoginThrottle(account_limit=10, address_limit=15)
    with seeded_server(store_url, throttle=throttle) as (url, store):
        codes = parallel(url, [(f"user{i}", "Summer2024!") for i in range(40)])
        assert sorted(codes) == [401] * 15 + [429] * 25
        assert verified(store) == 15
        c = client(url)
        assert attempt(c, form_of(c), USER, PASSWORD) == 429, "the address is blocked"


def test_another_accounts_success_resets_neither_the_victim_nor_the_address(
        store_url: str) -> None:
    throttle = LoginThrottle(account_limit=10, address_limit=15)
    with seeded_server(store_url, throttle=throttle) as (url, store):
        store.set_user_password(BOB, BOB_PASSWORD, role="read")
        c = client(url)
        token = form_of(c)
        assert [attempt(c, token, BOB, "typo") for _ in range(3)] == [401] * 3
        assert [attempt(c, token, USER, f"g{i}") for i in range(9)] == [401] * 9
        assert attempt(c, token, BOB, BOB_PASSWORD) == 303     # the attacker's own account
        attacker = client(url)                                  # a fresh browser, same address
        token = form_of(attacker)
        assert attempt(attacker, token, USER, "g9") == 401      # the victim's 10th failure
        assert attempt(attacker, token, USER, "g10") == 429     # still counted: blocked
        assert attempt(attacker, token, USER, PASSWORD) == 429
        assert verified(store, f"user:{USER}") == 10
        # the address holds 10 failures (bob's 3 were his own and went with his success)
        assert [attempt(attacker, token, f"x{i}", "p") for i in range(5)] == [401] * 5
        assert attempt(attacker, token, "y", "p") == 429, "the address is at its limit"
        assert attempt(attacker, token, BOB, BOB_PASSWORD) == 429


def test_the_victims_success_clears_only_its_own_failures_from_that_address() -> None:
    throttle = LoginThrottle(account_limit=3, address_limit=100)
    for _ in range(2):
        assert throttle.reserve("user:alice", "10.0.0.9") is not None   # attacker's guesses
    mine = throttle.reserve("user:alice", "10.0.0.1")
    assert mine is not None
    throttle.succeeded(mine)                       # alice signs in from her own address
    assert throttle.reserve("user:alice", "10.0.0.9") is not None
    assert throttle.blocked("user:alice", "10.0.0.1"), "the attacker's failures still count"


def test_throttle_memory_is_bounded_and_blocked_accounts_are_evicted_last() -> None:
    throttle = LoginThrottle(account_limit=5, address_limit=5, max_keys=100)
    for _ in range(5):
        assert throttle.reserve("user:victim", "10.0.0.1") is not None
    assert throttle.reserve("user:victim", "10.9.9.9") is None
    for i in range(5000):                          # distinct names from distinct addresses
        assert throttle.reserve(f"user:n{i}", f"10.1.{i // 250}.{i % 250}") is not None
    accounts, addresses = throttle.sizes()
    assert accounts <= 100 and addresses <= 100
    assert throttle.blocked("user:victim", "10.9.9.9"), "the account under attack stays blocked"


def test_throttle_entries_expire() -> None:
    throttle = LoginThrottle(account_limit=2, address_limit=2, window=0.05)
    for _ in range(2):
        throttle.reserve("user:a", "10.0.0.1")
    assert throttle.reserve("user:a", "10.0.0.1") is None
    time.sleep(0.2)
    assert throttle.reserve("user:b", "10.0.0.2") is not None   # sweeps the aged-out keys
    assert throttle.sizes() == (1, 1)
    assert throttle.reserve("user:a", "10.0.0.1") is not None


def test_signed_login_tokens() -> None:
    forms, other = LoginForms(), LoginForms()
    nonce = forms.nonce(None)
    assert forms.nonce(nonce) == nonce and forms.nonce("short") != "short"
    token = forms.issue(nonce)
    assert forms.verify(token, nonce)
    assert not forms.verify(token, forms.nonce(None)), "bound to the browser's nonce"
    assert not other.verify(token, nonce), "another process's key"
    assert not forms.verify(token[:-1] + ("A" if token[-1] != "A" else "B"), nonce)
    assert not forms.verify(forms.issue(nonce, now=time.time() - forms.ttl - 5), nonce)
    assert not forms.verify(forms.issue(nonce, now=time.time() + 3600), nonce)
    for bad in ("", ".", "x.y", "-1.abc", "1" * 200):
        assert not forms.verify(bad, nonce)


def test_login_token_needs_its_own_browsers_cookie(tmp_path: Path) -> None:
    with seeded_server(tmp_path) as (url, _):
        attacker = client(url)
        token = form_of(attacker)
        victim = client(url)
        form_of(victim)                               # the victim has a nonce of its own
        assert attempt(victim, token, USER, PASSWORD) == 403, "login CSRF with a foreign token"
        bare = client(url)
        assert attempt(bare, token, USER, PASSWORD) == 403, "no nonce cookie at all"
        tabs = client(url)
        first = form_of(tabs)                         # two open sign-in tabs
        nonce = tabs.cookies.get(LOGIN_COOKIE)
        form_of(tabs)
        assert tabs.cookies.get(LOGIN_COOKIE) == nonce, "a second tab keeps the nonce"
        assert attempt(tabs, first, USER, PASSWORD) == 303, "the older tab still signs in"


async def _flood_then_sign_in(tmp_path: Path) -> None:
    from secpipe.hub.api import create_app
    from secpipe.hub.dashboard import routes

    store = seed(tmp_path / "hub.db")
    sessions = Sessions()
    app = create_app(store, token_role="read",
                     extra_routes=routes(store, token=TOKEN, sessions=sessions))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    try:
        def browser() -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                     follow_redirects=False)

        async with browser() as pending, browser() as signed, browser() as flood:
            r = await pending.get("/ui/login")          # a sign-in form left open...
            token = csrf_of(r.text)
            r = await signed.get("/ui/login")
            r = await signed.post("/ui/login", data={"csrf": csrf_of(r.text),
                                                     "username": USER, "password": PASSWORD})
            assert r.status_code == 303
            for _ in range(10_000):                     # ...then 10,000 anonymous visitors
                flood.cookies.clear()
                assert (await flood.get("/ui/login")).status_code == 200
            assert sessions.counts() == (0, 1), "the sign-in page stores nothing"
            r = await pending.post("/ui/login", data={"csrf": token, "username": USER,
                                                      "password": PASSWORD})
            assert r.status_code == 303, "the form fetched before the flood still signs in"
            assert (await pending.get("/ui/")).status_code == 200
            assert (await signed.get("/ui/")).status_code == 200
    finally:
        store.close()


def test_ten_thousand_anonymous_login_pages_evict_no_pending_sign_in(tmp_path: Path) -> None:
    asyncio.run(_flood_then_sign_in(tmp_path))


def test_the_login_page_and_failed_sign_ins_create_no_session(tmp_path: Path) -> None:
    sessions = Sessions()
    with seeded_server(tmp_path, sessions=sessions) as (url, _):
        c = client(url)
        for path in ("/ui/login", "/ui/login?next=/ui/runs", "/ui/", "/ui/findings"):
            assert c.get(path).status_code in (200, 303)
        assert attempt(c, form_of(c), USER, "wrong") == 401
        assert sessions.counts() == (0, 0)
