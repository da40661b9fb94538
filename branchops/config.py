"""One typed settings model: ``branchops.toml`` < ``BRANCHOPS_*`` environment < CLI flags.

Secrets (the Nessie token, Trino password, S3 keys) are read from the environment only and held
as :class:`~branchops.secrets.SecretStr`, so printing settings never shows them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from branchops.errors import ConfigError
from branchops.secrets import SecretStr

CONFIG_NAME = "branchops.toml"
ENV_PREFIX = "BRANCHOPS_"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """branchops' settings, checked and coerced when made (see :func:`_check`): a wrong type or
    value raises :class:`SettingsError` naming every bad field. A plain dataclass rather than a
    pydantic model: importing pydantic costs a quick command (``branch list``) a third of its start."""

    root: Path = field(default_factory=Path.cwd)  # folder of branchops.toml; relative paths start here
    backend: Literal["sql", "nessie"] = "sql"
    catalog_uri: str = "sqlite:///.branchops/catalog.db"
    warehouse: str = ".branchops/warehouse"
    main_branch: str = "main"
    protected: list[str] = field(default_factory=lambda: ["main"])
    engine: Literal["duckdb", "trino"] = "duckdb"
    target_schema: str = "analytics"
    threads: int | None = None
    author: str | None = None
    io_properties: dict[str, str] = field(default_factory=dict)
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

    def __post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        for f in fields(self):
            try:
                value = _check(str(f.type), getattr(self, f.name))  # annotations are text here (__future__)
            except _Bad as e:
                problems.append((f.name, str(e)))
                continue
            object.__setattr__(self, f.name, value)
        if problems:
            raise SettingsError(problems)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from a mapping (a config file's table): unknown keys are refused by name."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(k for k in values if k not in names)
        if unknown:
            raise SettingsError([(k, "not a setting") for k in unknown])
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``, checked like any Settings."""
        return dataclasses.replace(self, **changes)

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
    """The ``BRANCHOPS_<NAME>`` variables that are set, by setting: a list takes a JSON array or
    comma-separated text, a table a JSON object (anything else reaches the check as text and is
    refused there, by the variable's name); the rest stay text for the checks to coerce."""
    out: dict[str, Any] = {}
    for f in fields(Settings):
        name = f.name
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is None or name == "root":
            continue
        kind = str(f.type).replace(" ", "").removesuffix("|None")
        if kind.startswith(("list[", "dict[")):
            try:
                out[name] = json.loads(raw)
            except json.JSONDecodeError:
                out[name] = [v.strip() for v in raw.split(",") if v.strip()] if kind.startswith("list[") else raw
        else:
            out[name] = raw
    return out


def _settings_error(e: SettingsError, cfg_path: Path | None, env: Mapping[str, Any],
                    overrides: Mapping[str, Any]) -> ConfigError:
    """``e`` with each bad setting named, and where its value came from: its variable, the file, or
    the code (a Dagster resource's or `Lakehouse.open`'s arguments)."""
    def source(name: str) -> str:
        if name in overrides:
            return "passed in code"
        if name in env:
            return f"from ${ENV_PREFIX}{name.upper()}"
        return f"in {cfg_path}" if cfg_path else "a default"

    problems = [f"{name} ({source(name)}): {why}" for name, why in e.problems]
    to_fix = [f"${ENV_PREFIX}{name.upper()}" if name in env and name not in overrides else f"{name} ({source(name)})"
              for name, _ in e.problems]
    return ConfigError(f"invalid settings: {'; '.join(problems)}", unchanged="nothing was read or written",
                       hint=f"fix {', '.join(to_fix)}" + (
                           "; lists take a JSON array or comma-separated text, tables a JSON object"
                           if any(name in env for name, _ in e.problems) else ""))


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
    env = _env_values()
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(env)
    values.update(given)
    try:
        return Settings.from_values(values)
    except SettingsError as e:
        raise _settings_error(e, cfg_path, env, given) from None


def catalog_exists(settings: Settings) -> bool:
    """Whether the embedded catalog is there already: its SQLite file (or ``:memory:``). A
    PostgreSQL database is made by its server and a Nessie catalog is a server: both count as there."""
    if settings.backend != "sql":
        return True
    from branchops.catalog.sql.db import DatabaseUriError, SqliteDatabase, database_class, database_name

    url = settings.catalog_url
    try:
        if database_class(url) is not SqliteDatabase:
            return True
    except DatabaseUriError:
        return True  # opening it says what is wrong with the URI
    db = database_name(url)
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


class SettingsError(ValueError):
    """A setting of the wrong type or value (the message names each one, never a secret's value);
    ``problems``: (setting, what is wrong) pairs."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {why}" for name, why in problems))
        self.problems = tuple(problems)


class _Bad(Exception):
    pass


_TRUE, _FALSE = {"true", "1", "yes", "on", "t", "y"}, {"false", "0", "no", "off", "f", "n"}


def _check(annotation: str, value: Any) -> Any:
    """``value`` checked against a field's annotation (as written above), coerced where a config
    file or the environment gives text: numbers, booleans, paths and secrets."""
    kind, optional = annotation.replace(" ", ""), False
    if kind.endswith("|None"):
        kind, optional = kind[: -len("|None")], True
    if value is None:
        if optional:
            return None
        raise _Bad("a value is required")
    if kind.startswith("Literal["):
        allowed = [a.strip("'\"") for a in kind[len("Literal["):-1].split(",")]
        if value not in allowed:
            raise _Bad(f"must be one of {', '.join(repr(a) for a in allowed)}, not {value!r}")
        return value
    check = _CHECKS.get(kind)
    if check is None:  # pragma: no cover - a field of a new type needs a check here
        raise TypeError(f"no check for a setting of type {annotation}")
    return check(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"must be text, not {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad("must be a whole number, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise _Bad(f"must be a whole number, not {value!r}")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _Bad(f"must be true or false, not {value!r}")


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    return Path(_text(value))


def _secret(value: Any) -> SecretStr:
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    raise _Bad(f"must be text, not {type(value).__name__}")  # the value itself is never shown


def _text_list(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _Bad("must be a list of text")
    return list(value)


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _Bad("must be a table of text keys and text values")
    return dict(value)


_CHECKS = {"str": _text, "int": _int, "bool": _bool, "Path": _path, "SecretStr": _secret,
           "list[str]": _text_list, "dict[str,str]": _text_map}
