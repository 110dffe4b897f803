"""A re-run's findings proven unchanged by `findings.stable` (`hub.run_stable`) skip validation
and leave the hub exactly as checking and writing them in full does: every column of every
table, each run's diff and FailedFindings (same entries, same order), through runs that make
every proof fail in turn: triage, a legacy update, the hub archiving and reopening, automation
rules enabled then disabled, stamps that are not plain valid strings, a stamp growing past the
240 KB limit, a key twice in a part and across parts, stale copies. SQLite (PostgreSQL has no
such path; tests/hub/test_record_run_parts.py runs both)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from secpipe.hub import importer, run_stable
from secpipe.hub.store import open_store
from secpipe.hub.validate import MAX_FINDING_BYTES
from tests.hub.builders import ACCOUNT, example_run, finding, key
from tests.hub.test_record_run_parts import CI, _runs
from tests.hub.test_run_refresh import T4, _dump, count_paths, full_path_only
from tests.hub.test_store_runs import T1, T2, T3, run

T5 = "2024-06-05T10:00:00.000Z"
T6 = "2024-06-06T10:00:00.000Z"
T7 = "2024-06-07T10:00:00.000Z"
REPO = {"secpipe/Repo": "example/web", "secpipe/Stage": "sca", "secpipe/Tool": "trivy"}


_RULE = re.compile(r"automation-rule/[0-9a-f-]{36}")


def _state(store) -> dict[str, list]:
    """`_dump`, with the rule's random ARN masked (each store made its own)."""
    return {table: sorted(_RULE.sub("automation-rule/*", row) for row in rows)
            for table, rows in _dump(store).items()}


def _big(stamp: str, run_id: str, pad: int) -> dict[str, Any]:
    """A finding whose checked text is close to the 240 KB limit (`pad` bytes of detail)."""
    return finding("big", UpdatedAt=stamp, CreatedAt=stamp,
                   ProductFields={**REPO, "secpipe/RunId": run_id},
                   Resources=[{"Type": "Other", "Id": "r-big",
                               "Details": {"Other": {"pad": "x" * pad}}}])


def _pad_for_room(room: int) -> int:
    """The pad that leaves `room` bytes under the limit for a run id of 2 characters."""
    good, _ = importer.check_all([_big(T1, "r1", 1000)])
    return 1000 + MAX_FINDING_BYTES - room - len(good[0].text)


def _plain(stamp: str, run_id: str, i: int, **kw: Any) -> dict[str, Any]:
    return finding(f"s-{i}", UpdatedAt=stamp, CreatedAt=stamp,
                   ProductFields={**REPO, "secpipe/RunId": run_id}, **kw)


