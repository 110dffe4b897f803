"""The tree walk (`_files.walk_stat`, behind `walk` and the scan cache's manifest) against the
os.walk-based walk it replaced, with `os.stat`: the same files, in the same order, with the
same signatures, whatever the tree holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from secpipe.scanners._files import excluded, walk, walk_stat


def _os_walk(root: Path, exclude: tuple[str, ...]):
    """The walk as it was, on os.walk: the oracle."""
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        rel_dir = base.relative_to(root).as_posix()
        dirnames[:] = sorted(
            d for d in dirnames
            if not excluded(d if rel_dir == "." else f"{rel_dir}/{d}", exclude))
        for name in sorted(filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not excluded(rel, exclude):
                path = base / name
                if path.is_file() and not path.is_symlink():
                    yield path


def _reference(root: Path, exclude: tuple[str, ...]) -> list[tuple[str, str, tuple]]:
    top = len(str(root).rstrip("/")) + 1
    out = []
    for path in _os_walk(root, exclude):
        st = os.stat(path)
        out.append((str(path)[top:], str(path),
                    (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)))
    return out


def _ours(root: Path, exclude: tuple[str, ...]) -> list[tuple[str, str, tuple]]:
    return [(rel, path, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
            for rel, path, st in walk_stat(root, exclude)]


def _tree(root: Path) -> None:
    for rel in ("a.py", "B.py", "z/1.txt", "z/y/deep.tf", "z/y/x/deeper.md", "dd/é ü.txt",
                "skip/me.py", "keep/skip.log", "keep/ok.py", ".git/config", "node_modules/m.js",
                "sub.d/a", "sub/a", "sub-/a", "10/a", "9/a", "z/.hidden", "empty.txt"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("" if rel == "empty.txt" else f"content of {rel}\n")
    (root / "emptydir").mkdir()
    (root / "link-file").symlink_to(root / "a.py")
    (root / "link-dir").symlink_to(root / "z")                 # not entered, not a file
    (root / "broken").symlink_to(root / "nowhere")
    (root / "z" / "y" / "loop").symlink_to(root)
    os.mkfifo(root / "fifo")                                    # not a regular file


@pytest.mark.parametrize("exclude", [(), ("skip", "*.log"), ("z/y",), ("*.md", "dd"),
                                     ("z/*",), ("*/x",), ("keep/*.log", "sub*"), ("y", "z/y/")])
def test_the_same_files_order_and_signatures_as_walk_and_stat(tmp_path: Path,
                                                              exclude: tuple[str, ...]) -> None:
    root = tmp_path / "tree"
    _tree(root)
    ref = _reference(root, exclude)
    assert ref and _ours(root, exclude) == ref
    assert list(walk(root, exclude)) == list(_os_walk(root, exclude))
    assert "link-file" not in {r for r, _, _ in ref} and "fifo" not in {r for r, _, _ in ref}


def test_other_roots_give_the_same_relative_paths(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "tree"
    _tree(root)
    monkeypatch.chdir(tmp_path)
    for other in (Path("tree"), Path(f"{root}/../tree")):
        got = [(rel, sig) for rel, _, sig in _ours(other, ())]
        assert got == [(rel, sig) for rel, _, sig in _reference(root, ())]
        assert list(walk(other)) == list(_os_walk(other, ()))


def test_a_symlinked_root_is_walked_like_its_target(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _tree(root)
    (tmp_path / "alias").symlink_to(root)
    ref = _reference(tmp_path / "alias", ())
    assert _ours(tmp_path / "alias", ()) == ref and len(ref) == len(_reference(root, ()))
