"""Markdown within the PR-comment limit, JSON shape, and the CLI's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from branchops.cli.app import main
from branchops.config import Settings, load_settings
from branchops.diff import diff_refs, render_markdown
from branchops.diff.model import ChangedRow, Samples
from branchops.lakehouse import Lakehouse
from branchops.project_init import init_project
from tests.diff.conftest import write


def run(cfg: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ex:
        main(["--config", str(cfg), *args])
    out, err = capsys.readouterr()
    return int(ex.value.code or 0), out, err


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path)
    cfg = tmp_path / "branchops.toml"
    lh = Lakehouse(load_settings(cfg))
    write(lh, "raw.orders", [{"order_id": i, "amount": float(i)} for i in range(20)])
    write(lh, "mart.same", [{"x": 1}])
    lh.catalog.create_branch("feat", "main")
    lh.catalog.create_branch("same", "main")
    write(lh, "raw.orders", [{"order_id": i, "amount": float(i) + (i % 4 == 0)} for i in range(1, 22)],
          branch="feat", mode="overwrite")
    lh.close()
    return cfg


def test_cli_json_exit_codes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(project, "diff", "feat", "--key", "raw.orders=order_id", "-o", "json", capsys=capsys)
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"base", "head", "tables"} and data["base"]["ref"] == "main"
    t = data["tables"][0]
    assert set(t) >= {"table", "status", "key", "method", "schema", "rows", "columns", "profiles", "samples"}
    assert t["rows"] == {"base": 20, "head": 21, "added": 2, "removed": 1, "changed": 4}
    assert t["columns"] == {"amount": {"changed": 4}} and t["key"] == ["order_id"]
    code, *_ = run(project, "diff", "feat", "--fail-on-change", capsys=capsys)
    assert code == 1
    code, out, _ = run(project, "diff", "same", "--fail-on-change", "--all", "-o", "json", capsys=capsys)
    assert code == 0 and {t["status"] for t in json.loads(out)["tables"]} == {"unchanged"}
    code, _, err = run(project, "diff", "feat", "--key", "raw.orders=nope", capsys=capsys)
    assert code == 2 and "no column nope" in err
    code, _, err = run(project, "diff", "nope", capsys=capsys)
    assert code == 2 and "nope" in err
    code, out, _ = run(project, "diff", "feat", "--tables", "raw.*", "-o", "markdown", capsys=capsys)
    assert code == 0 and "| raw.orders | modified |" in out
    code, out, _ = run(project, "diff", "feat", capsys=capsys)
    assert code == 0 and "raw.orders" in out


def test_markdown_is_cut_to_the_limit_least_important_first(project: Path) -> None:
    lh = Lakehouse(load_settings(project))
    r = diff_refs(lh, "main", "feat", keys={"raw.orders": ("order_id",)}, sample=50)
    lh.close()
    full = render_markdown(r)
    assert "sample changed rows" in full and "Detail trimmed" not in full
    t = r.tables[0]
    big = Samples(added=tuple({"order_id": i, "amount": "y" * 200} for i in range(400)),
                  changed=tuple(ChangedRow({"order_id": i}, {"amount": 1.0}, {"amount": 2.0}) for i in range(400)))
    many = type(r)(r.base, r.head, tuple(type(t)(**{**t.__dict__, "table": f"mart.t{i}", "samples": big})
                                         for i in range(60)))
    md = render_markdown(many)
    assert len(md.encode()) <= 65_535 and "Detail trimmed" in md and "| mart.t59 |" in md
    tiny = render_markdown(many, max_bytes=3_000)
    assert len(tiny.encode()) <= 3_000 and "summary rows omitted" in tiny
    assert json.loads(json.dumps(many.to_dict()))["tables"][0]["samples"]["changed"][0]["head"] == {"amount": 2.0}


def test_markdown_empty(tmp_path: Path) -> None:
    lh = Lakehouse(Settings(root=tmp_path))
    write(lh, "raw.t", pa.table({"x": [1]}))
    assert "No table differs." in render_markdown(diff_refs(lh, "main", "main"))
    lh.close()
