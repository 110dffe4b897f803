"""The hint scanner (scancache.hintscan.Scanner) finds exactly what a plain search finds: for each
hint, the first place in the text where a value of its length, starting and ending as the hint
says, has the hint's digest. Many hints share a prefix (every AWS key starts "AKIA"), which is
the case the scanner's index by length and suffix is for."""

from __future__ import annotations

import hashlib

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from secpipe.scancache import hints, hintscan

ALPHABET = "AKIab01 \"\n"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _plain(text: str, hint_list: list[tuple[str, str, int, str]]) -> dict[str, tuple[int, int, str]]:
    """Every hint tried at every position: the reference, quadratic and obviously right."""
    found: dict[str, tuple[int, int, str]] = {}
    for prefix, suffix, length, want in hint_list:
        for start in range(len(text) - length + 1):
            value = text[start:start + length]
            if value.startswith(prefix) and value.endswith(suffix) and _sha(value) == want:
                if want not in found or start < found[want][0]:
                    found[want] = (start, length, value)
                break
    return found


@st.composite
def _case(draw) -> tuple[str, list[tuple[str, str, int, str]]]:
    text = draw(st.text(alphabet=ALPHABET, min_size=0, max_size=300))
    values = []
    for _ in range(draw(st.integers(0, 12))):
        if len(text) >= hints.MIN_HINTED and draw(st.booleans()):
            length = draw(st.integers(hints.MIN_HINTED, min(len(text), 40)))
            start = draw(st.integers(0, len(text) - length))
            values.append(text[start:start + length])     # a value the text holds
        else:
            values.append("AKIA" + draw(st.text(alphabet=ALPHABET, min_size=12, max_size=30)))
    hint_list = [(h[0], h[1], h[2], h[3]) for h in hints.make_hints(values, _sha)]
    return text, hint_list


@settings(max_examples=300, deadline=None)
@given(_case(), st.sampled_from(["aho-corasick", "regex"]), st.sampled_from([5, 16, 1 << 20]))
def test_the_scanner_finds_what_a_plain_search_finds(case, engine, window) -> None:
    """Both engines, and the automaton's windows small enough for values to cross them."""
    text, hint_list = case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hintscan, "WINDOW", window)
        if engine == "regex":
            mp.setattr(hintscan, "_prefix_automaton", lambda prefixes: None)
        scanner = hintscan.Scanner(hint_list)
        if hint_list:
            assert (scanner._automaton is None) == (engine == "regex")
        assert scanner.find(text, _sha) == _plain(text, hint_list)


def test_thousands_of_keys_with_one_prefix_are_each_found_once() -> None:
    values = [f"AKIA{i:016d}" for i in range(3000)]
    text = "\n".join(f'"key": "{v}"' for v in values[::3])   # a third of them present
    found = hintscan.Scanner(hints.make_hints(values, _sha)).find(text, _sha)
    assert sorted(v for _s, _n, v in found.values()) == sorted(values[::3])


def test_a_damaged_hint_is_ignored_not_an_error() -> None:
    good = hints.make_hints(["AKIA" + "Z" * 16], _sha)[0]
    damaged = [("AK", "ZZZZ", 20, "x"), ("AKIA", "Z", 20, "y"), ("AKIA", "ZZZZ", 3, "z")]
    scanner = hintscan.Scanner([tuple(good), *damaged])
    found = scanner.find("AKIA" + "Z" * 16, _sha)
    assert list(found) == [good[3]]
