"""Fixtures for the baseline engine's tests: the two test apps, over HTTP and HTTPS, scanned once."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

from secpipe.engines.baseline import BaselineResult, run_baseline
from tests.engines.targets import Site, make_cert, serve


@pytest.fixture(scope="session")
def defect_site() -> Iterator[Site]:
    with serve("defect") as site:
        yield site


@pytest.fixture(scope="session")
def clean_site() -> Iterator[Site]:
    with serve("clean") as site:
        yield site


@pytest.fixture(scope="session")
def scan(tls_files_lazy) -> Callable[..., BaselineResult]:
    """scan(app, scheme) -> the default baseline scan of `app` ("defect"/"clean"), run once."""
    cache: dict[tuple[str, str], BaselineResult] = {}

    def get(kind: str, scheme: str = "http") -> BaselineResult:
        if (kind, scheme) not in cache:
            with serve(kind, tls=tls_files_lazy() if scheme == "https" else None) as site:
                result = run_baseline(site.url, max_seconds=30)
            assert result.error is None, result.error
            cache[(kind, scheme)] = result
        return cache[(kind, scheme)]

    return get


@pytest.fixture(scope="session")
def tls_files_lazy(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], tuple[Path, Path]]:
    made: list[tuple[Path, Path]] = []

    def get() -> tuple[Path, Path]:
        if not made:
            if shutil.which("openssl") is None:
                pytest.skip("openssl is needed to make a self-signed certificate for HTTPS")
            made.append(make_cert(tmp_path_factory.mktemp("tls")))
        return made[0]

    return get

