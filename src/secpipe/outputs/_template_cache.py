"""report.html's compiled template, kept between runs.

Compiling report.html.j2 costs ~70 ms of CPU on every `secpipe run` (a tenth of a run whose
tools report nothing), the same work each time. Jinja's file bytecode cache keeps the compiled
template under secpipe's cache dir; Jinja checks the template source's checksum on load, and
the folder is named after the Jinja and Python versions and our environment's options, so a
changed template, Jinja or option compiles afresh. A cache is never a reason for a run to fail:
a folder that cannot be created or written costs the compile, nothing else.
"""

from __future__ import annotations

import hashlib
import os
import sys

import jinja2
from jinja2.bccache import Bucket, FileSystemBytecodeCache

from secpipe.paths import cache_dir


class _QuietCache(FileSystemBytecodeCache):
    """A cache write that fails (disk full, read-only home) leaves the run as it was."""

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass  # a cache miss next time: the template compiles again, output unchanged


def template_cache(options: dict) -> FileSystemBytecodeCache | None:
    """The bytecode cache for an Environment built with `options` (None: caching impossible,
    or turned off by SECPIPE_NO_TEMPLATE_CACHE=1)."""
    if os.environ.get("SECPIPE_NO_TEMPLATE_CACHE", "").strip() not in ("", "0"):
        return None
    tag = hashlib.sha256(repr(sorted((k, _stable(v)) for k, v in options.items())).encode()
                         ).hexdigest()[:12]
    folder = (cache_dir() / "templates"
              / f"jinja2-{jinja2.__version__}-py{sys.version_info[0]}{sys.version_info[1]}-{tag}")
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None  # no cache: every run compiles, as without one
    return _QuietCache(str(folder))


def _stable(value: object) -> str:
    """An option as the same text in every process (a function's repr holds its address)."""
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"
    return repr(value)


__all__ = ["template_cache"]
