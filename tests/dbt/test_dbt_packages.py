"""A project that uses dbt packages, in a fresh checkout with no ``dbt_packages/``: branchops runs
``dbt deps`` before building, and the package's macros and tests work on the branch."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from dbt_helpers import new_lakehouse

from branchops.cli import main
from branchops.dbt import DbtRunFailed, build
from branchops.errors import UsageError

UTILS = Path(__file__).resolve().parent / "packages" / "dbt_utils"
ROWS = [(1, "ada", "lovelace"), (2, "alan", "turing"), (3, "grace", None)]


def _project(root: Path, packages: str) -> Path:
    root.mkdir()
    (root / "dbt_project.yml").write_text(
        "name: pkg_shop\nversion: '1.0.0'\nconfig-version: 2\nprofile: pkg_shop\n"
        "models:\n  pkg_shop:\n    +materialized: table\n"
    )
    (root / "packages.yml").write_text(packages)
    models = root / "models"
    models.mkdir()
    (models / "sources.yml").write_text("version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n"
                                        "      - name: people\n")
    (models / "people.sql").write_text(
        "select id, first_name, last_name,\n"
        "  {{ dbt_utils.generate_surrogate_key(['first_name', 'last_name']) }} as person_key\n"
        "from {{ source('raw', 'people') }}\n"
    )
    (models / "people.yml").write_text(
        "version: 2\nmodels:\n  - name: people\n    data_tests:\n"
        "      - dbt_utils.unique_combination_of_columns:\n          arguments:\n"
        "            combination_of_columns: [first_name, last_name]\n"
        "      - dbt_utils.expression_is_true:\n          arguments:\n            expression: \"id > 0\"\n"
    )
    return root


def _surrogate_key(*values: str | None) -> str:
    """dbt_utils.generate_surrogate_key, computed independently: md5 over '-'-joined values with
    NULL as '_dbt_utils_surrogate_key_null_'."""
    text = "-".join("_dbt_utils_surrogate_key_null_" if v is None else v for v in values)
    return hashlib.md5(text.encode()).hexdigest()


def test_missing_packages_are_installed_then_used(tmp_path: Path) -> None:
    import pyarrow as pa

    lh = new_lakehouse(tmp_path / "lake")
    people = pa.table({"id": [r[0] for r in ROWS], "first_name": [r[1] for r in ROWS],
                       "last_name": [r[2] for r in ROWS]})
    lh.ingest("raw.people", people)
    project = _project(tmp_path / "project", f"packages:\n  - local: {UTILS}\n")
    assert not (project / "dbt_packages").exists()

    result = build(lh, "main", project, dbt_output="stderr")

    assert (project / "dbt_packages" / "dbt_utils" / "macros").is_dir()
    assert result.success and result.tests()["pass"] == 2
    got = {r["id"]: r["person_key"] for r in lh.read("analytics.people").to_pylist()}
    assert got == {i: _surrogate_key(first, last) for i, first, last in ROWS}


def test_packages_that_cannot_be_installed_name_the_command(tmp_path: Path) -> None:
    lh = new_lakehouse(tmp_path / "lake")
    before = lh.catalog.get_ref("main").hash
    project = _project(tmp_path / "project", f"packages:\n  - git: 'file://{tmp_path}/no-such-repo.git'\n"
                                             "    revision: main\n")
    with pytest.raises(UsageError) as info:
        build(lh, "main", project, dbt_output="stderr")
    assert f"dbt deps --project-dir {project}" in (info.value.hint or "")
    assert lh.catalog.get_ref("main").hash == before


def test_dbt_deps_passes_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "project", f"packages:\n  - local: {UTILS}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["dbt", "deps", "--project-dir", str(project)])
    assert exc.value.code == 0
    assert (project / "dbt_packages" / "dbt_utils" / "dbt_project.yml").is_file()
    assert (project / "package-lock.yml").is_file()


def test_a_failed_package_test_publishes_nothing(tmp_path: Path) -> None:
    import pyarrow as pa

    lh = new_lakehouse(tmp_path / "lake")
    lh.ingest("raw.people", pa.table({"id": [1, 2], "first_name": ["a", "a"], "last_name": ["b", "b"]}))
    before = lh.catalog.get_ref("main").hash
    project = _project(tmp_path / "project", f"packages:\n  - local: {UTILS}\n")
    with pytest.raises(DbtRunFailed):
        build(lh, "main", project, dbt_output="stderr")
    assert lh.catalog.get_ref("main").hash == before
