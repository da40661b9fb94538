"""The Trino engine's pure parts: catalog names, catalog properties, dbt-trino profiles, auth
checks and Arrow types. The engine against a real Trino is in tests/integration."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from branchops.config import Settings
from branchops.engine.trino import (
    TrinoConnectionInfo,
    arrow_type,
    catalog_name,
    dbt_profile_output,
    iceberg_catalog_properties,
    lakehouse_scope,
    root_cause,
    rows_to_arrow,
)
from branchops.errors import ConfigError
from branchops.secrets import SecretStr, redact


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "root": Path("/tmp"), "backend": "nessie", "nessie_uri": "http://nessie:19120/api/v2",
        "warehouse": "s3://lake/warehouse", "engine": "trino", "trino_uri": "http://trino:8080",
        "s3_endpoint": "http://minio:9000", "s3_region": "eu-west-1",
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def test_catalog_names_are_deterministic_sanitized_and_scoped() -> None:
    a = catalog_name("team/Feature.X-1", scope="s1")
    assert a == catalog_name("team/Feature.X-1", scope="s1")
    assert a.startswith("b_team_feature_x_1_") and len(a.rsplit("_", 1)[1]) == 8
    assert a != catalog_name("team/Feature.X-1", scope="s2")
    assert catalog_name("team/feature-x-1", scope="s1") != catalog_name("team/feature.x.1", scope="s1")
    assert len(catalog_name("x" * 200)) <= 2 + 40 + 1 + 8


def test_catalog_properties_follow_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    props = iceberg_catalog_properties(settings(), "pr-7")
    assert props == {
        "iceberg.catalog.type": "nessie",
        "iceberg.nessie-catalog.uri": "http://nessie:19120/api/v2",
        "iceberg.nessie-catalog.ref": "pr-7",
        "iceberg.nessie-catalog.default-warehouse-dir": "s3://lake/warehouse",
        "fs.native-s3.enabled": "true",
        "s3.endpoint": "http://minio:9000",
        "s3.region": "eu-west-1",
        "s3.path-style-access": "true",
    }
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-key")
    with_keys = iceberg_catalog_properties(settings(nessie_token=SecretStr("tok-123456")), "main")
    assert with_keys["s3.aws-access-key"] == "AKIAEXAMPLEKEY"
    assert with_keys["s3.aws-secret-key"] == "very-secret-key"
    assert with_keys["iceberg.nessie-catalog.authentication.type"] == "BEARER"
    assert redact(str(with_keys)).count("***") >= 2  # both secrets are known to redact()
    scope = lakehouse_scope(settings(nessie_token=SecretStr("tok-123456")))
    assert "very-secret-key" not in scope and "tok-123456" not in scope and "AKIAEXAMPLEKEY" in scope


def test_real_aws_needs_no_endpoint_or_path_style() -> None:
    props = iceberg_catalog_properties(settings(s3_endpoint=None, s3_region="us-east-1"), "main")
    assert "s3.endpoint" not in props and "s3.path-style-access" not in props


def test_trino_needs_the_nessie_backend() -> None:
    with pytest.raises(ConfigError, match="Nessie backend"):
        iceberg_catalog_properties(settings(backend="sql", nessie_uri=None), "main")


@pytest.mark.parametrize(
    ("uri", "host", "port", "scheme"),
    [
        ("http://trino:8080", "trino", 8080, "http"),
        ("https://example.galaxy.starburst.io", "example.galaxy.starburst.io", 443, "https"),
        ("trino.local:8081", "trino.local", 8081, "http"),
    ],
)
def test_connection_info_from_uri(uri: str, host: str, port: int, scheme: str) -> None:
    info = TrinoConnectionInfo.from_settings(settings(trino_uri=uri))
    assert (info.host, info.port, info.http_scheme, info.method) == (host, port, scheme, "none")


def test_credentials_need_https_and_never_show() -> None:
    with pytest.raises(ConfigError, match="https") as err:
        TrinoConnectionInfo.from_settings(settings(trino_password=SecretStr("pa55-word-x")))
    assert "pa55-word-x" not in str(err.value)
    with pytest.raises(ConfigError, match="both"):
        TrinoConnectionInfo.from_settings(
            settings(trino_uri="https://t", trino_password=SecretStr("p-12345"), trino_jwt=SecretStr("j-12345"))
        )
    info = TrinoConnectionInfo.from_settings(settings(trino_uri="https://t", trino_jwt=SecretStr("eyJ-secret")))
    assert info.method == "jwt" and "eyJ-secret" not in repr(info)
    with pytest.raises(ConfigError, match="trino_uri"):
        TrinoConnectionInfo.from_settings(settings(trino_uri=None))


def test_dbt_profile_for_a_branch() -> None:
    out = dbt_profile_output(settings(target_schema="marts", threads=3), "pr-42")
    assert out == {
        "type": "trino", "method": "none", "host": "trino", "port": 8080, "http_scheme": "http",
        "user": "branchops", "database": catalog_name("pr-42", scope=lakehouse_scope(settings())),
        "schema": "marts", "threads": 3,
    }
    ldap = dbt_profile_output(settings(trino_uri="https://t:8443", trino_password=SecretStr("pw-123456")), "main")
    assert ldap["method"] == "ldap" and ldap["password"] == "{{ env_var('BRANCHOPS_TRINO_PASSWORD') }}"
    jwt = dbt_profile_output(settings(trino_uri="https://t", trino_jwt=SecretStr("jwt-123456")), "main",
                             schema="s", threads=1)
    assert jwt["method"] == "jwt" and jwt["jwt_token"] == "{{ env_var('BRANCHOPS_TRINO_JWT') }}"
    assert "jwt-123456" not in str(jwt) and (jwt["schema"], jwt["threads"]) == ("s", 1)


def test_arrow_types_of_trino_columns() -> None:
    assert arrow_type("varchar(12)") == pa.string()
    assert arrow_type("decimal(10, 2)") == pa.decimal128(10, 2)
    assert arrow_type("timestamp(6)") == pa.timestamp("us")
    assert arrow_type("timestamp(3) with time zone") == pa.timestamp("us", tz="UTC")
    assert arrow_type("time(3)") == pa.time64("us")
    assert arrow_type("array(integer)") is None
    tbl = rows_to_arrow([("id", "bigint"), ("id", "varchar")], [[1, "a"], [None, None]])
    assert tbl.column_names == ["id", "id_"] and tbl.schema.field("id").type == pa.int64()


def test_root_cause_is_the_innermost_message() -> None:
    info = {"message": "outer", "cause": {"message": "middle", "cause": {"message": "Access Denied (403)"}}}
    assert root_cause(info) == "Access Denied (403)"
    assert root_cause(None) is None
