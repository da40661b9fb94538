"""Where Trino is and what a branch's Trino catalog looks like: pure functions of the settings.

Connection info and auth checks, the deterministic catalog name of a branch, the ``CREATE
CATALOG`` properties of its Iceberg-on-Nessie catalog, and the dbt-trino profile that builds
into it. :mod:`branchops.engine.trino` runs them against a server.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from branchops.errors import ConfigError
from branchops.secrets import redact, register_secret
from branchops.sql_text import quote

if TYPE_CHECKING:
    from collections.abc import Mapping

    from trino.dbapi import Connection

    from branchops.config import Settings

AuthMethod = Literal["none", "ldap", "jwt"]

#: pyiceberg FileIO property -> Trino native S3 file system property
_S3_PROPERTIES = {
    "s3.endpoint": "s3.endpoint",
    "s3.region": "s3.region",
    "s3.access-key-id": "s3.aws-access-key",
    "s3.secret-access-key": "s3.aws-secret-key",
}
SECRET_PROPERTIES = frozenset({"s3.aws-secret-key", "iceberg.nessie-catalog.authentication.token"})


@dataclass(frozen=True)
class TrinoConnectionInfo:
    """Where Trino is and how to log in; built from :class:`~branchops.config.Settings`."""

    host: str
    port: int
    http_scheme: Literal["http", "https"]
    user: str
    password: str | None = field(default=None, repr=False)
    jwt: str | None = field(default=None, repr=False)

    @property
    def method(self) -> AuthMethod:
        return "jwt" if self.jwt else "ldap" if self.password else "none"

    @classmethod
    def from_settings(cls, settings: Settings) -> TrinoConnectionInfo:
        """Raises ConfigError: no or a malformed ``trino_uri``, or a password / JWT over plain http."""
        if not settings.trino_uri:
            raise ConfigError(
                "engine = 'trino' needs trino_uri",
                hint="set trino_uri in branchops.toml (e.g. https://trino.example.com:443) or BRANCHOPS_TRINO_URI",
            )
        parts = urlsplit(settings.trino_uri if "://" in settings.trino_uri else f"http://{settings.trino_uri}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"trino_uri {redact(settings.trino_uri)!r} is not an http(s) URL",
                hint="write it as http://host:8080 or https://host[:443]",
            )
        scheme: Literal["http", "https"] = "https" if parts.scheme == "https" else "http"
        password = settings.trino_password.get_secret_value() if settings.trino_password else None
        jwt = settings.trino_jwt.get_secret_value() if settings.trino_jwt else None
        register_secret(password)
        register_secret(jwt)
        if password and jwt:
            raise ConfigError(
                "both BRANCHOPS_TRINO_PASSWORD and BRANCHOPS_TRINO_JWT are set",
                hint="keep the one your Trino authenticates with (JWT for Starburst Galaxy) and unset the other",
            )
        if (password or jwt) and scheme != "https":
            raise ConfigError(
                "Trino only accepts a password or JWT over https, and trino_uri is http",
                unchanged="nothing was sent to Trino",
                hint="use the https:// address of your Trino (or unset the credential for an open test server)",
            )
        port = parts.port or (443 if scheme == "https" else 8080)
        return cls(parts.hostname, port, scheme, settings.trino_user, password, jwt)

    def connect(self, *, catalog: str | None = None, schema: str | None = None) -> Connection:
        import trino.auth
        import trino.dbapi

        auth: trino.auth.Authentication | None = None
        if self.jwt:
            auth = trino.auth.JWTAuthentication(self.jwt)
        elif self.password:
            auth = trino.auth.BasicAuthentication(self.user, self.password)
        kwargs: dict[str, Any] = {"catalog": catalog, "schema": schema} if catalog else {}
        conn: Connection = trino.dbapi.connect(  # type: ignore[no-untyped-call]
            host=self.host, port=self.port, user=self.user, http_scheme=self.http_scheme, auth=auth,
            source="branchops", **kwargs,
        )
        return conn


def catalog_name(ref: str, *, scope: str = "") -> str:
    """The Trino catalog of branch ``ref``: ``b_<sanitized ref>_<hash of scope and ref>``.

    ``scope`` names the lakehouse (:func:`lakehouse_scope`), so that two lakehouses on one Trino
    get different catalogs for their ``main``.
    """
    clean = re.sub(r"[^a-z0-9]+", "_", ref.lower()).strip("_")[:40] or "ref"
    digest = hashlib.sha256(f"{scope}\n{ref}".encode()).hexdigest()[:8]
    return f"b_{clean}_{digest}"


#: separates a schema from the branch it is read on, in static mode: ``"analytics@pr-42"``
BRANCH_SEPARATOR = "@"


def is_static(settings: Settings) -> bool:
    """One preconfigured Iceberg REST catalog for every branch (``trino_catalogs = "static"``)."""
    return settings.trino_catalogs == "static"


def branch_schema(schema: str, ref: str) -> str:
    """The schema of the static catalog that holds ``schema`` as it is on branch ``ref``.

    ``branchops serve`` reads the branch from the namespace (``analytics@pr-42``). Trino
    lowercases unquoted and quoted schema names alike, so branch names are lowercase there.
    """
    return f"{schema}{BRANCH_SEPARATOR}{ref}"


def qualify_for_branch(sql: str, ref: str, default_schema: str) -> str:
    """``sql`` with every ``ns.table`` (and bare ``table``) that names no catalog rewritten to
    the static catalog's ``"ns@ref".table``, so a query written against a branch's tables
    (``select * from raw.orders``) reads them on ``ref``. CTE names are left alone."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="trino")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.args.get("catalog") or (not table.db and table.name in ctes) or not table.name:
            continue
        schema = table.db or default_schema
        table.set("db", exp.to_identifier(branch_schema(schema, ref), quoted=True))
    return tree.sql(dialect="trino")


