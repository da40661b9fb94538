"""Bad input, fuzzed (hypothesis): ref names, table names, file contents and config values. Each
is refused with a clear one-line error (exit 2, no traceback) and leaves the catalog byte for byte
as it was; what is valid simply works."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import CliRun, Result, catalog_digest

FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NAME_CHARS = st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs", "Cc"])
_GIT_OK = re.compile(r"^[A-Za-z][A-Za-z0-9._/-]*$")


def ref_name_ok(name: str) -> bool:
    """git's ref rules, as the README states them (written here independently of branchops)."""
    return (bool(_GIT_OK.match(name)) and len(name) <= 200 and ".." not in name and "//" not in name
            and "/." not in name and not name.endswith(("/", ".")) and not any(
                p.endswith(".lock") for p in name.split("/")) and not name.startswith("branchops-wap-"))


def table_name_ok(name: str) -> bool:
    parts = name.split(".")
    return len(parts) == 2 and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", p) for p in parts)


def check(res: Result, counts: Counter[str], kind: str, *, allowed: tuple[int, ...] = (2,)) -> None:
    text = res.out + res.err
    counts["bad inputs tried"] += 1
    assert res.code in allowed, (kind, res)
    assert "Traceback" not in text and "internal error" not in text, (kind, res)
    if res.code == 2:
        assert res.err.startswith("error: ") and "next:" in res.err, (kind, res)
        counts["bad inputs refused cleanly (exit 2)"] += 1


@FUZZ
@given(name=st.one_of(st.text(NAME_CHARS, max_size=40), st.sampled_from(
    ["", "@", "main@", "@@", "-x", "a..b", "a/", "a.lock", "x" * 201, "branchops-wap-x", "a b", "a~1", "a:b", "é"])))
def test_ref_names(name: str, shared_project: Path, cli: CliRun, counts: Counter[str]) -> None:
    digest = catalog_digest(shared_project)
    if not ref_name_ok(name):
        check(cli("branch", "create", name), counts, "create")
    shown = cli("branch", "show", name, "-o", "json")
    check(shown, counts, "show", allowed=(0, 2) if name in ("main", "feat") else (2,))
    if shown.code == 2:
        assert json.loads(shown.out)["error"]
    check(cli("branch", "create", "zz", "--from", name), counts, "create --from",
          allowed=(2,) if name not in ("main", "feat") else (0, 2))
    if name in ("main", "feat"):
        cli("branch", "drop", "zz")
        return
    assert catalog_digest(shared_project) == digest


@FUZZ
@given(name=st.one_of(st.text(NAME_CHARS, max_size=300), st.sampled_from(
    ["raw", "raw.", ".t", "a.b.c", "raw." + "t" * 129, "raw.t-1", "1raw.t", "raw.t t", "RAW.é"])))
def test_table_names(name: str, shared_project: Path, cli: CliRun, counts: Counter[str]) -> None:
    if table_name_ok(name):
        return
    csv = shared_project / "ok.csv"
    csv.write_text("id,amount\n1,2\n")
    digest = catalog_digest(shared_project)
    check(cli("ingest", name, str(csv)), counts, "table")
    check(cli("sql", f"select * from {name}"), counts, "sql table", allowed=(0, 2))
    assert catalog_digest(shared_project) == digest


@FUZZ
@given(content=st.one_of(
    st.binary(max_size=200),
    st.lists(st.lists(st.text(NAME_CHARS, max_size=6), min_size=1, max_size=4), min_size=1, max_size=5).map(
        lambda rows: "\n".join(",".join(r) for r in rows).encode()),
    st.sampled_from([b"a,a\n1,2\n", b"a,\n1,2\n", b"n\nJos\xe9\n", b"\xff\xfea\x00\n\x00", b"a,b\n1\n", b"",
                     b"{\"a\": 1}\n{\"a\": \"x\"}\n", b"PAR1garbage"])),
    suffix=st.sampled_from([".csv", ".jsonl", ".parquet"]))
