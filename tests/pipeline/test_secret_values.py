"""The values' digests held as bytes (`pipeline.secretvalues`), matched against the findings'
digests, give the issues and related Ids the former index of hex texts gave
(tests/pipeline/former_secret_index.py), and record in the key the same SHA-1s and keyed
digests for the run's hashes' pass, only later (when the run's index is dropped)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from secpipe.formats._secrets import secret_finding
from secpipe.model import Finding, FingerprintKey, Secret, keyed
from secpipe.pipeline import correlate as corr, issues
from secpipe.pipeline.secretvalues import SecretValues
from tests.pipeline.former_secret_index import FormerSecretValues, former_secrets

VALUES = ["AKIAQ7TESTW3XKEY9ZD2", "q8Vf2LrT0wXz5mNcB7yHk3JdP9sG4aE1", "Q7TESTW3XKEY",
          "ghp_made_up_token_000000000000000000", "hunter2hunter2", "é-ünïcode-välue"]
KINDS = ["value", "sha1", "raw", "raw-upper", "digest-upper", "labelled-digest", "none"]
KEY = FingerprintKey(b"k" * 32)


def _sha1(value: str) -> str:
    return hashlib.sha1(value.encode("utf-8")).hexdigest()


def _finding(kind: str, tool: str, value: str, path: str, line: int, history: bool) -> Finding:
    """A secret finding naming `value` the way `kind` says: in clear (its HMAC), by a tool's
    SHA-1 re-keyed (detect-secrets), by a raw SHA-1 read back (either case), by an HMAC in
    upper case, by an HMAC labelled SHA-1, or not at all."""
    props: dict[str, str] = {}
    if kind == "value":
        secret: Secret | None = Secret.from_value(value)
    elif kind == "sha1":
        secret, props = Secret.from_hash(_sha1(value)), {"hash_algorithm": "sha1"}
    elif kind == "raw":
        secret = Secret.from_digest(_sha1(value))
    elif kind == "raw-upper":
        secret = Secret.from_digest(_sha1(value).upper())
    elif kind == "digest-upper":
        secret = Secret.from_digest(KEY.digest(value).upper())
    elif kind == "labelled-digest":
        secret, props = Secret.from_value(value), {"hash_algorithm": "sha1"}
    else:
        secret = None
    f = secret_finding(tool=tool, rule_id=f"rule-{tool}-{kind}", kind=kind, path=path, line=line,
                       secret=secret, properties=props)
    return replace(f, properties={**f.properties, "commit": "c0ffee"}) if history else f


_one = st.tuples(st.sampled_from(KINDS), st.sampled_from(["trufflehog3", "detect-secrets",
                                                          "kingfisher"]),
                 st.sampled_from(VALUES), st.sampled_from(["a.py", "b.py"]), st.integers(0, 3),
                 st.booleans())


def _issues(findings: list[Finding], values) -> list[tuple[str | None, tuple[str, ...]]]:
    out = corr.correlate(list(findings), id_of=lambda i, f: f"id-{i}-{f.tool}",
                         secret_values=values)
    return [(f.issue_key, f.related) for f in out]


def _former(findings, idx, uf, values) -> None:
    former_secrets(findings, idx, uf, FormerSecretValues(values.values))


@settings(max_examples=200, deadline=None)
@given(st.lists(_one, max_size=14), st.lists(st.sampled_from(VALUES), max_size=6))
def test_same_issues_and_recorded_hashes_as_the_former_index(spec, seen) -> None:
    with keyed(KEY):
        findings = [_finding(*one) for one in spec]
        tools = dict(KEY._hashes)   # what the tools' parses recorded
        got = _issues(findings, seen)   # its own index, recorded when done
        recorded = dict(KEY._hashes)
        KEY._hashes = dict(tools)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(corr, "_secrets", _former)
            want = _issues(findings, SecretValues(seen))   # the former records as it indexes
        assert got == want
        assert recorded == KEY._hashes
        KEY._hashes = dict(tools)
        FormerSecretValues(seen)
        assert recorded == KEY._hashes
        KEY.forget_hashes()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from(VALUES), max_size=4), min_size=1, max_size=3))
def test_the_runs_index_records_at_its_drop_what_the_former_recorded_stage_by_stage(stages
                                                                                    ) -> None:
    """Each stage's values (the run's only grow); once the run's index is dropped
    (`issues.forget_values`, before the hashes' pass), the key holds what the former index
    recorded as it grew, and the index is gone."""
    run: set[str] = set()
    with keyed(KEY):
        KEY.forget_hashes()
        for stage in stages:
            run |= set(stage)
            issues.secret_values(set(run))
        assert KEY._hashes == {}   # nothing yet: recorded when dropped
        issues.forget_values()
        got = dict(KEY._hashes)
        KEY.forget_hashes()
        former = FormerSecretValues()
        for n in range(len(stages)):
            former.add(set().union(*stages[:n + 1]))
        assert got == KEY._hashes
        KEY.forget_hashes()
    assert not issues._VALUES


def test_a_replaced_index_records_its_values_first() -> None:
    """A stage judged with fewer values than the index holds (or under another key) starts a
    fresh index: the former one's values are recorded in its key then."""
    with keyed(KEY):
        KEY.forget_hashes()
        issues.secret_values({VALUES[0], VALUES[1]})
        issues.secret_values({VALUES[2]})
        sha1 = _sha1(VALUES[0]).encode()
        assert KEY._hashes[sha1] == KEY.rekey("sha1", _sha1(VALUES[0])).encode()
        issues.forget_values()
        assert _sha1(VALUES[2]).encode() in KEY._hashes
        KEY.forget_hashes()


def test_digests_as_bytes_spell_the_hex_digests() -> None:
    with keyed(KEY):
        index = SecretValues(VALUES + VALUES[:2])
        assert index.values == VALUES   # each once, in the order first added
        for value in VALUES:
            assert index.digests_of(value) == (
                Secret.from_value(value).sha256, KEY.rekey("sha1", _sha1(value)), _sha1(value))