def bi_relation(settings: Settings, branch: str, table: str) -> str | None:
    """The ``catalog.schema.table`` a BI tool on Trino (Superset) reads for ``table`` on ``branch``.

    Static catalogs: ``lake."analytics@pr-42".orders``, in the one catalog every PR shares, so one
    BI database connection previews every PR. Dynamic: the branch's own catalog (while the branch
    lives). None for an engine other than Trino.
    """
    if settings.engine != "trino":
        return None
    ns, _, name = table.rpartition(".")
    if is_static(settings):
        return f"{settings.trino_catalog}.{quote(branch_schema(ns, branch))}.{name}"
    try:
        return f"{quote(catalog_name(branch, scope=lakehouse_scope(settings)))}.{ns}.{name}"
    except ConfigError:
        return None


def static_catalog_properties(settings: Settings, rest_uri: str, *, token: str | None = None) -> dict[str, str]:
    """``etc/catalog/<trino_catalog>.properties`` of the one static catalog (for an administrator:
    Trino reads it at start). S3 settings as for the dynamic catalogs; keys only when set."""
    props = {"connector.name": "iceberg", "iceberg.catalog.type": "rest", "iceberg.rest-catalog.uri": rest_uri}
    if token:
        props["iceberg.rest-catalog.security"] = "OAUTH2"
        props["iceberg.rest-catalog.oauth2.token"] = token
        register_secret(token)
    if settings.warehouse_location.startswith(("s3://", "s3a://")):
        props.update(_s3_properties(settings))
    return props


def _s3_properties(settings: Settings) -> dict[str, str]:
    io = settings.file_io_properties()
    props = {"fs.native-s3.enabled": "true"}
    for ours, theirs in _S3_PROPERTIES.items():
        if io.get(ours):
            props[theirs] = io[ours]
    if io.get("s3.endpoint") and io.get("s3.force-virtual-addressing", "false").lower() != "true":
        props["s3.path-style-access"] = "true"
    return props


def iceberg_catalog_properties(
    settings: Settings, ref: str, *, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``CREATE CATALOG`` properties of the Iceberg-on-Nessie catalog for branch ``ref``.

    S3 settings come from :meth:`Settings.file_io_properties` (the same endpoint, region and
    keys pyiceberg uses); with no keys there, Trino uses its own AWS credentials.
    """
    if settings.backend != "nessie" or not settings.nessie_uri:
        raise ConfigError(
            "engine = 'trino' works on the Nessie backend, and backend/nessie_uri are not set for it",
            hint="set backend = 'nessie' and nessie_uri (e.g. http://nessie:19120/api/v2) in branchops.toml",
        )
    props = {
        "iceberg.catalog.type": "nessie",
        "iceberg.nessie-catalog.uri": settings.nessie_uri,
        "iceberg.nessie-catalog.ref": ref,
        "iceberg.nessie-catalog.default-warehouse-dir": settings.warehouse_location,
    }
    if settings.nessie_token:
        props["iceberg.nessie-catalog.authentication.type"] = "BEARER"
        props["iceberg.nessie-catalog.authentication.token"] = settings.nessie_token.get_secret_value()
    if settings.warehouse_location.startswith(("s3://", "s3a://")):
        props.update(_s3_properties(settings))
    props.update(extra or {})
    for key in SECRET_PROPERTIES:
        register_secret(props.get(key))
    return props


def dbt_profile_output(
    settings: Settings, ref: str, *, schema: str | None = None, threads: int | None = None,
    catalog: str | None = None,
) -> dict[str, Any]:
    """The dbt-trino target (one entry of a profile's ``outputs``) that builds into branch ``ref``.

    Secrets go in as ``env_var()`` references, never as values, so a written ``profiles.yml``
    holds none: dbt reads them from the same environment variables branchops does.
    """
    info = TrinoConnectionInfo.from_settings(settings)
    if is_static(settings):  # one catalog; the branch is in the schema
        catalog = settings.trino_catalog
        schema = branch_schema(schema or settings.target_schema, ref)
    output: dict[str, Any] = {
        "type": "trino",
        "method": info.method,
        "host": info.host,
        "port": info.port,
        "http_scheme": info.http_scheme,
        "user": info.user,
        "database": catalog or catalog_name(ref, scope=lakehouse_scope(settings)),
        "schema": schema or settings.target_schema,
        "threads": threads or settings.threads or 4,
    }
    if info.method == "ldap":
        output["password"] = "{{ env_var('BRANCHOPS_TRINO_PASSWORD') }}"
    elif info.method == "jwt":
        output["jwt_token"] = "{{ env_var('BRANCHOPS_TRINO_JWT') }}"
    return output


def lakehouse_scope(settings: Settings) -> str:
    """What a branch's catalog name depends on besides the ref: every non-secret property.

    New S3 keys (a new key id) or another endpoint give new catalog names, so a catalog made
    with stale settings is never reused.
    """
    props = iceberg_catalog_properties(settings, "")
    return "\n".join(f"{k}={v}" for k, v in sorted(props.items()) if k not in SECRET_PROPERTIES)
