"""Scrubbing raw reports in one pass: same result as replacing value after value, longest first."""

from __future__ import annotations

import importlib.util
import json
import random
import string

import pytest
from hypothesis import assume, given, settings, strategies as st

from secpipe.model import Secret, SecretCollector, collecting, mask
from secpipe.model.scrubber import Scrubber


def _reference(values: set[str], data: bytes) -> bytes:
    """The former implementation: each value, longest first, three forms each."""
    for value in sorted(values, key=len, reverse=True):
        masked = mask(value)
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        escaped_ascii = json.dumps(value)[1:-1]
        for form, replacement in ((escaped, json.dumps(masked, ensure_ascii=False)[1:-1]),
                                  (escaped_ascii, json.dumps(masked)[1:-1]),
                                  (value, masked)):
            data = data.replace(form.encode(), replacement.encode())
    return data


def _collector(values: list[str]) -> SecretCollector:
    collector = SecretCollector()
    with collecting(collector):
        for value in values:
            Secret.from_value(value)
    return collector


def _mixed_report(collector: SecretCollector, pieces: list[tuple[int, str]]) -> bytes:
    """The collector's kept values, each after its filler, in clear and JSON-escaped forms
    by turns (hypothesis discards a case where no value was kept: nothing to search)."""
    present = sorted(collector.values)
    assume(present)   # values Secret.from_value does not keep (e.g. '00000 ') leave nothing
    return "".join(filler + (json.dumps(present[i % len(present)])[1:-1] if i % 2 else
                             present[i % len(present)]) for i, filler in pieces).encode()


_value = st.text(alphabet=string.ascii_letters + string.digits + '"\\/ é\n-', min_size=6,
                 max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(_value, min_size=1, max_size=8, unique=True), st.lists(st.integers(0, 7)),
       st.text(alphabet="ab \"\\\n", max_size=10))
def test_one_pass_equals_value_by_value_on_distinct_tokens(values, picks, filler) -> None:
    collector = _collector(values)
    present = sorted(collector.values)
    assume(present)   # values Secret.from_value does not keep (e.g. '00000 ') leave nothing
    doc = {"items": [{"secret": present[i % len(present)], "ctx": filler +
                      present[i % len(present)] + filler} for i in picks]}
    data = json.dumps(doc).encode() + b"\n" + json.dumps(doc, ensure_ascii=False).encode()
    data += b"\nlog: " + "|".join(present).encode()
    out = collector.scrub(data)
    for value in present:
        # no value survives, whatever form it took
        assert value.encode() not in out
        assert json.dumps(value)[1:-1].encode() not in out
    json.loads(out.split(b"\n")[0])  # still valid JSON


def test_same_output_as_value_by_value_for_typical_secrets() -> None:
    rng = random.Random(7)
    values = ["AKIA" + "".join(rng.choice(string.ascii_uppercase) for _ in range(16))
              for _ in range(200)]
    values += ['secret_access_key = "' + "".join(rng.choice(string.ascii_letters)
                                                 for _ in range(40)) + '"' for _ in range(50)]
    collector = _collector(values)
    lines = [json.dumps({"secret": v, "context": {"3": f"x{v}y"}}) for v in values]
    data = ("[" + ",\n".join(lines) + "]\nplain " + " ".join(values)).encode()
    out = collector.scrub(data)
    assert out == _reference(collector.values, data)
    assert len(json.loads(out[:out.index(b"]\nplain") + 1])) == len(values)


def test_longest_value_wins_where_values_overlap() -> None:
    collector = _collector(["ABCDEFGHIJ", "ABCDEFGHIJKLMNOPQRST", "KLMNOPQRSTUV"])
    data = b"k=ABCDEFGHIJKLMNOPQRSTUV;j=ABCDEFGHIJ;"
    out = collector.scrub(data)
    assert out == _reference(collector.values, data)
    assert b"ABCDEFGHIJ" not in out


