"""What a tool scanned, as content digests: the tree manifest, its units, the history state.

A unit is the smallest part of the tree whose findings do not depend on anything outside it:
one file for the per-file secret and lint tools, one directory for checkov and trivy (whose
Terraform checks read a whole module directory), and a whole Helm chart (templates and values)
for anything under a `Chart.yaml`. When a unit's digest is unchanged its findings are reused;
changed units are copied into a mirror tree (same relative paths, so findings carry the same
paths and identities) and only that mirror is scanned.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
import time
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping, Sequence

from secpipe.scanners._files import walk_stat

# How each cacheable tool's tree is cut into units. Tools not listed are never cached
# (deploy targets, DAST, engines fed by other stages' outputs): their results depend on more
# than the tree.
UNIT_KIND = {
    "detect-secrets": "file", "hadolint": "file", "trufflehog3": "file", "kingfisher": "file",
    "git-secrets": "whole", "checkov": "dir", "trivy": "dir",
}
# Tools that also read git history when their `history` option is on (the default).
HISTORY_TOOLS = frozenset({"trufflehog3", "git-secrets", "kingfisher"})
_TF_LOCAL_MODULE = re.compile(rb'source\s*=\s*"\.\.?/')


def manifest(root: Path, exclude: Sequence[str], stat_cache: bool = True) -> dict[str, str]:
    """Relative path -> SHA-256 of the content, for every file the tools may scan.

    As git's index does, the digest of a file whose size, modification and change times and
    inode are those recorded by the last manifest of the same tree is reused without reading
    the file; a file whose times are not clearly older than that manifest (modified while it
    was taken, or within the clock's granularity) is read again."""
    from secpipe.scancache import store

    key = store.digest(["manifest-stat", str(root.resolve()), list(exclude)])
    known = (store.read_entry("manifest", key) or {}) if stat_cache else {}
    taken_before = int(known.get("taken_ns", 0))
    old: dict = known.get("files", {})
    taken_ns = time.time_ns()
    out: dict[str, str] = {}
    stats: dict[str, list] = {}
    hashed = 0
    walked = list(walk_stat(root, exclude))
    before = {dev: taken_before - window
              for dev, window in racy_windows(st for _rel, _path, st in walked).items()}
    for rel, path, st in walked:
        sig = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        prev = old.get(rel)
        if prev and prev[:4] == sig and max(sig[1], sig[2]) < before[st.st_dev]:
            out[rel] = prev[4]
        else:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[rel] = h.hexdigest()
            hashed += 1
        stats[rel] = [*sig, out[rel]]
    if stat_cache and (hashed or len(stats) != len(old)):
        store.write_entry("manifest", key, {"taken_ns": taken_ns, "files": stats})
    return out


_RACY_MAX_NS = 2_000_000_000   # the coarsest file times in use (FAT's 2 s)
# File times come from the kernel's coarse clock, which is behind time.time_ns() by up to one
# tick (1-10 ms): ten ticks' margin.
_CLOCK_LAG_NS = 100_000_000


def racy_windows(stats: Iterable[os.stat_result]) -> dict[int, int]:
    """Per device: how close to the last manifest a file's times may be before the file is read
    again (git's "racily clean" entries): the file times' granularity there plus the clock's lag.

    A change made just after a manifest can leave a file's times as recorded only within one
    granule of them. Every time on a device is a multiple of its granularity, so the greatest
    common divisor of all the times seen there bounds it from above: a few ns for the
    thousands of files of a nanosecond filesystem, a multiple of 1 s (or FAT's 2 s) where times
    are whole seconds. Capped at 2 s, which a lone file's time (its own divisor) would exceed:
    a flat 2 s window made the first re-run after a fresh checkout or edit read every file
    again (0.2 s of CPU for 3,000 files)."""
    gcds: dict[int, int] = {}
    for st in stats:
        gcds[st.st_dev] = math.gcd(gcds.get(st.st_dev, 0), st.st_mtime_ns, st.st_ctime_ns)
    return {dev: min(g or _RACY_MAX_NS, _RACY_MAX_NS) + _CLOCK_LAG_NS
            for dev, g in gcds.items()}


def manifest_digest(files: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel]}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def unit_kind(tool: str, options: Mapping[str, object], git_root: Path | None,
              root: Path, files: Mapping[str, str]) -> str | None:
    """'file', 'dir', 'whole' (only an exact repeat is reused) or None (never cached)."""
    kind = UNIT_KIND.get(tool)
    if kind is None:
        return None
    if tool in HISTORY_TOOLS and options.get("history", True) and git_root is not None:
        return "whole"  # history is keyed by the refs; see history_state
    if tool == "hadolint" and options.get("dockerfiles"):
        return "whole"  # configured paths would be missing from a mirror
    if kind == "dir" and _has_local_tf_modules(root, files):
        return "whole"  # a module directory's checks read another directory
    return kind


def _has_local_tf_modules(root: Path, files: Mapping[str, str]) -> bool:
    for rel in files:
        if rel.endswith(".tf"):
            try:
                if _TF_LOCAL_MODULE.search((root / rel).read_bytes()):
                    return True
            except OSError:
                return True
    return False


