"""`runs._baselines` reads a run's observed pairs only where its scope does not settle them:
the same answer as reading every run's observed pairs up front (the previous code, kept
here as the reference), on generated run histories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert, select

from secpipe.hub import runs
from secpipe.hub.common import dumps, loads
from secpipe.hub.schema import metadata
from secpipe.hub.schema import run_findings as O
from secpipe.hub.schema import runs as RUNS

PAIRS = [("secrets", "gitleaks"), ("secrets", "trufflehog3"), ("iac", "checkov"),
         ("lint", "hadolint")]


def reference(conn, repo, branch, before, pairs, policy=runs.Policy()):
    """The previous `_baselines`: every run's observed pairs in one grouped query."""
    q = select(RUNS.c.seq, RUNS.c.run_id, RUNS.c.scope, RUNS.c.writer_role,
               RUNS.c.writer_scope).where(RUNS.c.repo == repo, RUNS.c.branch == branch)
    if before is not None:
        q = q.where(RUNS.c.seq < before)
    history = [r for r in conn.execute(q.order_by(RUNS.c.seq.desc()).limit(runs.BASELINE_DEPTH))
               if runs._trusted(r, repo, branch, policy)]
    if not history:
        return None, {}
    ran = {r.seq: {tuple(p) for p in loads(r.scope)} for r in history}
    observed = select(O.c.run_seq, O.c.stage, O.c.tool).where(
        O.c.run_seq.in_(list(ran)), O.c.change != "fixed").group_by(
        O.c.run_seq, O.c.stage, O.c.tool)
    for seq, stage, tool in conn.execute(observed):
        ran[seq].add((stage, tool))
    chosen = {}
    for pair in pairs:
        for r in history:
            if pair in ran[r.seq]:
                chosen[pair] = r.seq
                break
    return history[0].run_id, chosen


pair_sets = st.sets(st.sampled_from(PAIRS))
a_run = st.fixed_dictionaries({
    "branch": st.sampled_from(["main", "dev"]),
    "role": st.sampled_from(["admin", "legacy", "reader"]),
    "scope": pair_sets,
    # observations: pk -> (pair, change)
    "seen": st.dictionaries(st.integers(1, 12), st.tuples(
        st.sampled_from(PAIRS), st.sampled_from(["new", "recurring", "fixed"])), max_size=8),
})


@settings(max_examples=150, deadline=None)
@given(history=st.lists(a_run, max_size=12), pairs=pair_sets,
       before=st.one_of(st.none(), st.integers(1, 14)), branch=st.sampled_from(["main", "dev"]))
def test_same_baselines_as_reading_every_run(history, pairs, before, branch):
    engine = create_engine("sqlite://")
    metadata.create_all(engine, tables=[RUNS, O])
    with engine.begin() as conn:
        for i, r in enumerate(history):
            seq = conn.execute(insert(RUNS).values(
                run_id=f"r{i}", repo="x/y", branch=r["branch"], commit="", started_at="",
                finished_at="", status="", exit_code=0, summary="{}",
                scope=dumps(sorted(r["scope"])), recorded_at="", principal="p",
                writer_role=r["role"], writer_scope="{}").returning(RUNS.c.seq)).scalar_one()
            for pk, ((stage, tool), change) in r["seen"].items():
                conn.execute(insert(O).values(run_seq=seq, finding_pk=pk, stage=stage,
                                              tool=tool, change=change))
        got = runs._baselines(conn, "x/y", branch, before, set(pairs))
        assert got == reference(conn, "x/y", branch, before, set(pairs))
    engine.dispose()