def _scenario(store) -> list[Any]:
    out = []
    pad = _pad_for_room(6)

    def go(run_id: str, stamp: str, docs: list) -> None:
        diff = store.record_run(run(run_id, stamp), docs, batch_size=3)
        out.append((sorted(diff.new), sorted(diff.recurring), sorted(diff.fixed),
                    diff.by_stage, diff.failed))

    base = [_plain(T1, "r1", i) for i in range(8)]
    go("r1", T1, example_run(T1, "r1") + base + [_big(T1, "r1", pad)])
    go("r2", T2, example_run(T2, "r2") + [_plain(T2, "r2", i) for i in range(8)]
       + [_big(T2, "r2", pad)])
    # triage on s-0, a legacy update (RecordState) on s-1
    store.batch_update([key(store.get_finding("s-0"))], {"Note": {"Text": "x", "UpdatedBy": "m"}})
    store.update_findings({"Id": [{"Value": "s-1", "Comparison": "EQUALS"}]},
                          record_state="ARCHIVED")
    third = [
        _plain(T3, "r3", 0), _plain(T3, "r3", 1),
        _plain("2024-06-03 10:00", "r3", 2),                          # not ISO: refused
        _plain(T3, 'r"3', 3),                                         # escaped: checked
        _plain(T3, "r3", 4, FirstObservedAt=5),                       # a number: refused
        _plain(T3, "r3", 5), _plain(T3, "r3", 5),                     # twice in a part
        _plain(T1, "r3", 6),                                          # stale: ignored
        _plain("2999-01-01T00:00:00.000Z", "r3", 7),                  # future: refused
        _big(T3, "r3-longer", pad),                                   # past 240 KB: refused
    ]
    go("r3", T3, example_run(T3, "r3", skip=("hadolint",)) + third)
    # s-5 again in two parts; the big one fits again; hadolint reopened
    fourth = [_plain(T4, "r4", i) for i in range(8)]
    go("r4", T4, fourth[:1] + example_run(T4, "r4") + fourth[1:] + [_plain(T4, "r4", 5),
                                                                     _big(T4, "r4", pad)])
    rule = store.create_automation_rule({
        "RuleOrder": 1, "RuleName": "low", "Description": "d", "RuleStatus": "ENABLED",
        "Criteria": {"Id": [{"Value": "s-", "Comparison": "PREFIX"}]},
        "Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                     "FindingFieldsUpdate": {"Note": {"Text": "ruled", "UpdatedBy": "r"}}}]})
    go("r5", T5, example_run(T5, "r5") + [_plain(T5, "r5", i) for i in range(8)])
    store.batch_update_automation_rules([{"RuleArn": rule, "RuleStatus": "DISABLED"}])
    go("r6", T6, example_run(T6, "r6") + [_plain(T6, "r6", i) for i in range(8)])
    go("r7", T7, example_run(T7, "r7") + [_plain(T7, "r7", i) for i in range(8)])
    return out


def test_the_stable_path_stores_what_the_full_path_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_store = open_store(f"sqlite:///{tmp_path / 'fast.db'}", account_id=ACCOUNT)
    fast, narrow = count_paths(monkeypatch)
    got = _scenario(fast_store)
    state = _state(fast_store)
    monkeypatch.undo()
    full_path_only(monkeypatch)
    full = open_store(f"sqlite:///{tmp_path / 'full.db'}", account_id=ACCOUNT)
    want = _scenario(full)
    assert got == want
    assert state == _state(full)
    failed = [f["Id"] for f in got[2][-1]]
    assert failed == ["s-2", "s-4", "s-7", "big"]
    assert "240 KB" in got[2][-1][-1]["ErrorMessage"]
    # writes of 3: r1 and r2 5 each, r3 3, r4 5, r5 to r7 4 each
    writes = [5, 5, 3, 5, 4, 4, 4]
    fast_runs, narrow_runs = _per_run(fast, writes), _per_run(narrow, writes)
    # r2: all 13 proven by their creation; r3: the example's 3 (s-0 triaged and s-3's escaped
    # run id take run_refresh; s-1 archived by the legacy update, s-5 twice: the full path);
    # r5: none (a rule is enabled); r6: the rule's writes left no proof: run_refresh, which
    # proves them again for r7
    assert fast_runs == [0, 13, 3, 11, 0, 0, 11]
    assert narrow_runs == [0, 0, 2, 1, 0, 11, 0]


def _per_run(counts: list[int], writes: list[int]) -> list[int]:
    """Per run, the sum of its writes' counts (`writes`: how many writes each run made)."""
    out, i = [], 0
    for n in writes:
        out.append(sum(counts[i:i + n]))
        i += n
    return out


def test_parts_and_refusals_match_the_full_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hubmem's run scenario (parts of 3 splitting duplicates, failures and refusals, a CI
    principal's denials) against the full path, both with this code."""
    got = {}
    for name, principal in (("local", None), ("ci", CI)):
        fast_store = open_store(f"sqlite:///{tmp_path / (name + '-fast.db')}",
                                account_id=ACCOUNT)
        got[name] = (_runs(lambda s, r, f, **kw: s.record_run(r, f, **kw), fast_store,
                           principal), _dump(fast_store))
    full_path_only(monkeypatch)
    for name, principal in (("local", None), ("ci", CI)):
        full = open_store(f"sqlite:///{tmp_path / (name + '-full.db')}", account_id=ACCOUNT)
        want = (_runs(lambda s, r, f, **kw: s.record_run(r, f, **kw), full, principal),
                _dump(full))
        assert got[name] == want


def test_sent_digest_leaves_out_the_stamps_values_only() -> None:
    a = _plain(T1, "r1", 0)
    b = _plain(T2, "r2", 0)
    assert run_stable.sent_digest(a) == run_stable.sent_digest(b)
    assert run_stable.sent_digest(a) != run_stable.sent_digest(dict(a, Title="other"))
    first = dict(a, FirstObservedAt=T1)
    assert run_stable.sent_digest(a) != run_stable.sent_digest(first)       # a key's presence
    assert run_stable.sent_digest(first) == run_stable.sent_digest(dict(a, FirstObservedAt=T2))
    reordered = dict(reversed(list(a.items())))
    assert run_stable.sent_digest(a) != run_stable.sent_digest(reordered)   # the key order
    fields = dict(a["ProductFields"])
    fields["secpipe/Stage"] = "iac"
    assert run_stable.sent_digest(a) != run_stable.sent_digest(dict(a, ProductFields=fields))
    assert run_stable.sent_digest(dict(a, Title=1)) != run_stable.sent_digest(dict(a, Title=1.0))
    assert run_stable.sent_digest(dict(a, Extra={1, 2})) is not None       # marshal: a set
    assert run_stable.sent_digest(dict(a, Extra=object())) is None
    assert run_stable.sent_digest([a]) is None


def test_state_digest_covers_document_and_locked() -> None:
    assert run_stable.state_digest("{}", "") != run_stable.state_digest("{}", "Severity")
    assert run_stable.state_digest("{}", "") != run_stable.state_digest("{ }", "")
    assert run_stable.state_digest("a\x00", "b") != run_stable.state_digest("a", "\x00b")


def test_a_hub_without_the_column_filled_takes_the_full_checks_once(tmp_path: Path,
                                                                     monkeypatch) -> None:
    """Rows from before migration 0014 (stable NULL) are checked in full and filled."""
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}", account_id=ACCOUNT)
    store.record_run(run("r1", T1), example_run(T1, "r1"))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE findings SET stable = NULL")
    fast, narrow = count_paths(monkeypatch)
    store.record_run(run("r2", T2), example_run(T2, "r2"))
    store.record_run(run("r3", T3), example_run(T3, "r3"))
    assert fast == [0, 4] and narrow == [4, 0]
