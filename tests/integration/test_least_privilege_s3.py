"""A PR job's S3 credentials confined to its branch's prefix, on moto with IAM enforced.

The ``pr`` user gets the README's policy: read the whole bucket, put objects only under
``<warehouse>/branches/pr-*``, delete nothing. With those keys a PR job writes its branch (its
new files land under its prefix), and is refused writing main and deleting a shared file —
with nothing changed, in the catalog or the bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from prod_cli import Cli, write_config
from s3_server import BUCKET, S3Server, start_s3

from branchops.config import Settings
from branchops.lakehouse import Lakehouse

pytestmark = pytest.mark.integration

WAREHOUSE = "warehouse/lp"


def pr_policy(bucket: str, warehouse_key: str) -> dict[str, object]:
    """The README's PR-job policy (an IAM policy; as a bucket policy add a Principal)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadEverything", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
            {"Sid": "WriteOwnPrefix", "Effect": "Allow",
             "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
             "Resource": [f"arn:aws:s3:::{bucket}/{warehouse_key}/branches/pr-*"]},
        ],
    }


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3(tmp_path_factory.mktemp("s3-lp"), users={"pr": pr_policy(BUCKET, WAREHOUSE)})
    try:
        yield server
    finally:
        server.stop()


def _as(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_pr_credentials_write_only_their_prefix(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = f"s3://{s3.bucket}/{WAREHOUSE}"  # the server is this module's: no other test shares it
    key_prefix = warehouse.removeprefix(f"s3://{s3.bucket}/")
    settings = Settings(root=tmp_path, catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=warehouse,
                        s3_endpoint=s3.endpoint, s3_region=s3.region)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    # the merge / nightly job (all of the bucket): production data on main, a PR branch
    _as(monkeypatch, s3.admin.env())
    with Lakehouse(settings) as lh:
        lh.ingest("raw.orders", pa.table({"id": [1, 2, 3, 4, 5]}))
        lh.catalog.create_branch("pr-3")
    shared = s3.keys(key_prefix)
    assert shared and not any("/branches/" in k for k in shared)

    # the PR job: its branch, a table shared with main and one of its own
    _as(monkeypatch, s3.users["pr"].env())
    with Lakehouse(settings) as lh:
        lh.ingest("raw.orders", pa.table({"id": [6, 7]}), branch="pr-3")
        lh.ingest("raw.extra", pa.table({"x": ["a"]}), branch="pr-3")
        assert sorted(lh.read("raw.orders", "pr-3")["id"].to_pylist()) == [1, 2, 3, 4, 5, 6, 7]
        main_head, main_tables = lh.catalog.get_ref("main").hash, lh.catalog.tables("main")
    new = set(s3.keys(key_prefix)) - set(shared)
    assert new and all(k.startswith(f"{key_prefix}/branches/pr-3/") for k in new), new
    objects = s3.keys(key_prefix)

    # ... and not main: S3 refuses the files, the CLI says so (exit 1), nothing changes
    cli = Cli(write_config(settings, tmp_path, catalog_uri=settings.catalog_uri))
    csv = tmp_path / "more.csv"
    csv.write_text("id\n9\n")
    refused = cli.run("--output", "json", "ingest", "raw.orders", str(csv), env=s3.users["pr"].env())
    assert refused.returncode == 1, refused.stderr
    body = json.loads(refused.stdout)
    assert body["error"] == "BackendError" and "denied" in body["message"].lower(), body
    assert s3.users["pr"].secret_access_key not in refused.stdout + refused.stderr
    with Lakehouse(settings) as lh:
        assert lh.catalog.get_ref("main").hash == main_head and lh.catalog.tables("main") == main_tables
    assert s3.keys(key_prefix) == objects

    # deleting or overwriting a shared file (one main reads) is refused too
    victim = next(k for k in shared if k.endswith(".parquet"))
    pr_client = s3.client(s3.users["pr"])
    for attempt in (lambda: pr_client.delete_object(Bucket=s3.bucket, Key=victim),
                    lambda: pr_client.put_object(Bucket=s3.bucket, Key=victim, Body=b"tampered")):
        with pytest.raises(Exception, match="AccessDenied"):
            attempt()
    assert s3.client().get_object(Bucket=s3.bucket, Key=victim)["Body"].read()[:4] == b"PAR1"
    assert s3.keys(key_prefix) == objects
