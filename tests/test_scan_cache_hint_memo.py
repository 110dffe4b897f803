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
from secpipe.scancache import hints, store


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
    hints._Scanner({tuple(h) for h in hinted}).recover(plain, texts, _sha)
    expected = set(plain.values)
    assert expected >= set(present) & set(wanted)
    # the first time searched (answers kept), then from the kept answers, either order
    assert _recovered(texts, hinted, texts_first) == expected
    assert _recovered(texts, hinted, not texts_first) == expected


def test_a_text_seen_again_is_searched_only_for_new_hints(cache, monkeypatch) -> None:
    text = _text(random.Random(1), [VALUES[0], VALUES[2]])
    searched: list[set] = []
    find = hints._Scanner.find

    def counting(self, text, digest, seen=None):
        searched.append({d for lengths in self.by_prefix.values()
                         for suffixes in lengths.values() for ds in suffixes.values()
                         for d in ds})
        return find(self, text, digest, seen)

    monkeypatch.setattr(hints._Scanner, "find", counting)
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
