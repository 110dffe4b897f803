"""The vulnerability database's error types, apart from the store and the API so that the
record sources (which the store reads through) and the OSV worker process import neither."""

from __future__ import annotations


class VulnDBError(Exception):
    """Anything wrong with the vulnerability database or an import: message is for users."""


class QueryError(Exception):
    """An OSV API query the API refuses: the HTTP status, OSV's error code and a message.
    (Here, not in api.py, so the worker process that raises it need not import the API.)"""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
