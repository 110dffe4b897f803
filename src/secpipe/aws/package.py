"""`secpipe aws package-lambda`: the normaliser Lambda's deployable zip.

secpipe plus its runtime dependencies, installed with `pip install --target` for the Lambda's
platform (manylinux wheels for its Python and architecture, never this machine's), minus boto3
and its own dependencies (the Lambda runtime ships them), minus what only costs bytes: caches,
tests and console scripts. The zip is written in a fixed order with fixed timestamps, so the
same inputs give the same bytes (CloudFormation then sees no change to deploy).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

# What the Lambda runtime already has (boto3 and what it pulls in).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3",
                    "dateutil", "python_dateutil", "six")
_PRUNE_DIRS = ("__pycache__", "tests", "test", "bin")
_PRUNE_SUFFIXES = (".pyc", ".pyo", ".pyi")
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


class PackageError(Exception):
    """The zip could not be built; the message says which step failed and why."""


@dataclass
class Package:
    path: Path
    size: int
    files: int
    python: str
    arch: str


def source_tree() -> Path | None:
    """The checkout secpipe runs from, when it is one (an editable or source install)."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "secpipe").is_dir() \
        else None


def _pip(args: list[str], what: str) -> None:
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise PackageError(f"{what} failed (pip exit {done.returncode}):\n{tail}")


def _prune(target: Path) -> None:
    for top in target.iterdir():
        name = top.name.lower()
        if any(name == p or name.startswith(p + "-") or name.startswith(p + ".")
               for p in RUNTIME_PROVIDED):
            shutil.rmtree(top, ignore_errors=True) if top.is_dir() else top.unlink()
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _PRUNE_DIRS:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in _PRUNE_SUFFIXES:
            path.unlink()


def _zip(target: Path, out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    count = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(target).as_posix(), _FIXED_TIME)
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
            count += 1
    tmp.replace(out)
    return count


def package_lambda(out: Path, *, python: str = "3.12", arch: str = "x86_64",
                   source: str | None = None) -> Package:
    """Build the zip at `out`. `source`: a path to secpipe's source tree or a pip requirement
    (default: this checkout, else `secpipe==<installed version>`)."""
    from secpipe import __version__

    if arch not in ("x86_64", "arm64"):
        raise PackageError(f"unknown architecture {arch!r}; use x86_64 or arm64")
    platform = "manylinux2014_x86_64" if arch == "x86_64" else "manylinux2014_aarch64"
    with tempfile.TemporaryDirectory(prefix="secpipe-lambda-") as tmp:
        work = Path(tmp)
        spec = source or (str(source_tree()) if source_tree() else f"secpipe=={__version__}")
        if Path(spec).is_dir():
            _pip(["wheel", "--no-deps", "--wheel-dir", str(work / "wheel"), spec],
                 f"building secpipe's wheel from {spec}")
            wheels = sorted((work / "wheel").glob("secpipe-*.whl"))
            if not wheels:
                raise PackageError(f"no secpipe wheel was built from {spec}")
            spec = str(wheels[0])
        target = work / "package"
        _pip(["install", "--target", str(target), "--platform", platform,
              "--implementation", "cp", "--python-version", python, "--only-binary=:all:",
              "--no-compile", spec],
             f"installing {spec} and its dependencies for Python {python} on {platform}")
        _prune(target)
        files = _zip(target, out)
    return Package(path=out, size=out.stat().st_size, files=files, python=python, arch=arch)