def test_file_contents(content: bytes, suffix: str, shared_project: Path, cli: CliRun, counts: Counter[str]) -> None:
    path = shared_project / f"fuzz{suffix}"
    path.write_bytes(content)
    digest = catalog_digest(shared_project)
    res = cli("ingest", "raw.fuzz", str(path), "--branch", "feat", "-o", "json")
    check(res, counts, "file", allowed=(0, 2))
    if res.code == 2:
        assert catalog_digest(shared_project) == digest
        assert json.loads(res.out)["error"]


CONFIG_VALUES = {
    "backend": st.sampled_from(["sql", "nessie", "oracle", "", 1]),
    "catalog_uri": st.sampled_from(["foo://x", "", "not a url", "postgresql+nodriver://h/d",
                                    "mysql://h/d", 3]),
    "warehouse": st.sampled_from([3, ["a"], True]),
    "engine": st.sampled_from(["spark", "", 0]),
    "protected": st.sampled_from(["main", 5, [1, 2]]),
    "gc_ttl": st.text(NAME_CHARS, max_size=5),
    "threads": st.sampled_from(["many", -1.5, [1]]),
    "io_properties": st.sampled_from([{"s3.secret-access-key": "hunter2hunter2"}, {"s3.session-token": "tok3n-value"},
                                      "x", [1]]),
    "no_such_key": st.integers(),
}


@FUZZ
@given(key=st.sampled_from(sorted(CONFIG_VALUES)), data=st.data())
def test_config_values(key: str, data: st.DataObject, shared_project: Path, cli: CliRun,
                       counts: Counter[str]) -> None:
    value = data.draw(CONFIG_VALUES[key])
    cfg = shared_project / "fuzz" / "branchops.toml"
    cfg.parent.mkdir(exist_ok=True)
    values = {"catalog_uri": f"sqlite:///{shared_project}/.branchops/catalog.db",
              "warehouse": f"{shared_project}/.branchops/warehouse", key: value}
    cfg.write_text("[branchops]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    digest = catalog_digest(shared_project)
    res = cli("--config", str(cfg), "gc", "--dry-run", "-o", "json")
    check(res, counts, f"config {key}", allowed=(0, 2))
    for secret in ("hunter2hunter2", "tok3n-value"):
        assert secret not in res.out + res.err
    assert catalog_digest(shared_project) == digest
    assert not (cfg.parent / ".branchops").exists()


def test_a_catalog_that_does_not_exist_is_refused_and_init_if_missing_creates_it(
    tmp_path: Path, cli: CliRun, counts: Counter[str]
) -> None:
    """A mistyped ``catalog_uri`` never starts an empty lakehouse: every command but ``init`` refuses
    it (exit 2, nothing created); ``init --if-missing`` creates it once and then changes nothing."""
    root = tmp_path / "repo"
    root.mkdir()
    cfg = root / "branchops.toml"
    csv = root / "ok.csv"
    csv.write_text("id\n1\n")
    for uri in ("sqlite:///no/such/folder/catalog.db", "sqlite:///typo.db"):
        cfg.write_text(f'[branchops]\ncatalog_uri = "{uri}"\nwarehouse = "wh"\n')
        before = sorted(root.rglob("*"))
        for args in (("branch", "list"), ("ingest", "raw.t", str(csv)), ("gc", "--dry-run", "-o", "json"),
                     ("sql", "select 1")):
            res = cli("--config", str(cfg), *args)
            check(res, counts, "missing catalog")
            assert "does not exist" in res.err and "branchops init" in res.err, res
            assert sorted(root.rglob("*")) == before, f"{args} created something"
        clash = cli("init", "--dir", str(root), "--if-missing", "--warehouse", "elsewhere")
        check(clash, counts, "init --if-missing with other settings")
        assert sorted(root.rglob("*")) == before
        for created in (True, False):
            init = cli("init", "--dir", str(root), "--if-missing", "--warehouse", "wh", "-o", "json")
            assert init.code == 0 and init.json()["created"] is created, init
        assert cli("--config", str(cfg), "branch", "list").code == 0
    assert cli("init", "--dir", str(root)).code == 2  # without --if-missing an initialized folder is refused
