"""The sign-in form's two guards: a login throttle and a stateless, signed CSRF token.

Throttle. Two limits apply to every attempt: at most `account_limit` failures per account in
`window` seconds (from any address: spreading guesses over many addresses does not help) and
at most `address_limit` failures per client address (for any account: one client cannot try a
password on every user name). An attempt is *reserved* - counted as a failure - before the
slow scrypt check, under one lock, so N parallel guesses can never verify more than the cap;
a success only takes back that account's own failures from that address, so an attacker's
successful sign-in to their own account neither clears the victim's counter nor the
address's failures against other accounts. The price of a per-account limit is that someone
guessing at an account also locks its owner out for up to `window` seconds; a lockout that
ends by itself is the usual trade (the account keeps its password safe meanwhile).

Memory is bounded: each key holds at most its limit of timestamps, keys whose failures all
aged out are forgotten (oldest first, amortised O(1)), and beyond `max_keys` keys per kind the
least recently failed key that is *not* blocked goes first (among the 64 oldest; only when
all of those are blocked does the oldest blocked one go). A flood of distinct user names
costs the flooder its own address's budget first.

Login CSRF. The sign-in page keeps no server-side state at all: its token is
`TIMESTAMP.HMAC(key, TIMESTAMP.NONCE)` with a per-process random key, bound to a random nonce
in the `secpipe_login` cookie (HttpOnly, SameSite=Lax, reused while it exists, so several
open sign-in tabs stay valid) and valid for `FORM_TTL` seconds. Any number of anonymous
page views therefore cannot push out a pending sign-in, and another site can neither read
a token nor make one that matches the victim's cookie. A restart of the hub invalidates
pending forms, as it already ends every session (sessions live in memory too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

LOGIN_COOKIE = "secpipe_login"
FORM_TTL = 2 * 3600            # seconds a fetched sign-in form stays usable
CLOCK_SKEW = 60                # a token "from the future" beyond this is refused
ACCOUNT_LIMIT = 10             # failures per account per window, from any address
ADDRESS_LIMIT = 30             # failures per address per window, for any account
WINDOW = 300.0
MAX_KEYS = 10_000              # accounts (and, separately, addresses) remembered at most
_EVICT_SCAN = 64
_NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class Attempt:
    """A reserved sign-in attempt: already counted as a failure until `succeeded`."""

    account: str
    address: str
    at: float


class LoginThrottle:
    """Per-account and per-address failure limits with check-and-count in one step."""

    def __init__(self, account_limit: int = ACCOUNT_LIMIT, address_limit: int = ADDRESS_LIMIT,
                 window: float = WINDOW, max_keys: int = MAX_KEYS) -> None:
        self.account_limit, self.address_limit = account_limit, address_limit
        self.window, self.max_keys = window, max_keys
        # key -> (time, the other key) of each failure, oldest first; dicts in LRU order
        self._accounts: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()
        self._addresses: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def reserve(self, account: str, address: str) -> Attempt | None:
        """Count one attempt now, or None when the account or the address is blocked."""
        with self._lock:
            t = time.monotonic()
            acc = self._recent(self._accounts, account, t)
            adr = self._recent(self._addresses, address, t)
            if len(acc) >= self.account_limit or len(adr) >= self.address_limit:
                return None
            self._add(self._accounts, account, (t, address), self.account_limit)
            self._add(self._addresses, address, (t, account), self.address_limit)
            return Attempt(account, address, t)

    def succeeded(self, attempt: Attempt) -> None:
        """The right credentials: forget this account's failures from this address only."""
        with self._lock:
            self._drop(self._accounts, attempt.account, attempt.address)
            self._drop(self._addresses, attempt.address, attempt.account)

    def blocked(self, account: str, address: str) -> bool:
        with self._lock:
            t = time.monotonic()
            return (len(self._recent(self._accounts, account, t)) >= self.account_limit
                    or len(self._recent(self._addresses, address, t)) >= self.address_limit)

    def sizes(self) -> tuple[int, int]:
        """(accounts, addresses) currently remembered: for tests of the memory bound."""
        with self._lock:
            return len(self._accounts), len(self._addresses)

    # --- internals (lock held) --------------------------------------------------------------
    def _recent(self, table: OrderedDict[str, deque[tuple[float, str]]], key: str,
                t: float) -> deque[tuple[float, str]]:
        """The key's failures within the window (an empty, unstored deque if none)."""
        q = table.get(key)
        if q is None:
            return deque()
        while q and t - q[0][0] > self.window:
            q.popleft()
        if not q:
            del table[key]
        return q

    def _add(self, table: OrderedDict[str, deque[tuple[float, str]]], key: str,
             entry: tuple[float, str], limit: int) -> None:
        q = table.get(key)
        if q is None:
            q = table[key] = deque()
        q.append(entry)
        table.move_to_end(key)
        self._evict(table, entry[0], limit)

    def _evict(self, table: OrderedDict[str, deque[tuple[float, str]]], t: float,
               limit: int) -> None:
        # keys in least-recently-failed order: the front ones are the first to age out
        while table:
            oldest, q = next(iter(table.items()))
            if q and t - q[-1][0] <= self.window:
                break
            del table[oldest]
        while len(table) > self.max_keys:
            victim = None
            for i, (key, q) in enumerate(table.items()):
                if i >= _EVICT_SCAN:
                    break
                if len(q) < limit:
                    victim = key
                    break
            del table[victim if victim is not None else next(iter(table))]

    @staticmethod
    def _drop(table: OrderedDict[str, deque[tuple[float, str]]], key: str, other: str) -> None:
        q = table.get(key)
        if q is None:
            return
        kept = deque(e for e in q if e[1] != other)
        if kept:
            table[key] = kept
        else:
            del table[key]


class LoginForms:
    """Stateless CSRF tokens for the sign-in form, bound to the browser's nonce cookie."""

    def __init__(self, key: bytes | None = None, ttl: int = FORM_TTL) -> None:
        self._key = key or secrets.token_bytes(32)
        self.ttl = ttl

    @staticmethod
    def nonce(presented: str | None) -> str:
        """The browser's nonce when it sent a well-formed one, else a new one."""
        if presented and _NONCE.match(presented):
            return presented
        return secrets.token_urlsafe(32)

    def issue(self, nonce: str, now: float | None = None) -> str:
        stamp = str(int(time.time() if now is None else now))
        return f"{stamp}.{self._mac(stamp, nonce)}"

    def verify(self, token: str | None, nonce: str | None, now: float | None = None) -> bool:
        """True for a token this process issued for `nonce` within the last `ttl` seconds."""
        if not token or not nonce or not _NONCE.match(nonce) or len(token) > 100:
            return False
        stamp, sep, mac = token.partition(".")
        if not sep or not stamp.isdigit():
            return False
        age = (time.time() if now is None else now) - int(stamp)
        if age > self.ttl or age < -CLOCK_SKEW:
            return False
        return hmac.compare_digest(mac.encode("ascii", "replace"),
                                   self._mac(stamp, nonce).encode("ascii"))

    def _mac(self, stamp: str, nonce: str) -> str:
        digest = hmac.new(self._key, f"secpipe-login|{stamp}|{nonce}".encode(),
                          hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
