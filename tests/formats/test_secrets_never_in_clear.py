"""No clear secret value from a secrets report may reach a Finding or its ASFF form.

Every secrets fixture (shared and own) is parsed; the clear values are taken from the raw
report fields known to hold them (git-secrets' matched line, stringsFound, Raw/RawV2/Redacted,
secret/context, Secret/Match/offender/line) and searched for in each finding's ASFF JSON and
repr. Values shorter than 8 characters and "REDACTED" are skipped, and so is a bare PEM armour
line (`-----BEGIN RSA PRIVATE KEY-----`): it holds no key material, and the masked form keeps it
on purpose to name the kind of key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from secpipe.formats import get_format
from secpipe.model import to_asff
from tests.asserts import CTX
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES

_ARMOUR = re.compile(r"^-----(BEGIN|END) [A-Z0-9 ]+-----$")
_GIT_SECRETS_LINE = re.compile(r"^(?:[0-9a-f]{40}:)?.+?:\d+:(.*)$")
_TOKEN = re.compile(r"[A-Za-z0-9/+=]{16,}")


def _git_secrets(data: bytes) -> Iterator[str]:
    for line in data.decode().splitlines():
        if line.startswith(("[ERROR]", "Possible mitigations:", "- ")):
            continue
        m = _GIT_SECRETS_LINE.match(line)
        if m:
            yield m.group(1)
            yield from _TOKEN.findall(m.group(1))  # the key itself, not only its whole line


def _b64(value: str) -> Iterator[str]:
    try:
        yield base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return


def _trufflehog(data: bytes) -> Iterator[str]:
    for line in data.decode().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        yield from row.get("stringsFound") or []
        for key in ("Raw", "RawV2", "Redacted"):
            if row.get(key):
                yield row[key]
                yield from _b64(row[key])


def _trufflehog3(data: bytes) -> Iterator[str]:
    for item in json.loads(data):
        yield from item.get("stringsFound") or []
        if item.get("secret"):
            yield item["secret"]
        yield from (item.get("context") or {}).values()


def _gitleaks(data: bytes) -> Iterator[str]:
    for leak in json.loads(data):
        for key in ("Secret", "Match", "offender", "line"):
            if isinstance(leak.get(key), str):
                yield leak[key]


def _kingfisher(data: bytes) -> Iterator[str]:
    for item in json.loads(data)["findings"]:
        yield item["finding"]["snippet"]
        yield from (item["finding"].get("dependent_captures") or {}).values()


def _none(data: bytes) -> Iterator[str]:
    return iter(())  # detect-secrets reports only SHA-1 digests


EXTRACTORS: dict[str, Callable[[bytes], Iterator[str]]] = {
    "git-secrets": _git_secrets,
    "detect-secrets": _none,
    "trufflehog": _trufflehog,
    "trufflehog3": _trufflehog3,
    "gitleaks": _gitleaks,
    "kingfisher": _kingfisher,
}
FOLDERS = {  # format -> fixture folders (shared ones are named as DefectDojo names them)
    "git-secrets": [OWN_FIXTURES / "git-secrets"],
    "detect-secrets": [SHARED_FIXTURES / "detect_secrets", OWN_FIXTURES / "detect-secrets"],
    "trufflehog": [SHARED_FIXTURES / "trufflehog"],
    "trufflehog3": [SHARED_FIXTURES / "trufflehog3", OWN_FIXTURES / "trufflehog3"],
    "gitleaks": [SHARED_FIXTURES / "gitleaks"],
    "kingfisher": [OWN_FIXTURES / "kingfisher"],
}
CASES = [
    pytest.param(fmt, path, id=f"{fmt}:{path.parent.parent.name}/{path.name}")
    for fmt, folders in FOLDERS.items()
    for folder in folders if folder.is_dir()
    for path in sorted(folder.iterdir()) if path.is_file()
]


def clear_values(raw: list[Any]) -> set[str]:
    """Each value, stripped, without a diff marker, and line by line; minus the exempt ones."""
    out: set[str] = set()
    for value in raw:
        if not isinstance(value, str):
            continue
        forms = {value, value.strip()}
        forms |= {v[1:].strip() for v in list(forms) if v[:1] in "+-" and not v.startswith("-----")}
        forms |= {ln.strip() for v in list(forms) for ln in v.splitlines()}
        out |= {v for v in forms if len(v) >= 8 and v != "REDACTED" and not _ARMOUR.match(v)}
    return out


@pytest.mark.parametrize("fmt,path", CASES)
def test_no_clear_secret_in_findings(fmt: str, path: Path) -> None:
    data = path.read_bytes()
    findings = get_format(fmt).parse(data, path.name)
    assert findings, f"{path.name}: every secrets fixture holds at least one secret"
    values = clear_values(list(EXTRACTORS[fmt](data)))
    if fmt != "detect-secrets":
        assert values, f"{path.name}: the extractor found no clear value to look for"
    for finding in findings:
        blob = json.dumps(to_asff(finding, CTX), ensure_ascii=False) + repr(finding)
        for value in values:
            escaped = json.dumps(value, ensure_ascii=False)[1:-1]
            assert value not in blob and escaped not in blob, (
                f"{path.name}: a clear value ({len(value)} chars) leaked into {finding.rule_id}"
            )


def test_every_secrets_fixture_folder_is_covered() -> None:
    own = {p.name for p in OWN_FIXTURES.iterdir() if p.is_dir()}
    assert {"git-secrets", "detect-secrets", "trufflehog3"} <= own
    assert len(CASES) >= 6
