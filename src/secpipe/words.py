"""Counted nouns: "1 finding", "2 findings" (never "1 findings")."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"