def test_private_key_lines_scrubbed_one_by_one() -> None:
    block = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx7abcdef\n"
             "abcdefghijklmnopqrstu\n-----END RSA PRIVATE KEY-----")
    collector = _collector([block])
    out = collector.scrub(b"line 2: MIIEpAIBAAKCAQEAx7abcdef\nline 3: abcdefghijklmnopqrstu\n"
                          + json.dumps({"k": block}).encode())
    assert b"abcdefghijklmnopqrstu" not in out and b"MIIEpAIBAAKCAQEAx7abcdef" not in out
    json.loads(out.split(b"\n", 2)[2])


def test_values_added_after_a_scrub_are_scrubbed_too() -> None:
    collector = _collector(["FIRSTSECRET123"])
    assert b"FIRSTSECRET123" not in collector.scrub(b"FIRSTSECRET123")
    with collecting(collector):
        Secret.from_value("SECONDSECRET456")
    assert collector.scrub(b"FIRSTSECRET123 SECONDSECRET456").count(b"\xe2\x80\xa6") == 2


def test_deeply_nested_prefixes_compile() -> None:
    # each value extends the previous one: the trie nests thousands deep, the regex must not
    words = {("a" * n).encode(): b"X" for n in range(6, 3000)}
    scrubber = Scrubber(words, engine="regex")
    assert scrubber.scrub(b"-" + b"a" * 2999 + b"-") == b"-X-"
    assert scrubber.scrub(b"aaaaaaa b") == b"X b"


def test_non_ascii_values_in_both_json_encodings() -> None:
    value = "pässwörd-secret-é…"
    collector = _collector([value])
    data = (json.dumps({"s": value}) + json.dumps({"s": value}, ensure_ascii=False)).encode()
    out = collector.scrub(data)
    assert out == _reference(collector.values, data)
    assert "pässwörd".encode() not in out and b"p\\u00e4ssw" not in out


def _random_case(rng: random.Random) -> tuple[dict[bytes, bytes], bytes]:
    alphabet = "abAB01\"\\ é"
    words = {"".join(rng.choice(alphabet) for _ in range(rng.randint(2, 9))).encode(): b"<%d>" % i
             for i in range(rng.randint(1, 30))}
    pool = list(words) + [b"a", b"b", b" ", b"\\"]
    data = b"".join(rng.choice(pool) for _ in range(rng.randint(0, 200)))
    return words, data


@pytest.mark.skipif(importlib.util.find_spec("ahocorasick") is None,
                    reason="pyahocorasick is not installed: only the regex engine runs")
def test_both_engines_give_the_same_leftmost_longest_result() -> None:
    rng = random.Random(15)
    for _ in range(2000):
        words, data = _random_case(rng)
        regex = Scrubber(words, engine="regex")
        automaton = Scrubber(words, engine="aho-corasick")
        assert regex.engine == "regex" and automaton.engine == "aho-corasick"
        assert regex.scrub(data) == automaton.scrub(data), (words, data)


def test_regex_engine_matches_a_naive_leftmost_longest_scan() -> None:
    rng = random.Random(16)
    for _ in range(1000):
        words, data = _random_case(rng)
        expected, i = [], 0
        longest_first = sorted(words, key=len, reverse=True)
        while i < len(data):
            hit = next((w for w in longest_first if data.startswith(w, i)), None)
            if hit is None:
                expected.append(data[i:i + 1])
                i += 1
            else:
                expected.append(words[hit])
                i += len(hit)
        assert Scrubber(words, engine="regex").scrub(data) == b"".join(expected), (words, data)


def test_pathological_overlaps_still_scrub_in_bounded_work() -> None:
    # thousands of nested values over one long run: the automaton sees a match per value and
    # position, gives up after a budget, and the regex finishes the job
    words = {("a" * n).encode(): b"X" for n in range(6, 400)}
    assert Scrubber(words).scrub(b"[" + b"a" * 20_000 + b"]") == b"[" + b"X" * 51 + b"]"


