"""A tool's whole cache entry as JSON lines (scancache/lines.py): every Finding field comes back
as written (derived titles and descriptions still derived), and an entry cut short or
damaged anywhere is a miss, never fewer findings."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from secpipe.formats._secrets import secret_finding
from secpipe.model import Finding, Secret, SecretCollector, Severity, collecting, slots
from secpipe.model.derived import DerivedText
from secpipe.scancache import lines, store
from tests.test_scan_cache_finding_json import _cached

HEAD = {"hints": [["AKIA", "WXYZ", 20, "ab" * 32]], "reports_ref": "cd" * 32,
        "artifacts": [], "exit_code": 1, "command": ["tool", "--json"], "stderr": "",
        "notes": ["n"], "format": "trufflehog3"}
KEY = "ef" * 32
CLEAR = "AKIAZ7QW3ERT5YUI8OPX"


def _secret_findings(n: int) -> list[Finding]:
    with collecting(SecretCollector()):
        return [secret_finding(tool="trufflehog3", rule_id="aws", kind="AWS API Key",
                               path=f"src/f{i}.js", line=i or None,
                               secret=Secret.from_value(CLEAR[:-2] + f"{i:02d}"),
                               properties={"commit": f"{i:040x}"} if i % 2 else None,
                               note="(history)" if i % 3 else "")
                for i in range(n)]


def _same(got: list[Finding], want: list[Finding]) -> None:
    assert got == want
    assert [repr(f) for f in got] == [repr(f) for f in want]
    assert [pickle.loads(pickle.dumps(f)) for f in got] == want
    assert [f.fingerprint() for f in got] == [f.fingerprint() for f in want]
    assert [store.finding_to_json(f) for f in got] == [store.finding_to_json(f) for f in want]
    for g, w in zip(got, want):
        for held in (slots.HELD_TITLE, slots.HELD_DESCRIPTION):
            assert isinstance(held(g), DerivedText) == isinstance(held(w), DerivedText)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / "c"))
    return tmp_path / "c"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.lists(_cached, max_size=6), st.integers(0, 4))
def test_every_field_comes_back(dicts: list[dict], secrets: int) -> None:
    findings = [store.finding_from_json(d) for d in dicts] + _secret_findings(secrets)
    lines.write("t", KEY, HEAD, iter(findings))
    head, got = lines.read("t", KEY)
    assert head == {"schema": store.SCHEMA, **HEAD}
    _same(got, findings)


def test_derived_texts_are_written_once_and_shared_again() -> None:
    findings = _secret_findings(30)
    lines.write("t", KEY, HEAD, findings)
    text = lines.path("t", KEY).read_text()
    assert text.count('"secpipe.formats._secrets"') == 2   # two notes: two SecretTexts
    _, got = lines.read("t", KEY)
    _same(got, findings)
    assert len({id(slots.HELD_TITLE(f)) for f in got}) == 2
    assert len({id(f.remediation) for f in got}) == 1 and len({id(f.cwe) for f in got}) == 1


class _Counted(DerivedText):
    """A derived text whose state is not all texts: written out as its text."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def render(self, finding: Finding, field: str) -> str:
        return f"{field} {self.n} {finding.rule_id}"


def test_a_derived_text_not_made_of_texts_is_written_out() -> None:
    odd = [Finding(tool="t", rule_id=f"r{i}", title=_Counted(i), description=_Counted(i),
                   severity=Severity.LOW) for i in range(2)]
    secrets = _secret_findings(4)
    findings = [odd[0], secrets[0], odd[1], *secrets[1:]]
    lines.write("t", KEY, HEAD, findings)
    _, got = lines.read("t", KEY)
    assert got == findings
    assert [type(slots.HELD_TITLE(f)).__name__ for f in got] == [
        "str", "SecretText", "str", "SecretText", "SecretText", "SecretText"]
    assert [f.description for f in got] == [f.description for f in findings]


def test_no_value_in_clear() -> None:
    findings = _secret_findings(5)
    lines.write("t", KEY, HEAD, findings)
    assert CLEAR[:-2].encode() not in lines.path("t", KEY).read_bytes()


def test_cut_short_or_damaged_is_a_miss() -> None:
    findings = _secret_findings(4) + [Finding(tool="t", rule_id="r", title="x",
                                              severity=Severity.LOW)]
    lines.write("t", KEY, HEAD, findings)
    path = lines.path("t", KEY)
    whole = path.read_bytes()
    assert lines.read("t", KEY)[1] == findings
    for end in range(len(whole)):   # cut anywhere, a line boundary included
        path.write_bytes(whole[:end])
        assert lines.read("t", KEY) is None, end
    lines_ = whole.splitlines(keepends=True)
    damaged = [
        whole + b"1\n",                                   # something after the count
        whole.replace(b"\n5\n", b"\n4\n"),                # another count
        b"".join(lines_[:2] + lines_[3:]),                 # a finding's line left out
        whole.replace(b'"severity":1', b'"severity":"x"', 1),   # a field of the wrong shape
        whole.replace(b'"schema":%d' % store.SCHEMA, b'"schema":1', 1),   # another schema
        whole.replace(b"secpipe.formats._secrets", b"secpipe.formats._nothere"),
        whole.replace(b"secpipe.formats._secrets", b"os"),
        whole.replace(b'"secpipe.formats._secrets","SecretText"',
                      b'"secpipe.model.finding","Location"'),     # not a derived text
        whole.replace(b'"kind":', b'"kin":'),                     # not its slots
        b"".join(x for x in lines_ if not x.startswith(b"[")),  # a derived text left out
        whole.replace(b'"title":0', b'"title":-1', 1),           # not a number written
    ]
    for bad in damaged:
        assert bad != whole
        path.write_bytes(bad)
        assert lines.read("t", KEY) is None, bad[-80:]


def test_an_entry_of_the_json_layout_is_not_read() -> None:
    store.write_entry("t", KEY, {**HEAD, "findings": []})
    assert lines.read("t", KEY) is None


def test_a_hit_holds_keys_masks_and_places_as_the_parse() -> None:
    """A secret finding's location key is made when read (`SecretKey`), and findings without
    a secret at one place share a Location, about one resource a Resource: a hit's findings
    hold them the same way (the same objects), with the same fields."""
    from secpipe.model import Location, Resource
    with collecting(SecretCollector()):
        hashed = [secret_finding(tool="detect-secrets", rule_id="k", kind="Key",
                                 path=f"f{i}.py", line=i + 1, key_prefix="secret-sha1:",
                                 secret=Secret.from_hash(f"{i:040x}")) for i in range(3)]
    place = Location("main.tf", 1, 3)
    plain = [Finding(tool="checkov", rule_id=f"CKV_{i}", title="t", severity=Severity.LOW,
                     location=place, location_key=f"CKV_{i}|r|main.tf",
                     resource=Resource("Other", "r", {"framework": "terraform"}))
             for i in range(3)]
    findings = _secret_findings(3) + hashed + plain
    lines.write("t", KEY, HEAD, findings)
    _, got = lines.read("t", KEY)
    _same(got, findings)
    for g, w in zip(got, findings):
        assert slots.HELD_LOCATION_KEY(g) is slots.HELD_LOCATION_KEY(w) or \
            slots.HELD_LOCATION_KEY(g) == slots.HELD_LOCATION_KEY(w)
        assert type(slots.HELD_LOCATION_KEY(g)) is type(slots.HELD_LOCATION_KEY(w))
    assert got[3].location_key.startswith("secret-sha1:")
    assert len({id(f.location) for f in got[6:]}) == 1
    assert len({id(f.resource) for f in got[6:]}) == 1
