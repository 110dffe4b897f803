"""A process-wide setting overridden while any user needs it (`CountedOverride`).

Imports can run concurrently (threads of `hub serve`, nested calls) while each wants the same
interpreter-wide setting changed, such as the cyclic GC off or a short switch interval. The
first user in saves the setting and applies the override; the last one out restores what the
first found, so an inner or overlapping user never restores too early.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator


class CountedOverride:
    """`apply()` when the first user enters (it returns what to restore), `restore(saved)`
    when the last one leaves. Use an instance as a context manager factory: `with o(): ...`."""

    def __init__(self, apply: Callable[[], Any], restore: Callable[[Any], None]) -> None:
        self._apply, self._restore = apply, restore
        self._lock = threading.Lock()
        self._users = 0
        self._saved: Any = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = self._apply()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._restore(self._saved)
