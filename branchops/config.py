"""One typed settings model: ``branchops.toml`` < ``BRANCHOPS_*`` environment < CLI flags.

Secrets (the Nessie token, Trino password, S3 keys) are read from the environment only and held
as ``SecretStr``, so printing settings never shows them.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from branchops.errors import ConfigError

CONFIG_NAME = "branchops.toml"
ENV_PREFIX = "BRANCHOPS_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path = Field(default_factory=Path.cwd, description="folder of branchops.toml; relative paths start here")
    backend: Literal["sql", "nessie"] = "sql"
    catalog_uri: str = "sqlite:///.branchops/catalog.db"
    warehouse: str = ".branchops/warehouse"
    main_branch: str = "main"
    protected: list[str] = Field(default_factory=lambda: ["main"])
    engine: Literal["duckdb", "trino"] = "duckdb"
    target_schema: str = "analytics"
    threads: int | None = None
    author: str | None = None
    io_properties: dict[str, str] = Field(default_factory=dict)
    # production stack
    nessie_uri: str | None = None
    nessie_token: SecretStr | None = None
    trino_uri: str | None = None
    trino_user: str = "branchops"
    trino_password: SecretStr | None = None
    trino_jwt: SecretStr | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    #: "dynamic": one CREATE CATALOG per branch; "static": one preconfigured Iceberg REST catalog
    #: (``trino_catalog``, at ``branchops serve``), the branch named in the schema: "analytics@pr-42"
    trino_catalogs: Literal["static", "dynamic"] = "dynamic"
    trino_catalog: str = "branchops"
    # PR lifecycle
    require_approval: bool = False
    pr_branch_prefix: str = "pr-"
    gc_ttl: str = "7d"
    gc_retention: str = "7d"
    # embedded catalog: refs (name patterns) given Iceberg JDBC rows when created; None = main_branch
    jdbc_refs: list[str] | None = None
    #: how long gc treats another host's write-audit-publish branch as in flight (see branchops.wap)
    gc_wap_lease: str = "24h"

    def resolve_path(self, value: str) -> str:
        """A path relative to the config folder made absolute; URIs are left alone."""
        if "://" in value:
            return value
        p = Path(value)
        return str(p if p.is_absolute() else (self.root / p).resolve())

    @property
    def warehouse_location(self) -> str:
        return self.resolve_path(self.warehouse)

    @property
    def catalog_url(self) -> str:
        prefix = "sqlite:///"
        if self.catalog_uri.startswith(prefix) and self.catalog_uri != prefix + ":memory:":
            return prefix + self.resolve_path(self.catalog_uri[len(prefix):])
        if self.catalog_uri.startswith(("postgresql://", "postgres://")):  # the driver the postgres extra installs
            return "postgresql+psycopg2://" + self.catalog_uri.split("://", 1)[1]
        return self.catalog_uri

    @property
    def author_name(self) -> str:
        return self.author or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "branchops"

    def catalog_kwargs(self) -> dict[str, Any]:
        return {
            "warehouse": self.warehouse_location,
            "protected": list(self.protected),
            "io_properties": self.file_io_properties(),
            "default_branch": self.main_branch,
        }

    def file_io_properties(self) -> dict[str, str]:
        props = dict(self.io_properties)
        if self.s3_endpoint:
            props.setdefault("s3.endpoint", self.s3_endpoint)
        if self.s3_region:
            props.setdefault("s3.region", self.s3_region)
        for env, key in (("AWS_ACCESS_KEY_ID", "s3.access-key-id"), ("AWS_SECRET_ACCESS_KEY", "s3.secret-access-key"),
                         ("AWS_SESSION_TOKEN", "s3.session-token")):
            if os.environ.get(env):
                props.setdefault(key, os.environ[env])
        return props


_SECRET_FIELDS = {"nessie_token", "trino_password", "trino_jwt"}


def _refuse_secret_io_properties(cfg_path: Path, props: Any) -> None:
    """A key of ``io_properties`` that holds a secret (named, its value never shown)."""
    from branchops.secrets import SECRET_IO_PROPERTIES

    leaked = sorted(str(k) for k in (props or {}) if isinstance(props, dict) and SECRET_IO_PROPERTIES.search(str(k)))
    if leaked:
        raise ConfigError(
            f"{cfg_path} holds secrets in io_properties ({', '.join(leaked)})",
            unchanged="nothing was read or written",
            hint="remove them from the file; S3 keys come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                 "(or BRANCHOPS_IO_PROPERTIES in the environment)",
        )


def find_config(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _env_values() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is None or name == "root":
            continue
        ann = str(field.annotation)
        if "list" in ann or "dict" in ann:
            try:
                out[name] = json.loads(raw)
            except json.JSONDecodeError:
                out[name] = [v.strip() for v in raw.split(",") if v.strip()]
        else:
            out[name] = raw
    return out


def load_settings(path: str | Path | None = None, *, required: bool = True, **overrides: Any) -> Settings:
    """Settings from the config file (``path``, ``$BRANCHOPS_CONFIG`` or found upwards), env, overrides.

    Raises:
        ConfigError: no config file where one is required, or a file or value that is invalid.
    """
    explicit = path or os.environ.get(ENV_PREFIX + "CONFIG")
    cfg_path = Path(explicit) if explicit else find_config()
    values: dict[str, Any] = {}
    if cfg_path is not None:
        if not cfg_path.is_file():
            raise ConfigError(f"config file {cfg_path} does not exist", hint="run `branchops init` or fix --config")
        try:
            data = tomllib.loads(cfg_path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{cfg_path} is not valid TOML: {e}", hint="fix the file and retry") from e
        values.update(data.get("branchops", data))
        leaked = _SECRET_FIELDS & set(values)
        if leaked:
            raise ConfigError(
                f"{cfg_path} holds secret settings ({', '.join(sorted(leaked))})",
                hint="remove them from the file and set them as BRANCHOPS_<NAME> environment variables",
            )
        _refuse_secret_io_properties(cfg_path, values.get("io_properties"))
        values["root"] = cfg_path.parent.resolve()
    elif required:
        raise ConfigError(
            f"no {CONFIG_NAME} found in {Path.cwd()} or its parents",
            unchanged="nothing was read or written",
            hint="run `branchops init` here, or pass --config PATH",
        )
    values.update(_env_values())
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"invalid settings: {problems}", hint=f"fix {cfg_path or 'the environment'}") from None


def catalog_exists(settings: Settings) -> bool:
    """Whether the embedded catalog is there already: its SQLite file (or ``:memory:``). A
    PostgreSQL database is made by its server and a Nessie catalog is a server: both count as there."""
    prefix = "sqlite:///"
    url = settings.catalog_url
    if settings.backend != "sql" or not url.startswith(prefix):
        return True
    db = url[len(prefix):].split("?", 1)[0]
    return db in ("", ":memory:") or Path(db).is_file()


def write_default_config(folder: Path, **values: Any) -> Path:
    """Write a fresh ``branchops.toml`` (fails if one is there)."""
    path = folder / CONFIG_NAME
    lines = ["# branchops settings; BRANCHOPS_<KEY> environment variables override these.", "[branchops]"]
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    with path.open("x") as f:
        f.write("\n".join(lines) + "\n")
    return path
