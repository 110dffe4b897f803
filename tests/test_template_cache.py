"""report.html's compiled-template cache: a page rendered from the cache is the page rendered
without it, the cache really is used on the second load, and a cache that cannot be written
does not fail the render."""

from __future__ import annotations

from pathlib import Path

import pytest

from secpipe.outputs import html as html_mod
from tests.test_outputs import make_run


def _render(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(html_mod, "_ENV", None)   # a fresh Environment, as a new process has
    return html_mod.render_html(make_run())


def test_cached_template_renders_the_same_page(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECPIPE_NO_TEMPLATE_CACHE", "1")
    plain = _render(monkeypatch)
    assert html_mod.environment().bytecode_cache is None
    monkeypatch.delenv("SECPIPE_NO_TEMPLATE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = _render(monkeypatch)   # compiles and writes the cache
    cached = list((tmp_path / "secpipe" / "templates").rglob("*.cache"))
    assert len(cached) == 1
    compiled = []
    monkeypatch.setattr(html_mod.Environment, "compile",
                        lambda self, *a, **k: compiled.append(a) or pytest.fail("compiled"))
    second = _render(monkeypatch)  # loads the cache, compiles nothing
    assert compiled == []
    assert first == plain
    assert second == plain


def test_unwritable_cache_still_renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # secpipe/templates cannot be created
    monkeypatch.delenv("SECPIPE_NO_TEMPLATE_CACHE", raising=False)
    page = _render(monkeypatch)
    assert html_mod.environment().bytecode_cache is None
    assert "<html" in page