def _table_by_dumps(values) -> dict[bytes, bytes]:
    """The replacement table as it was built before the plain-ASCII shortcut."""
    table: dict[bytes, bytes] = {}
    for value in values:
        masked = mask(value)
        for form, replacement in (
                (json.dumps(value, ensure_ascii=False)[1:-1],
                 json.dumps(masked, ensure_ascii=False)[1:-1]),
                (json.dumps(value)[1:-1], json.dumps(masked)[1:-1]),
                (value, masked)):
            table.setdefault(form.encode("utf-8"), replacement.encode("utf-8"))
    return table


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_value, st.text(min_size=6, max_size=40)), max_size=12))
def test_replacement_table_shortcut_equals_the_three_json_forms(values) -> None:
    from secpipe.model.secret import replacement_table

    collector = _collector(values)
    assert replacement_table(collector.values) == _table_by_dumps(collector.values)


def test_the_run_reuses_the_caches_scrub_only_where_it_gives_the_same_bytes() -> None:
    """scrubonce: the scan cache's pass (its tool's values) stands in for the run's pass (all
    values) exactly when no other value shows in the report."""
    from secpipe.model import scrubonce

    own = _collector(["AKIAIOSFODNN7EXAMPLE", "hunter2hunter2"])
    report = b'{"secret": "AKIAIOSFODNN7EXAMPLE", "ctx": "pw=hunter2hunter2; AKIAIOSFODNN7EXAMPLEXYZ"}'
    cases = {
        "no other value": [],
        "other values, absent": ["not-in-the-report-1"],
        # another tool's value that overlaps one of ours: leftmost-longest picks it instead
        "a longer overlapping value": ["AKIAIOSFODNN7EXAMPLEXYZ"],
        "a value inside a masked one": ["unter2hunt"],
    }
    for name, others in cases.items():
        everything = _collector([*own.values, *others])
        data = bytes(bytearray(report))          # a report object of its own, as each tool's is
        scrubonce.remember(data, own.values, own.scrub(data))
        assert scrubonce.scrub_values(everything, data) == everything.scrub(data), name
    assert own.scrub(report) != _collector([*own.values, "AKIAIOSFODNN7EXAMPLEXYZ"]).scrub(report)
    # an equal report that is another object is scrubbed afresh, and an entry serves once
    data = bytes(bytearray(report))
    scrubonce.remember(data, own.values, b"not what a scrub gives")
    assert scrubonce.scrub_values(own, bytes(bytearray(report))) == own.scrub(report)
    assert scrubonce.scrub_values(own, data) == b"not what a scrub gives"   # taken: trusted
    assert scrubonce.scrub_values(own, data) == own.scrub(report)          # then gone
    scrubonce.forget()


def test_reports_without_own_values_share_one_collector_of_the_others() -> None:
    """scrubonce: checkov's and detect-secrets' reports (no clear value of their own) are both
    checked against the run's values with the run's own automaton, built once (no second
    collector of the same values); the reports of tools with values of their own share one
    collector of the others. Each report is still scrubbed exactly as the run's collector
    would."""
    from secpipe.model import scrubonce

    everything = _collector(["AKIAIOSFODNN7EXAMPLE", "hunter2hunter2"])
    none = SecretCollector()
    clean = b'{"check": "CKV_AWS_1", "file": "main.tf"}'
    leaked = b'{"check": "CKV_SECRET_2", "code": "key = AKIAIOSFODNN7EXAMPLE"}'
    built = []
    for report in (clean, leaked, clean):
        data = bytes(bytearray(report))
        scrubonce.remember(data, none.values, none.scrub(data))
        assert scrubonce.scrub_values(everything, data) == _collector(everything.values
                                                                      ).scrub(report)
        built.append(everything._cached)
        assert not scrubonce._OTHERS
    assert b"AKIAIOSFODNN7EXAMPLE" not in scrubonce.scrub_values(everything, leaked)
    assert built[0] is not None and built[0] is built[1] is built[2]
    own = _collector(["hunter2hunter2"])
    seen = []
    for report in (clean, leaked):
        data = bytes(bytearray(report))
        scrubonce.remember(data, own.values, own.scrub(data))
        assert scrubonce.scrub_values(everything, data) == everything.scrub(data)
        seen.append(scrubonce._OTHERS[0][1])
    assert seen[0] is seen[1] and seen[0].values == {"AKIAIOSFODNN7EXAMPLE"}
    scrubonce.forget()
    assert not scrubonce._OTHERS


