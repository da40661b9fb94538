"""Benchmark: plans for the keyed diff when every data file was rewritten (issue 17, ``full``).

    python bench/diff_fullrw_ab.py --work DIR [--rounds 3] [--ref full] [--ranges 5] [--out FILE]

DIR is a ``bench/diff.py --work DIR`` data set (10M rows by default). Every variant runs the
statements that find and store both sides' differing rows (and, with profiles, the partial
column profiles) on the same Parquet files, in one process with the diff's memory limit, the
variants taking turns in a rotating order; the JSON keeps wall and CPU seconds (user + system,
every DuckDB thread) of every run and the load average. The small statements after them (the
uniqueness check, the pairing of the stored rows) are left out: they cost ~0.1 s in every plan.

- ``engine_limit``: issue 17's limit, a full outer join of ``(key, row hash)``, counting.
- ``main`` / ``main_no_profiles``: what ``rows._one_pass`` runs today: ``onepass.joined_pass``
  (base streamed with every column, head's key and hash in the join table), base's differing rows
  unnested, then head's rows of the differing keys fetched by a second read of head (``key_rows``).
- ``ranges`` / ``ranges_no_profiles`` (idea 1): the files grouped into ``--ranges`` disjoint key
  ranges (by the key's bounds in the manifests; the same cut points on both sides), one statement
  per range joining base with head's whole rows (a small join table), so that head's differing
  rows come out of the same pass and head is read once.
- ``keys_then_scan`` (idea 2): the differing keys from the limit's join, then one scan per side:
  its whole profile and its differing rows (a mark join with the small key table).
- ``positional`` (both sides streamed, no join table): when both sides' files pair up by key
  bounds and row counts (a rewrite that kept the rows' order), a ``POSITIONAL JOIN`` per file pair
  (``UNION ALL``) with every column of both sides, grouped by whether the hashes differ, with
  base's profile and both sides' differing rows; a real plan would also have to prove that the
  keys line up (counted here as ``__mis``) and are unique.
- ``main_string_bounds``: ``main`` with string min and max also left to the manifests (exact when
  a bound is shorter than Iceberg's truncation length), to price idea 3's remaining aggregates.

Writes bench/results/diff_fullrw_ab.json; bench/results/diff_fullrw_notes.md reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from diff import COLUMNS, plan_connection, rotating_rounds, summarized  # noqa: E402  (bench/diff.py)

NUMERIC = COLUMNS[:8]


def _plist(paths: list[str]) -> str:
    return "read_parquet([" + ", ".join(f"'{p}'" for p in paths) + "])"


def _profile_aggs() -> str:
    """The partial profile ``joined_pass`` computes on this data (integer bounds come from the manifests)."""
    return ", ".join([f"APPROX_COUNT_DISTINCT({c}) EXPORT_STATE AS d_{c}" for c in COLUMNS]
                     + [f"AVG({c}::DOUBLE) EXPORT_STATE AS m_{c}" for c in NUMERIC]
                     + [f"MIN({c}) AS lo_{c}, MAX({c}) AS hi_{c}" for c in ("x", "y", "z", "s", "t")])


def _range_query(base: list[str], head: list[str], profile: bool) -> str:
    vals = ", ".join(COLUMNS)
    b = f"SELECT {vals}, HASH({vals}) AS __hb FROM {_plist(base)}"
    h = f"SELECT {', '.join(f'{c} AS h_{c}' for c in COLUMNS)}, HASH({vals}) AS __hh FROM {_plist(head)}"
    b_row = "{" + ", ".join(f"'{c}': {c}" for c in COLUMNS) + "}"
    h_row = "{" + ", ".join(f"'{c}': h_{c}" for c in COLUMNS) + "}"
    return (
        "SELECT __d, COUNT(*) AS __j, COUNT(*) FILTER (WHERE __hb IS NOT NULL AND __hh IS NOT NULL) AS __m, "
        "COUNT(__hb) AS rows, " + (_profile_aggs() + ", " if profile else "")
        + f"ARRAY_AGG(CASE WHEN __d AND __hb IS NOT NULL THEN {b_row} END) "
        "FILTER (WHERE __d AND __hb IS NOT NULL) AS __rows, "
        f"ARRAY_AGG(CASE WHEN __d AND __hh IS NOT NULL THEN {h_row} END) "
        "FILTER (WHERE __d AND __hh IS NOT NULL) AS __hrows "
        f"FROM (SELECT *, __hb IS DISTINCT FROM __hh AS __d FROM ({b}) b FULL OUTER JOIN ({h}) h "
        "ON b.id IS NOT DISTINCT FROM h.h_id) GROUP BY __d"
    )


def _ranges(sides: list[dict[str, tuple[Any, Any]]], k: int) -> tuple[list[tuple[list[str], list[str]]], list[str]]:
    """Both sides' files in ``k`` groups cut at the same key values, and the files whose key range
    crosses a cut. Timing only: a crossing file is put in the group of its lowest key, so the rows
    of its keys beyond the cut are paired wrongly (``differing_rows_found`` shows by how many);
    a real plan would have to join those files against the whole other side."""
    order = sorted(sides[0], key=lambda p: sides[0][p][0])
    cuts = [sides[0][order[i * len(order) // k]][0] for i in range(1, k)]
    groups: list[tuple[list[str], list[str]]] = [([], []) for _ in range(k)]
    crossing = []
    for s, files in enumerate(sides):
        for path, (lo, hi) in files.items():
            g = sum(1 for c in cuts if lo >= c)
            if g < k - 1 and hi >= cuts[g]:
                crossing.append(f"{path}: {lo}..{hi}")
            groups[g][s].append(path)
    return groups, crossing


def main() -> None:

    from branchops.config import Settings
    from branchops.diff import onepass as op
    from branchops.diff import queries as q
    from branchops.diff.compute import DIFF_MEMORY_LIMIT
    from branchops.diff.snapshots import TableSnapshot, _key_range, exact_stats
    from branchops.lakehouse import Lakehouse

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--ref", default="full")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ranges", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "diff_fullrw_ab.json"))
    args = ap.parse_args()

    lh = Lakehouse(Settings(root=Path(args.work)))
    snaps = [TableSnapshot.load(lh.catalog.load_table(r, "bench.t")) for r in ("main", args.ref)]
    lh.close()
    key_field = snaps[0].schema.find_field("id")
    bounds = []
    for s in snaps:
        side = {}
        for path, df in s.files().items():
            rng = _key_range(key_field, [df])
            assert rng is not None and not rng[0], "the bench's key has bounds and no NULLs"
            side[path] = (rng[1], rng[2])
        bounds.append(side)
    paths = [sorted(b) for b in bounds]
    cols = [q.DiffColumn(n, numeric=n not in ("s", "t"), is_float=n in ("x", "y", "z")) for n in COLUMNS]
    exact = (exact_stats(snaps[0].files(), snaps[0].schema, COLUMNS),
             exact_stats(snaps[1].files(), snaps[1].schema, COLUMNS))
    known = op.known_figures(cols, exact)
    with_strings = {**known, **{c: frozenset({op.COUNTED, op.BOUNDED}) for c in ("s", "t")}}

    def src(i: int) -> Any:
        return q.source(_plist(paths[i]), "duckdb")

    def main_plan(profile: bool, figures: dict[str, frozenset[str]]) -> list[str]:
        return [
            "CREATE OR REPLACE TEMP TABLE f AS "
            + op.joined_pass(src(0), src(1), ["id"], cols, "duckdb", profile=profile, known=figures).sql("duckdb"),
            "CREATE OR REPLACE TEMP TABLE c0 AS " + op.base_rows("f", "duckdb").sql("duckdb"),
            "CREATE OR REPLACE TEMP TABLE w AS " + op.differing_keys("f", "duckdb").sql("duckdb"),
            "CREATE OR REPLACE TEMP TABLE c1 AS " + q.key_rows(src(1), "w", 1, ["id"], cols, "duckdb").sql("duckdb"),
        ]

    def ranges_plan(profile: bool) -> list[str]:
        groups, crossing[:] = _ranges(bounds, args.ranges)
        first, *rest = [_range_query(b, h, profile) for b, h in groups]
        return ["CREATE OR REPLACE TEMP TABLE r AS " + first] + [f"INSERT INTO r {sql}" for sql in rest]

    crossing: list[str] = []
    vals = ", ".join(COLUMNS)
    row = "{" + ", ".join(f"'{c}': {c}" for c in COLUMNS) + "}"

    def positional_plan() -> list[str]:
        by_bounds = [sorted(b, key=lambda p, b=b: b[p]) for b in bounds]
        assert [bounds[0][p] for p in by_bounds[0]] == [bounds[1][p] for p in by_bounds[1]], "files do not pair up"
        h_cols = ", ".join(f"{c} AS h_{c}" for c in COLUMNS)
        pairs = " UNION ALL ".join(
            f"(SELECT * FROM (SELECT {vals}, HASH({vals}) AS __hb FROM read_parquet('{fb}')) POSITIONAL JOIN "
            f"(SELECT {h_cols}, HASH({vals}) AS __hh FROM read_parquet('{fh}')))"
            for fb, fh in zip(*by_bounds, strict=True))
        h_row = "{" + ", ".join(f"'{c}': h_{c}" for c in COLUMNS) + "}"
        return [f"CREATE OR REPLACE TEMP TABLE o AS SELECT __d, COUNT(*) AS __j, "
                f"COUNT(*) FILTER (WHERE id IS DISTINCT FROM h_id) AS __mis, {_profile_aggs()}, "
                f"ARRAY_AGG(CASE WHEN __d THEN {row} END) FILTER (WHERE __d) AS __rows, "
                f"ARRAY_AGG(CASE WHEN __d THEN {h_row} END) FILTER (WHERE __d) AS __hrows "
                f"FROM (SELECT *, __hb IS DISTINCT FROM __hh AS __d FROM ({pairs})) GROUP BY __d"]

    keyed = [f"SELECT id, HASH({vals}) AS h FROM {_plist(p)}" for p in paths]
    variants: dict[str, list[str]] = {
        "engine_limit": [f"SELECT COUNT(*) FROM ({keyed[0]}) b FULL OUTER JOIN ({keyed[1]}) h ON b.id = h.id "
                         "WHERE b.h IS DISTINCT FROM h.h"],
        "main": main_plan(True, known),
        "main_no_profiles": main_plan(False, {}),
        "ranges": ranges_plan(True),
        "ranges_no_profiles": ranges_plan(False),
        "keys_then_scan": [
            f"CREATE OR REPLACE TEMP TABLE k AS SELECT COALESCE(b.id, h.id) AS id FROM ({keyed[0]}) b "
            f"FULL OUTER JOIN ({keyed[1]}) h ON b.id = h.id WHERE b.h IS DISTINCT FROM h.h",
        ] + [f"CREATE OR REPLACE TEMP TABLE p{i} AS SELECT {_profile_aggs()}, ARRAY_AGG(CASE WHEN __m THEN {row} END) "
             f"FILTER (WHERE __m) AS __rows FROM (SELECT *, id IN (SELECT id FROM k) AS __m FROM {_plist(p)})"
             for i, p in enumerate(paths)],
        "positional": positional_plan(),
        "main_string_bounds": main_plan(True, with_strings),
    }
    con = plan_connection(DIFF_MEMORY_LIMIT)
    names = list(variants)
    load_before = [round(x, 2) for x in os.getloadavg()]

    def run(name: str) -> None:
        for sql in variants[name]:
            con.execute(sql).fetchall()

    runs = rotating_rounds(names, args.rounds, run)
    # every plan found the same differing rows
    found = {
        "main": con.execute("SELECT (SELECT COUNT(*) FROM c0), (SELECT COUNT(*) FROM c1)").fetchone(),
        "ranges": con.execute("SELECT SUM(LEN(__rows)), SUM(LEN(__hrows)) FROM r").fetchone(),
        "keys_then_scan": con.execute("SELECT (SELECT LEN(__rows) FROM p0), (SELECT LEN(__rows) FROM p1)").fetchone(),
        "positional": con.execute("SELECT SUM(LEN(__rows)), SUM(LEN(__hrows)), SUM(__mis) FROM o").fetchone(),
    }
    out: dict[str, Any] = {
        "ref": args.ref, "rows": sum(f.record_count for f in snaps[0].files().values()),
        "files": [len(p) for p in paths], "ranges": args.ranges, "files_crossing_a_range_cut": crossing,
        "differing_rows_found": {k: [int(x) for x in v or ()] for k, v in found.items()},
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "variants": summarized(runs),
    }
    for base in ("main", "main_no_profiles"):
        for name in names:
            if name != base and name.endswith("no_profiles") == base.endswith("no_profiles") and name != "engine_limit":
                for key in ("seconds", "cpu_seconds"):
                    out["variants"][name][f"vs_{base}_min_{key}"] = round(
                        out["variants"][name][f"min_{key}"] / out["variants"][base][f"min_{key}"], 3)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({n: {k: v for k, v in e.items() if k != "runs"} for n, e in out["variants"].items()}, indent=1))


if __name__ == "__main__":
    main()
