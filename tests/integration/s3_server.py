"""An S3-compatible server (``moto_server`` from ``moto[server]``) for the integration tests.

It enforces IAM, as real S3 does: once the server is up, the first few unauthenticated calls
create two users — ``branchops``, allowed everything on the warehouse bucket, and ``outsider``,
allowed nothing — and from then on every request must be signed by one of them. The tests use
the first for the lakehouse and the second to prove that an access-denied error is reported
clearly and leaves nothing half-written.

Run by hand: ``python tests/integration/s3_server.py`` starts one and prints its endpoint.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services import ServerProcess, executable, free_port

REGION = "us-east-1"
BUCKET = "lakehouse"
#: unauthenticated calls allowed while setting up: create 2 users, 1 policy, 1 attach, 2 keys
SETUP_CALLS = 6
#: and per extra user (``start_s3(users=...)``): create user, policy, attach, key
CALLS_PER_USER = 4


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


@dataclass
class S3Server:
    endpoint: str
    region: str
    bucket: str
    admin: S3Credentials
    outsider: S3Credentials
    process: ServerProcess
    users: dict[str, S3Credentials] = field(default_factory=dict)

    @property
    def warehouse(self) -> str:
        return f"s3://{self.bucket}/warehouse"

    def client(self, creds: S3Credentials | None = None) -> Any:
        import boto3

        creds = creds or self.admin
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
        )

    def keys(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    def stop(self) -> None:
        self.process.stop()


def _ready(endpoint: str) -> bool:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2) as resp:
        return bool(resp.status == 200)


def _create_users(endpoint: str) -> tuple[S3Credentials, S3Credentials]:
    import boto3

    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="setup", aws_secret_access_key="setup",
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.create_user(UserName="branchops")
    arn = iam.create_policy(PolicyName="lakehouse-rw", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="branchops", PolicyArn=arn)
    iam.create_user(UserName="outsider")
    keys = [iam.create_access_key(UserName=u)["AccessKey"] for u in ("branchops", "outsider")]
    admin, outsider = (S3Credentials(k["AccessKeyId"], k["SecretAccessKey"]) for k in keys)
    return admin, outsider


def _create_extra_users(endpoint: str, users: dict[str, dict[str, Any]]) -> dict[str, S3Credentials]:
    import boto3

    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="setup", aws_secret_access_key="setup",
    )
    out = {}
    for name, policy in users.items():
        iam.create_user(UserName=name)
        arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        out[name] = S3Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    return out


def start_s3(
    workdir: Path, *, timeout: float = 60, users: dict[str, dict[str, Any]] | None = None
) -> S3Server:
    """Start ``moto_server`` with IAM enforced, create the users and the warehouse bucket.

    ``users``: more IAM users, each with its own policy document (``S3Server.users`` has their keys).
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(var, None)
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_CALLS + CALLS_PER_USER * len(users or {}))
    env["MOTO_ALLOW_NONEXISTENT_REGION"] = "true"
    process = ServerProcess.start(
        "moto_server", [executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        log=workdir / "moto.log", env=env,
    )
    process.wait_until(lambda: _ready(endpoint), timeout=timeout, interval=0.2)
    admin, outsider = _create_users(endpoint)
    extra = _create_extra_users(endpoint, users or {})
    server = S3Server(endpoint, REGION, BUCKET, admin, outsider, process, extra)
    server.client().create_bucket(Bucket=BUCKET)
    return server


if __name__ == "__main__":
    import sys
    import tempfile

    s3 = start_s3(Path(tempfile.mkdtemp(prefix="s3-")))
    print(f"S3_ENDPOINT={s3.endpoint} bucket={s3.bucket} admin={s3.admin}", flush=True)
    try:
        sys.stdin.read()
    finally:
        s3.stop()
