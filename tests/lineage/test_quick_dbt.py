"""lineage/quick.py against dbt's own compile (real dbt-core + dbt-duckdb) on a small project
of the odd inputs: CRLF line endings, leading/trailing whitespace, a ``ref`` in a SQL string or
comment, odd spacing, two-argument refs, a package's models (one shadowed by a disabled model of
the project), seeds, block and YAML snapshots, alias/schema/database configs and
``generate_schema_name``/``generate_alias_name`` overrides. Every SQL it renders is dbt's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from branchops.lineage.quick import render

pytestmark = pytest.mark.slow

FILES = {
    "dbt_project.yml": "name: p\nversion: '1.0.0'\nconfig-version: 2\nprofile: p\n"
                       "models:\n  p:\n    +materialized: table\n    sub:\n      +schema: other\n",
    "packages.yml": "packages:\n  - local: pkg\n",
    "pkg/dbt_project.yml": "name: pkg\nversion: '1.0.0'\nconfig-version: 2\n"
                           "models:\n  pkg:\n    +materialized: table\n    +schema: pk\n",
    "pkg/models/pkg_model.sql": "select 7 as id\n",
    "pkg/models/dup.sql": "select 8 as id\n",
    "seeds/s1.csv": "id,v\n1,2\n",
    "macros/names.sql": (
        "{% macro generate_schema_name(custom_schema_name, node) -%}\n"
        "{%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}x_{{ custom_schema_name | trim }}"
        "{%- endif -%}\n{%- endmacro %}\n"
        "{% macro generate_alias_name(custom_alias_name=none, node=none) -%}\n"
        "{%- if node.name == 'gan' -%}renamed_{{ node.name }}{%- elif custom_alias_name -%}"
        "{{ custom_alias_name | trim }}{%- else -%}{{ node.name }}{%- endif -%}\n{%- endmacro %}\n"),
    "models/hub.sql": "select 1 as id, 2 as v\n\n\n",
    "models/trail.sql": 'select id from {{ ref("hub") }}  \n',
    "models/crlf.sql": "select id, 'a\r\nb' as s\r\nfrom {{ ref('hub') }}\r\n",
    "models/odd.sql": "select '{{ ref(\"hub\") }}' as s, id from {{ref ( 'hub' )}} -- {{ ref('hub') }}",
    "models/cfg.sql": "{{ config(alias='aliased', schema='sch', database='db') }}\nselect * from {{ ref('s1') }}\n",
    "models/two.sql": "select * from {{ ref('p', 'cfg') }} join {{ ref('sub_m') }} using (id)\n",
    "models/sub/sub_m.sql": "select 1 as id\n",
    "models/lead.sql": "\n\n  \tselect * from {{ ref('pkg_model') }} join {{ ref('pkg', 'pkg_model') }} using (id)\n",
    "models/dup.sql": "{{ config(enabled=false) }}\nselect 9 as id\n",
    "models/use_dup.sql": "select * from {{ ref('dup') }}\n",
    "models/gan.sql": "select 1 as id\n",
    "models/use_gan.sql": "select * from {{ ref('gan') }}\n",
    "models/v.sql": "{{ config(materialized='view') }}\n\nselect * from {{ ref('hub') }}\n\n",
    "models/from_snap.sql": "select * from {{ ref('snap') }}\n",
    "models/from_ysnap.sql": "select * from {{ ref('ysnap') }}\n",
    "snapshots/snap.sql": "{% snapshot snap %}\n{{ config(target_schema='snaps', unique_key='id', strategy='check',"
                          " check_cols='all') }}\nselect * from {{ ref('hub') }}\n{% endsnapshot %}\n",
    "models/snaps.yml": "snapshots:\n  - name: ysnap\n    relation: ref('hub')\n    config:\n      unique_key: id\n"
                        "      strategy: check\n      check_cols: all\n      schema: snaps\n",
}


def test_what_render_accepts_is_what_dbt_compiles(tmp_path: Path) -> None:
    from branchops.dbt.invocation import invoke

    project = tmp_path / "p"
    for name, text in FILES.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(text.encode())
    (project / "profiles.yml").write_text(json.dumps({"p": {"target": "dev", "outputs": {"dev": {
        "type": "duckdb", "path": str(tmp_path / "p.duckdb"), "threads": 1}}}}))
    common = ["--project-dir", str(project), "--profiles-dir", str(project), "--quiet", "--log-level-file", "none",
              "--no-send-anonymous-usage-stats"]
    assert invoke(["deps", *common]).success
    assert invoke(["parse", *common]).success
    parsed = json.loads((project / "target" / "manifest.json").read_text())
    assert invoke(["compile", *common]).success
    compiled = json.loads((project / "target" / "manifest.json").read_text())["nodes"]
    rendered = {uid: render(n, parsed) for uid, n in parsed["nodes"].items()
                if n["resource_type"] in ("model", "snapshot")}
    for uid, sql in rendered.items():
        if sql is not None:
            assert sql == compiled[uid]["compiled_code"], uid
    # hand-read: everything but the CRLF file (dbt's Jinja turns its line breaks, in the string too, into \n)
    assert {uid for uid, sql in rendered.items() if sql is None} == {"model.p.crlf"}
    assert compiled["model.p.crlf"]["compiled_code"] == "select id, 'a\nb' as s\nfrom \"p\".\"main\".\"hub\""
    assert compiled["model.p.use_dup"]["compiled_code"] == 'select * from "p"."x_pk"."dup"'  # the package's
