"""A big text's hint searches are kept per text (scancache.hints._memo): the values recovered
are the ones a plain search recovers, in whichever order texts and hints arrive, and a text
seen again is searched only for the hints it has no answer for."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secpipe.model import SecretCollector
from secpipe.scancache import hints, hintscan, store


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


VALUES = ["AKIAZ7QW3ERT5YUI8OPA", "AKIAZ7QW3ERT5YUI8OPB", "ghp_" + "x1y2" * 9,
          "s3cr3t-" + "é" * 12 + "-tail", "AKIAZ7QW3ERT5YUI8OPAAKIAZ7QW3ERT"]


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SECPIPE_NO_CACHE", raising=False)
    monkeypatch.setattr(hints, "MEMO_MIN", 64)   # every text below is "big"
    return tmp_path / "cache"


def _text(rng: random.Random, present: list[str]) -> bytes:
    parts = [f"noise {rng.random()} AKIA{rng.randrange(10**6)} " for _ in range(20)]
    for value in present:
        parts.insert(rng.randrange(len(parts) + 1), f' "{value}" ')
    return "".join(parts).encode()


def _recovered(texts: list[bytes], hinted: list[list], texts_first: bool) -> set[str]:
    collector = SecretCollector()
    if texts_first:
        hints.add_texts(collector, texts, _sha)
        hints.add_hints(collector, hinted, _sha)
    else:
        hints.add_hints(collector, hinted, _sha)
        hints.add_texts(collector, texts, _sha)
    return set(collector.values)


# one cache for every example: answers kept by earlier examples are read back by later ones
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), present=st.lists(st.sampled_from(VALUES), max_size=4),
       wanted=st.lists(st.sampled_from(VALUES), min_size=1, max_size=5),
       texts_first=st.booleans())
def test_kept_answers_recover_what_a_search_recovers(cache, seed, present, wanted,
                                                     texts_first) -> None:
    rng = random.Random(seed)
    texts = [_text(rng, present), _text(rng, present[:1])]
    hinted = hints.make_hints(set(wanted), _sha)
    plain = SecretCollector()        # a plain search, nothing kept
    hintscan.Scanner({tuple(h) for h in hinted}).recover(plain, texts, _sha)
    expected = set(plain.values)
    assert expected >= set(present) & set(wanted)
    # the first time searched (answers kept), then from the kept answers, either order
    assert _recovered(texts, hinted, texts_first) == expected
    assert _recovered(texts, hinted, not texts_first) == expected


def _searches(monkeypatch) -> list[set]:
    """The digests each search of a text looked for, in order, from now on."""
    searched: list[set] = []
    find = hintscan.Scanner._find

    def counting(self, pieces, digest, seen):
        searched.append(self.digests())
        return find(self, pieces, digest, seen)

    monkeypatch.setattr(hintscan.Scanner, "_find", counting)
    return searched


def test_a_text_seen_again_is_searched_only_for_new_hints(cache, monkeypatch) -> None:
    text = _text(random.Random(1), [VALUES[0], VALUES[2]])
    searched = _searches(monkeypatch)
    assert _recovered([text], hints.make_hints({VALUES[0], VALUES[1]}, _sha), True) == {VALUES[0]}
    assert searched == [{_sha(VALUES[0]), _sha(VALUES[1])}]
    assert _recovered([text], hints.make_hints({VALUES[0], VALUES[1]}, _sha), True) == {VALUES[0]}
    assert len(searched) == 1                                    # answered from the memo
    got = _recovered([text], hints.make_hints({VALUES[0], VALUES[2]}, _sha), False)
    assert got == {VALUES[0], VALUES[2]} and searched[1:] == [{_sha(VALUES[2])}]
    kept = store.read_entry(hints._MEMO_TOOL, hashlib.sha256(text).hexdigest())
    assert kept is not None and VALUES[0] not in json.dumps(kept)   # positions, never values


def test_a_damaged_answer_is_searched_again(cache) -> None:
    text = _text(random.Random(2), [VALUES[0]])
    hinted = hints.make_hints({VALUES[0]}, _sha)
    assert _recovered([text], hinted, True) == {VALUES[0]}
    key = hashlib.sha256(text).hexdigest()
    store.write_entry(hints._MEMO_TOOL, key, {"found": {_sha(VALUES[0]): [0, 20]}})
    assert _recovered([text], hinted, True) == {VALUES[0]}
    found = store.read_entry(hints._MEMO_TOOL, key)["found"]
    assert text.decode()[found[_sha(VALUES[0])][0]:].startswith(VALUES[0])


def test_nothing_is_kept_with_the_cache_off(cache, monkeypatch) -> None:
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", "off")
    text = _text(random.Random(3), [VALUES[0]])
    assert _recovered([text], hints.make_hints({VALUES[0]}, _sha), True) == {VALUES[0]}
    assert not cache.exists()


def test_answers_not_in_the_text_are_kept_as_one_string_of_digests(cache, monkeypatch) -> None:
    text = _text(random.Random(4), [VALUES[0]])
    hinted = hints.make_hints({VALUES[0], VALUES[1], VALUES[2]}, _sha)
    assert _recovered([text], hinted, True) == {VALUES[0]}
    kept = store.read_entry(hints._MEMO_TOOL, hashlib.sha256(text).hexdigest())
    assert set(kept["found"]) == {_sha(VALUES[0])}
    none = kept["none"]
    assert len(none) == 128 and {none[:64], none[64:]} == {_sha(VALUES[1]), _sha(VALUES[2])}
    searched = _searches(monkeypatch)
    assert _recovered([text], hinted, False) == {VALUES[0]} and searched == []


def test_an_older_entry_with_none_answers_reads_the_same(cache, monkeypatch) -> None:
    """Written by a secpipe before `none`: its None answers are "not in it", not searched
    again, and the entry is kept in the new form once another hint is answered."""
    text = _text(random.Random(5), [VALUES[0]])
    key = hashlib.sha256(text).hexdigest()
    start = text.decode().index(VALUES[0])
    store.write_entry(hints._MEMO_TOOL, key, {"found": {
        _sha(VALUES[0]): [start, len(VALUES[0])], _sha(VALUES[1]): None}})
    searched = _searches(monkeypatch)
    assert _recovered([text], hints.make_hints({VALUES[0], VALUES[1]}, _sha), True) \
        == {VALUES[0]}
    assert searched == []
    assert _recovered([text], hints.make_hints({VALUES[1], VALUES[2]}, _sha), True) == set()
    assert searched == [{_sha(VALUES[2])}]
    kept = store.read_entry(hints._MEMO_TOOL, key)
    assert kept["found"] == {_sha(VALUES[0]): [start, len(VALUES[0])]}
    assert sorted([kept["none"][:64], kept["none"][64:]]) == sorted([_sha(VALUES[1]),
                                                                     _sha(VALUES[2])])


def test_a_damaged_none_is_searched_again(cache, monkeypatch) -> None:
    text = _text(random.Random(6), [VALUES[0]])
    key = hashlib.sha256(text).hexdigest()
    store.write_entry(hints._MEMO_TOOL, key, {"found": {}, "none": _sha(VALUES[0]) + "x"})
    searched = _searches(monkeypatch)
    assert _recovered([text], hints.make_hints({VALUES[0]}, _sha), True) == {VALUES[0]}
    assert searched == [{_sha(VALUES[0])}]


@pytest.mark.parametrize("where", [[2**64, 20], [0, 2**70], [1.5, 20]])
def test_a_position_beyond_64_bits_is_a_damaged_answer(cache, monkeypatch, where) -> None:
    """The answers are read by orjson alone, which reads such an integer as a float: the
    answer is searched again, as json's integer (past the text's end) was."""
    text = _text(random.Random(7), [VALUES[0]])
    key = hashlib.sha256(text).hexdigest()
    entry = json.dumps({"schema": store.SCHEMA, "found": {_sha(VALUES[0]): where}})
    path = store._entry_path(hints._MEMO_TOOL, key, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(entry)
    searched = _searches(monkeypatch)
    assert _recovered([text], hints.make_hints({VALUES[0]}, _sha), True) == {VALUES[0]}
    assert searched == [{_sha(VALUES[0])}]
