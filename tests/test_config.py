from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from branchops.config import Settings, catalog_exists, load_settings
from branchops.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "branchops.toml"
    p.write_text(text)
    return p


def test_file_then_env_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = _write(tmp_path, '[branchops]\nwarehouse = "wh"\ntarget_schema = "from_file"\nthreads = 3\n')
    monkeypatch.setenv("BRANCHOPS_TARGET_SCHEMA", "from_env")
    s = load_settings(p, threads=1)
    assert s.warehouse_location == str((tmp_path / "wh").resolve())
    assert s.target_schema == "from_env"
    assert s.threads == 1
    assert s.catalog_url == f"sqlite:///{(tmp_path / '.branchops/catalog.db').resolve()}"


def test_config_found_in_a_parent_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, "[branchops]\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    monkeypatch.delenv("BRANCHOPS_CONFIG", raising=False)
    assert load_settings().root == tmp_path.resolve()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[branchops\n", "not valid TOML"),
        ('[branchops]\nbackend = "oracle"\n', "backend"),
        ('[branchops]\nwarehose = "typo"\n', "warehose"),
        ('[branchops]\nnessie_token = "abc123secret"\n', "environment"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(_write(tmp_path, text))
    assert needle in str(exc.value)
    assert "abc123secret" not in str(exc.value)


def test_secret_setting_is_never_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BRANCHOPS_NESSIE_TOKEN", "tok-very-secret")
    s = load_settings(_write(tmp_path, "[branchops]\n"))
    assert s.nessie_token is not None and s.nessie_token.get_secret_value() == "tok-very-secret"
    assert "tok-very-secret" not in repr(s) and "tok-very-secret" not in str(s)
    assert "tok-very-secret" not in json.dumps(dataclasses.asdict(s), default=str)


@pytest.mark.parametrize("raw", ["-+4", "²", "4.5", "four"])
def test_a_number_setting_that_is_not_a_whole_number_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("BRANCHOPS_THREADS", raw)
    with pytest.raises(ConfigError, match=r"threads \(from \$BRANCHOPS_THREADS\): must be a whole number"):
        load_settings(_write(tmp_path, "[branchops]\n"))
    monkeypatch.setenv("BRANCHOPS_THREADS", " 3 ")
    assert load_settings(_write(tmp_path, "[branchops]\n")).threads == 3


def test_catalog_exists_reads_the_sqlite_path_as_the_catalog_does(tmp_path: Path) -> None:
    """Only an SQLite file that is not there is a missing catalog, whatever the URI's spelling."""
    (tmp_path / "there.db").touch()
    cases = {
        f"sqlite:///{tmp_path}/there.db": True,
        f"sqlite:///{tmp_path}/there.db?timeout=5": True,
        f"sqlite:///{tmp_path}/missing.db": False,
        f"sqlite+pysqlite:///{tmp_path}/missing.db": False,
        "sqlite://": True,
        "sqlite:///:memory:": True,
        "postgresql://u@localhost/db": True,
        "mysql://u@localhost/db": True,  # opening it says the scheme is not supported
    }
    for uri, exists in cases.items():
        assert catalog_exists(Settings(root=tmp_path, catalog_uri=uri)) is exists, uri


def test_a_bad_setting_is_named_where_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _write(tmp_path, "[branchops]\nthreads = \"many\"\n")
    monkeypatch.setenv("BRANCHOPS_IO_PROPERTIES", "s3.region=eu-west-1")  # a table needs a JSON object
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    e = err.value
    assert f"threads (in {cfg}): must be a whole number" in e.message
    assert "io_properties (from $BRANCHOPS_IO_PROPERTIES): must be a table" in e.message
    assert e.hint is not None and "$BRANCHOPS_IO_PROPERTIES" in e.hint and "JSON object" in e.hint
    assert e.unchanged == "nothing was read or written"
    with pytest.raises(ConfigError, match=r"threads \(passed in code\)"):
        load_settings(_write(tmp_path, "[branchops]\n"), threads="x")


def test_list_and_table_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCHOPS_IO_PROPERTIES", '{"s3.region": "eu-west-1"}')
    monkeypatch.setenv("BRANCHOPS_PROTECTED", "main, release-*")
    monkeypatch.setenv("BRANCHOPS_JDBC_REFS", '["main", "prod"]')
    s = load_settings(_write(tmp_path, "[branchops]\n"))
    assert s.io_properties == {"s3.region": "eu-west-1"}
    assert s.protected == ["main", "release-*"] and s.jdbc_refs == ["main", "prod"]