def test_the_others_reuse_the_automaton_the_cache_pass_built_for_the_same_values() -> None:
    """scrubonce: a tool's automaton (built when the scan cache scrubbed its report) is kept
    by `remember` and serves the other tools' reports when they are searched for exactly the
    same values: built once, the same bytes as a fresh one; nothing is kept after `forget`,
    and nothing outside a run (no `remember`)."""
    import gc

    from secpipe.model import scrubonce, secret

    values = ["AKIAIOSFODNN7EXAMPLE", "hunter2hunter2", 'quote"d-secret-value']
    tool = _collector(values)
    report = b'{"secret": "AKIAIOSFODNN7EXAMPLE", "ctx": "pw=hunter2hunter2"}'
    data = bytes(bytearray(report))
    built = tool._scrubber()                      # as for a report of megabytes
    scrubbed = tool.scrub(data)
    scrubonce.remember(data, tool.values, scrubbed)
    everything = _collector(values)               # the run's values: the tool's, no other
    leaked = b'{"check": "CKV_SECRET_2", "code": "key = AKIAIOSFODNN7EXAMPLE \\"}'
    other = bytes(bytearray(leaked))
    scrubonce.remember(other, frozenset(), other)   # checkov: no value of its own
    assert scrubonce.scrub_values(everything, other) == _collector(values).scrub(leaked)
    assert everything._scrubber() is built
    assert scrubonce.scrub_values(everything, data) == scrubbed
    scrubonce.forget()
    assert not secret._KEPT and not secret._LAST_BUILT
    # outside a run: a built automaton is known weakly only, and goes with its collector
    lone = _collector(values)
    lone._scrubber()
    assert secret._kept_scrubber(frozenset(values)) is None
    del lone
    gc.collect()
    assert not secret._LAST_BUILT or secret._LAST_BUILT[0][1]() is None
    secret.drop_kept_scrubber()


def test_the_run_s_scrub_tells_which_watched_reports_held_a_value() -> None:
    """scrubonce: the run's pass scrubs each report as its collector does, and tells the scan
    cache which of the reports it watches held a value (by id; another object of the same
    bytes is not watched); `changed` answers once."""
    from secpipe.model import scrubonce

    everything = _collector(["AKIAIOSFODNN7EXAMPLE", "hunter2hunter2"])
    clean = bytes(bytearray(b'{"check": "CKV_AWS_1", "file": "main.tf"}'))
    leaked = bytes(bytearray(b'{"check": "CKV_SECRET_2", "code": "pw=hunter2hunter2"}'))
    unwatched = bytes(bytearray(leaked))
    scrubonce.watch([id(clean), id(leaked)])
    for data in (clean, leaked, unwatched):
        assert scrubonce.scrub_values(everything, data) == everything.scrub(data)
    assert scrubonce.scrub_values(everything, clean) is clean
    assert scrubonce.changed() == {id(leaked)}
    assert scrubonce.changed() == set()
    # a report the cache's pass scrubbed in its tool's turn: taken, and told as well
    own = bytes(bytearray(leaked))
    scrubonce.remember(own, everything.values, everything.scrub(own))
    scrubonce.remember(clean, everything.values, clean)
    scrubonce.watch([id(own), id(clean)])
    assert scrubonce.scrub_values(everything, own) == everything.scrub(leaked)
    assert scrubonce.scrub_values(everything, clean) is clean
    assert scrubonce.changed() == {id(own)}
    scrubonce.watch([id(leaked)])
    scrubonce.forget()
    scrubonce.scrub_values(everything, leaked)
    assert scrubonce.changed() == set()


