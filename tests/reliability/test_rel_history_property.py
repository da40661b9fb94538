"""A property over random histories: writes, branch drops, gc (any retention), resets and forks to
any earlier commit, interleaved. Every ref stays readable; a reset or fork either lands and reads,
or is refused (exit 1) with the catalog unchanged; gc never fails."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import CliRun, catalog_digest, open_lh, read_every_ref, seed_project, table_rows

OPS = st.lists(st.one_of(
    st.tuples(st.just("ingest"), st.sampled_from(["raw.a", "raw.b"]), st.sampled_from(["main", "side"]),
              st.sampled_from(["append", "overwrite"])),
    st.tuples(st.just("gc"), st.sampled_from(["0s", "7d"])),
    st.tuples(st.just("reset"), st.integers(0, 50)),
    st.tuples(st.just("fork"), st.integers(0, 50)),
    st.tuples(st.just("drop_side")),
), min_size=4, max_size=8)


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS)
def test_random_histories_with_gc_reset_and_fork_stay_readable(
    ops: list[tuple[object, ...]], tmp_path_factory: pytest.TempPathFactory, cli: CliRun, counts: Counter[str]
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        root = seed_project(tmp_path_factory.mktemp("hist") / "lh", mp)
        mp.chdir(root)
        with open_lh() as lh:
            lh.catalog.create_branch("side")
        seen: list[str] = []  # every commit hash main or side has been at
        forks = 0
        for op in ops:
            with open_lh() as lh:
                seen.extend(r.hash for r in lh.catalog.list_refs() if r.name in ("main", "side"))
                refs = {r.name for r in lh.catalog.list_refs()}
            if op[0] == "ingest":
                _, table, branch, mode = op
                if branch in refs:
                    with open_lh() as lh:
                        lh.ingest(str(table), table_rows(3, start=len(seen)), branch=str(branch), mode=mode)  # type: ignore[arg-type]
            elif op[0] == "gc":
                mp.setenv("BRANCHOPS_GC_RETENTION", str(op[1]))
                res = cli("gc", "--older-than", "0s")
                assert res.code == 0, res.err
            elif op[0] == "drop_side" and "side" in refs:
                assert cli("branch", "drop", "side").code == 0
            elif op[0] in ("reset", "fork"):
                target = seen[int(op[1]) % len(seen)]  # type: ignore[call-overload]
                digest = catalog_digest(root)
                forks += 1
                args = (("branch", "reset", "main", "--to", target) if op[0] == "reset"
                        else ("branch", "create", f"f{forks}", "--from", f"@{target}"))
                res = cli(*args)
                assert res.code in (0, 1), res
                if res.code == 1:
                    assert "gc has deleted" in res.err and catalog_digest(root) == digest
                    counts["history: collected commits refused"] += 1
                else:
                    counts["history: resets/forks to old commits landed"] += 1
            with open_lh() as lh:
                read_every_ref(lh)  # every table of every ref reads in full, after every step
        counts["history: random histories checked"] += 1
