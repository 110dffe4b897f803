"""The vulnerability database's one error type, apart from the store so that the record
sources (which the store reads through) need not import the store."""

from __future__ import annotations


class VulnDBError(Exception):
    """Anything wrong with the vulnerability database or an import: message is for users."""