@settings(max_examples=200, deadline=None)
@given(st.lists(_value, min_size=1, max_size=10, unique=True),
       st.lists(st.tuples(st.integers(0, 9), st.text(alphabet="ab \"\\\né", max_size=6)),
                max_size=12))
def test_small_data_path_equals_the_automaton(values, pieces) -> None:
    """SecretCollector.scrub on a log (few bytes x values) searches each form and builds an
    automaton of the present ones only: the same bytes as the whole automaton."""
    collector = _collector(values)
    data = _mixed_report(collector, pieces)
    small = collector.scrub(data)                 # no automaton built yet: the small path
    assert collector._cached is None
    assert small == collector._scrubber().scrub(data)


@pytest.mark.skipif(importlib.util.find_spec("ahocorasick") is None,
                    reason="the window applies to the Aho-Corasick engine only")
@settings(max_examples=300, deadline=None)
@given(st.lists(_value, min_size=1, max_size=8, unique=True),
       st.lists(st.tuples(st.integers(0, 7), st.text(alphabet="ab \"\\\né", max_size=5)),
                max_size=14), st.integers(1, 9))
def test_a_report_searched_window_by_window_scrubs_as_one_search(values, pieces, window
                                                                 ) -> None:
    """The automaton searches a report a window at a time (pyahocorasick copies what it
    searches as 4-byte characters): with windows smaller than the values, so every match
    crosses window ends, the scrub, the search and the overlap budget are those of one search
    over the whole report."""
    from secpipe.model import scrubber

    collector = _collector(values)
    data = _mixed_report(collector, pieces)
    engine = Scrubber(collector._replacements(), engine="aho-corasick")
    whole = list(scrubber._windows(engine._automaton, data, len(data) + 1))
    old = scrubber.WINDOW
    scrubber.WINDOW = window
    try:
        windowed = list(scrubber._windows(engine._automaton, data, engine._longest))
        assert sorted(windowed) == sorted(whole)        # every match, each once
        assert engine.scrub(data) == _reference(collector.values, data)
        assert engine.finds_any(data) == bool(whole)
        prefix = Scrubber(collector._replacements())   # the default engine, windowed too
        assert prefix.engine == "prefix"
        assert prefix.scrub(data) == _reference(collector.values, data)
        assert prefix.finds_any(data) == bool(whole)
    finally:
        scrubber.WINDOW = old


@pytest.mark.skipif(importlib.util.find_spec("ahocorasick") is None,
                    reason="the prefix engine is pyahocorasick's")
def test_the_prefix_engine_gives_the_whole_keys_result() -> None:
    """The default engine indexes each key by its first bytes only and looks the candidates
    up where a prefix matches: the regex's leftmost-longest result and the whole-key
    automaton's search, on keys sharing prefixes, keys within keys and keys at the end."""
    rng = random.Random(17)
    for _ in range(3000):
        words, data = _random_case(rng)
        prefix = Scrubber(words)
        assert prefix.engine == "prefix"
        assert prefix.scrub(data) == Scrubber(words, engine="regex").scrub(data), (words, data)
        assert prefix.finds_any(data) == Scrubber(words, engine="aho-corasick").finds_any(data)
    shared = {b"AKIA" + bytes([65 + i % 26]) * (4 + i): b"<%d>" % i for i in range(40)}
    data = b" ".join(sorted(shared, key=len)) + b" AKIAAAAA"
    assert Scrubber(shared).scrub(data) == Scrubber(shared, engine="regex").scrub(data)

