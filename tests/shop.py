"""The sample dbt project built on main: the setup the end-to-end PR tests start from."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from branchops import dbt
from branchops.config import Settings
from branchops.demo import load_demo_data
from branchops.lakehouse import Lakehouse

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def built_shop(root: Path, scale: float = 0.001) -> Iterator[tuple[Lakehouse, Path]]:
    """An embedded lakehouse in ``root`` with the demo raw data, main built by real dbt, and a
    checkout of the sample project (``root/dbt_project``) to edit."""
    settings = Settings(root=root, catalog_uri=f"sqlite:///{root / 'catalog.db'}", warehouse=str(root / "wh"),
                        threads=2)
    project = root / "dbt_project"
    shutil.copytree(ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    with Lakehouse(settings) as lh:
        load_demo_data(lh, scale)
        dbt.build(lh, "main", project, dbt_output="stderr")
        yield lh, project