def units(files: Mapping[str, str], kind: str) -> dict[str, str]:
    """Unit name -> digest of its content."""
    if kind == "file":
        return dict(files)
    charts = chart_roots(files)
    members: dict[str, list[str]] = {}
    for rel in files:
        members.setdefault(unit_of(rel, kind, charts), []).append(rel)
    out = {}
    for unit, rels in members.items():
        h = hashlib.sha256()
        for rel in sorted(rels):
            h.update(f"{rel}\0{files[rel]}\n".encode("utf-8", "surrogateescape"))
        out[unit] = h.hexdigest()
    return out


def chart_roots(files: Mapping[str, str]) -> set[str]:
    return {_parent(rel) for rel in files if rel == "Chart.yaml" or rel.endswith("/Chart.yaml")}


def _parent(rel: str) -> str:
    """PurePosixPath(rel).parent of a manifest path, as a string (3,000 files per call)."""
    cut = rel.rfind("/")
    return rel[:cut] if cut > 0 else "."


def unit_of(rel: str, kind: str, charts: set[str]) -> str:
    if kind == "file":
        return rel
    parent = _parent(rel)
    anc = parent
    while charts:
        if anc in charts:
            return anc
        if anc == ".":
            break
        anc = _parent(anc)
    return parent


# What checkov reads without `secrets_all_files`: its IaC frameworks' files (Terraform, YAML and
# JSON documents, CloudFormation templates, Bicep, Kustomize's `Kustomization`), anything in a
# Helm chart, Dockerfiles; its secrets framework reads the same extensions (checkov's
# SUPPORTED_FILE_EXTENSIONS) and Dockerfiles.
_IAC_SUFFIXES = (".tf", ".tfvars", ".hcl", ".json", ".yaml", ".yml", ".template", ".bicep")
_IAC_NAMES = frozenset({"Kustomization"})


def relevant(tool: str, options: Mapping[str, object], rel: str, in_chart: bool,
             root: Path | None = None) -> bool:
    """Could the tool report anything on this file? Only when no changed file is relevant is
    a partial run skipped (its changed units then hold no findings, as a full run says).

    With root, a file whose name says nothing is also read for a Dockerfile's first line, as
    the Dockerfile discovery of hadolint and checkov does."""
    return reader(tool, options, root)(rel, in_chart)


def reader(tool: str, options: Mapping[str, object], root: Path | None = None):
    """`relevant` for one tool, its options worked out once: (rel, in_chart) -> bool."""
    from secpipe.scanners._discovery import FRAMEWORKS, checkov_reads_name

    if tool == "hadolint":
        return lambda rel, in_chart: _dockerfile(root, rel, PurePosixPath(rel).name)
    if tool != "checkov":
        return lambda rel, in_chart: True  # the secret scanners read every file
    wanted = options.get("frameworks") or "auto"
    listed = [wanted] if isinstance(wanted, str) else list(wanted)  # type: ignore[call-overload]
    frameworks = set(FRAMEWORKS) if listed == ["auto"] else {str(f) for f in listed}
    if not frameworks <= set(FRAMEWORKS) or options.get("secrets_all_files"):
        return lambda rel, in_chart: True  # a framework this list does not know reads any file

    def reads(rel: str, in_chart: bool) -> bool:
        name = rel[rel.rfind("/") + 1:]
        return (in_chart or name.lower().endswith(_IAC_SUFFIXES) or name in _IAC_NAMES
                or checkov_reads_name(name) or _dockerfile(root, rel, name))
    return reads


def _dockerfile(root: Path | None, rel: str, name: str) -> bool:
    from secpipe.scanners import _discovery as disc

    if disc.dockerfile_by_name(name):
        return True
    if root is None or PurePosixPath(name).suffix.lower() in disc._NOT_DOCKERFILE_EXT:
        return False
    return disc.dockerfile_by_content(disc._head(root / rel))


def normal_path(path: str | None) -> str | None:
    """A finding's path as the manifest spells it (checkov prints `/dir/file`)."""
    if not path:
        return None
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def root_config_files(files: Mapping[str, str]) -> list[str]:
    """Dotfiles at the root (`.hadolint.yaml`, `.checkov.yaml`, `.trivyignore`...): tools read
    them as configuration, so they are part of every key and of every mirror."""
    return sorted(rel for rel in files if "/" not in rel and rel.startswith("."))


def build_mirror(root: Path, dest: Path, files: Mapping[str, str], kind: str,
                 changed: set[str]) -> int:
    """Copy the files of the changed units (and the root's config files) under dest; returns
    how many were copied."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    charts = chart_roots(files) if kind == "dir" else set()
    config = set(root_config_files(files))
    copied = 0
    for rel in files:
        if unit_of(rel, kind, charts) in changed or rel in config:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, target)
            copied += 1
    return copied


def history_state(root: Path, git_root: Path) -> str | None:
    """A digest of every ref, HEAD and the scanned subfolder: unchanged means the same commits.

    None when git cannot say (then the tool is not cached)."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                 timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.decode("utf-8", "surrogateescape") if out.returncode == 0 else None

    refs = git("for-each-ref", "--format=%(objectname) %(refname)")
    head = git("rev-parse", "HEAD")
    prefix = git("rev-parse", "--show-prefix")
    if refs is None or head is None or prefix is None:
        return None
    branch = git("symbolic-ref", "-q", "HEAD") or "detached"
    blob = "\n".join([head.strip(), branch.strip(), prefix.strip(), refs])
    return hashlib.sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()
