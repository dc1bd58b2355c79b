"""The one place that reads the environment (and `.env`); both processes get the same Settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The default database's folder: the one folder a process creates for its database by itself.
INSTANCE_FOLDER = PROJECT_ROOT / "instance"
DEFAULT_DATABASE_URL = f"sqlite:///{INSTANCE_FOLDER / 'rx_jobtracker.sqlite3'}"
DEFAULT_LAB_FILE = Path(__file__).with_name("lab.toml")
DEFAULT_SCENARIO_FOLDER = Path(__file__).with_name("scenarios")
UTC_ZONE = ZoneInfo("UTC")


class SettingsError(Exception):
    """A setting has a value the processes cannot start with."""


@dataclass(frozen=True)
class Settings:
    """Everything the API and the tracker read from their environment, parsed once."""

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 4567
    database_timeout: float = 10.0
    # Connections an API process keeps per engine (it has two), and never more: a request holds
    # one for about a millisecond, so a few serve a worker's 32 threads, and the deployments
    # docs/deploying.md shows fit PostgreSQL's default max_connections with room to spare.
    database_pool_size: int = 4
    tracker_interval: float = 5.0
    tracker_batch_size: int = 1000
    tracker_id: str | None = None
    lab_file: Path = DEFAULT_LAB_FILE
    lab_timezone: ZoneInfo = UTC_ZONE
    log_level: str = "INFO"
    log_format: str = "text"
    # Access: API keys for /api/v2, the simulator's own admin key, and whether /api/sim exists.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    sim_admin_key: str | None = field(default=None, repr=False)
    sim_api: bool = True
    cors_origins: tuple[str, ...] = ()
    complete_requires_tracker: bool = False
    # On by default: each worker writes its entries in batches, in the background
    # (api.sim.journal_writer), so a call no longer waits for a second write (docs/benchmarks.md).
    journal: bool = True
    journal_size: int = 10_000
    # Entries a worker holds while the database is busy or down; past it, new ones are dropped
    # and counted (rx_journal_dropped_total).
    journal_buffer: int = 10_000
    tracker_metrics_port: int | None = None
    # A scenario (its name in the folder) loaded in place of the orders when the API starts.
    scenario: str | None = None
    scenario_folder: Path = DEFAULT_SCENARIO_FOLDER
    # Whether a tracker also runs the Remote Order Processor (imports submitted orders).
    remote_order_processor: bool = True

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | Path | None = ".env",
        overrides: Mapping[str, str] | None = None,
    ) -> Settings:
        """Read settings from `environ` (default: the process's), over values from `env_file`;
        `overrides` (a command line's options, by variable name) win over both."""
        values: dict[str, str | None] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update(dotenv_values(env_file))
        values.update(os.environ if environ is None else environ)
        values.update(overrides or {})
        # An empty value (`PORT=` in .env) means "use the default", as it does for most tools.
        present = {key: value for key, value in values.items() if value not in (None, "")}
        schema = EnvSchema()
        try:
            settings = cls(**schema.load(present))
        except ValidationError as error:
            problems = "; ".join(
                _problem(schema, key, str(present.get(key)), messages)
                for key, messages in sorted(error.messages_dict.items())
            )
            raise SettingsError(f"Invalid settings: {problems}") from None
        if sqlite_folder(make_url(settings.database_url)) == INSTANCE_FOLDER:
            # So that a first start needs no set-up; any other missing folder was refused above,
            # as more likely a typo than a wish for a new directory tree.
            try:
                INSTANCE_FOLDER.mkdir(exist_ok=True)
            except OSError as error:
                raise SettingsError(
                    f"Invalid settings: DATABASE_URL: cannot create {INSTANCE_FOLDER}: "
                    f"{error.strerror}"
                ) from None
        return settings


def _problem(schema: EnvSchema, key: str, value: str, messages: list[str]) -> str:
    """`PORT='abc': Not a valid integer. Expected a port number, 1 to 65535.`: the setting, its
    value as shown (`_shown`), why it was refused, and what it should be after a refusal that
    does not say (a value of the wrong type, an unknown name)."""
    text = " ".join(messages)
    field = next((f for f in schema.fields.values() if f.data_key == key), None)
    expected = field.metadata.get("expected") if field is not None else None
    if expected and text.startswith(("Not a valid", "Unknown")):
        text = f"{text} Expected {expected}."
    return f"{key}={_shown(key, value)}: {text}"


def sqlite_folder(url: URL) -> Path | None:
    """The folder of a SQLite database file; None for other databases and in-memory SQLite."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None  # a URI filename: SQLite reads it, we do not guess at it
    return Path(database).resolve().parent


def _check_database_url(value: str) -> None:
    """A URL SQLAlchemy can connect with: parsed, its database known, its driver installed, and
    for a SQLite file, an existing folder (or the default one, created on start)."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValidationError(
            "Not a database URL; expected one like sqlite:///path/to/file.sqlite3 or "
            "postgresql+psycopg://user@host:5432/name."
        ) from None
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ValidationError(f"Unknown database {url.drivername!r}.") from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        raise ValidationError(
            f"The driver for {url.drivername!r} is not installed (no module {error.name!r})."
        ) from None
    folder = sqlite_folder(url)
    if folder is not None and folder != INSTANCE_FOLDER and not folder.is_dir():
        raise ValidationError(f"The folder {folder} does not exist.")


class _Switch(fields.Boolean):
    """`on`/`off` (and true/false, 1/0, yes/no, any case), as a lab's operator would write it."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        word = str(value).strip().lower()
        if word in {"on", "true", "1", "yes"}:
            return True
        if word in {"off", "false", "0", "no"}:
            return False
        raise ValidationError("Must be on or off.")


def _expect(text: str) -> dict[str, str]:
    """A field's metadata: what its value should be, said after a refusal of it."""
    return {"expected": text}


_PORT = _expect("a port number, 1 to 65535")
# Settings whose values are secrets: a refusal names them, never shows them.
_SECRETS = frozenset({"API_KEYS", "SIM_ADMIN_KEY"})


def _database_url(value: str) -> str:
    """`postgres://` (what hosting providers and many users write) is PostgreSQL's URL."""
    if value.startswith("postgres://"):
        return "postgresql://" + value.removeprefix("postgres://")
    return value


def _shown(key: str, value: str) -> str:
    """A setting's value as a refusal quotes it: a key hidden, a URL's password masked."""
    if key in _SECRETS and not value.startswith("@"):
        return "'***'"
    if key == "DATABASE_URL":
        try:
            return repr(make_url(value).render_as_string(hide_password=True))
        except ArgumentError:
            return repr(value)
    return repr(value)


class EnvSchema(Schema):
    """Names, types and limits of the environment variables we read."""

    class Meta:
        unknown = EXCLUDE

    database_url = fields.Function(
        deserialize=lambda value: _database_url(value),
        data_key="DATABASE_URL",
        validate=_check_database_url,
        metadata=_expect(
            "a database URL: sqlite:///path/to/file.sqlite3, or postgresql://user@host:5432/name"
        ),
    )
    host = fields.String(data_key="HOST")
    port = fields.Integer(
        data_key="PORT", strict=False, validate=validate.Range(1, 65535), metadata=_PORT
    )
    database_timeout = fields.Float(
        data_key="DATABASE_TIMEOUT",
        validate=validate.Range(min=0, max=3600, min_inclusive=False),
        allow_nan=False,
        metadata=_expect("seconds, above 0, at most 3600"),
    )
    database_pool_size = fields.Integer(
        data_key="DATABASE_POOL_SIZE",
        strict=False,
        validate=validate.Range(1, 1000),
        metadata=_expect("a whole number, 1 to 1000"),
    )
    tracker_interval = fields.Float(
        data_key="TRACKER_INTERVAL",
        validate=validate.Range(min=0, max=86400, min_inclusive=False),
        allow_nan=False,
        metadata=_expect("seconds, above 0, at most 86400 (0.5 allowed)"),
    )
    tracker_batch_size = fields.Integer(
        data_key="TRACKER_BATCH_SIZE",
        validate=validate.Range(1, 10000),
        metadata=_expect("a whole number, 1 to 10000"),
    )
    tracker_id = fields.String(
        data_key="TRACKER_ID",
        validate=validate.Length(max=100),
        metadata=_expect("a name of at most 100 characters"),
    )
    lab_file = fields.Function(deserialize=Path, data_key="LAB_FILE")
    lab_timezone = fields.Function(
        deserialize=lambda name: _zone(name),
        data_key="LAB_TIMEZONE",
        metadata=_expect("a time zone name: UTC, Europe/Paris, America/New_York"),
    )
    log_level = fields.Function(
        deserialize=str.upper,
        data_key="LOG_LEVEL",
        metadata=_expect("DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    )

    log_format = fields.Function(
        deserialize=str.lower, data_key="LOG_FORMAT", metadata=_expect("text or json")
    )
    api_keys = fields.Function(
        deserialize=lambda value: _keys(value),
        data_key="API_KEYS",
        metadata=_expect("keys: key1,key2, or @/path/to/a/file with one per line"),
    )
    sim_admin_key = fields.Function(
        deserialize=lambda value: _one_key(value),
        data_key="SIM_ADMIN_KEY",
        metadata=_expect("one key, or @/path/to/a/file holding it"),
    )
    sim_api = _Switch(data_key="SIM_API")
    cors_origins = fields.Function(
        deserialize=lambda value: _origins(value),
        data_key="CORS_ORIGINS",
        metadata=_expect("origins: https://app.example,http://localhost:3000, or *"),
    )
    complete_requires_tracker = _Switch(data_key="COMPLETE_REQUIRES_TRACKER")
    journal = _Switch(data_key="JOURNAL")
    tracker_metrics_port = fields.Integer(
        data_key="TRACKER_METRICS_PORT",
        strict=False,
        validate=validate.Range(1, 65535),
        metadata=_PORT,
    )
    journal_size = fields.Integer(
        data_key="JOURNAL_SIZE",
        validate=validate.Range(1, 1_000_000),
        metadata=_expect("a whole number, 1 to 1000000"),
    )
    journal_buffer = fields.Integer(
        data_key="JOURNAL_BUFFER",
        validate=validate.Range(1, 1_000_000),
        metadata=_expect("a whole number, 1 to 1000000"),
    )
    scenario = fields.String(
        data_key="SCENARIO",
        validate=validate.Regexp(
            r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z",  # \Z: a `$` lets a trailing newline in
            error="Must be a scenario's name: its file's name in SCENARIO_FOLDER without .toml.",
        ),
        metadata=_expect("a scenario's name: its file in SCENARIO_FOLDER without .toml"),
    )
    scenario_folder = fields.Function(deserialize=Path, data_key="SCENARIO_FOLDER")
    remote_order_processor = _Switch(data_key="REMOTE_ORDER_PROCESSOR")

    @validates("log_format")
    def _known_format(self, value: str, **_: object) -> None:
        if value not in {"text", "json"}:
            raise ValidationError("Must be text or json.")

    @validates("log_level")
    def _known_level(self, value: str, **_: object) -> None:
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValidationError("Must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL.")


def _keys(value: str) -> tuple[str, ...]:
    """`a,b,c`, or `@path` to a file with one key per line (blank lines and `#` comments skipped).

    A file keeps keys out of the process list and the environment of child processes.
    """
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise ValidationError(
                f"Cannot read key file {str(path)!r}: {error.strerror}."
            ) from None
        keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    else:
        keys = [key.strip() for key in value.split(",") if key.strip()]
    if not keys:
        raise ValidationError("No key given.")
    if any(not key.isprintable() or " " in key for key in keys):
        raise ValidationError("A key may not contain spaces or control characters.")
    return tuple(keys)


def _one_key(value: str) -> str:
    keys = _keys(value)
    if len(keys) != 1:
        raise ValidationError("Exactly one key is expected.")
    return keys[0]


def _origins(value: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValidationError(f"{origin!r} is not an origin (scheme://host[:port]) or *.")
    return origins


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone {name!r}.") from None


def setting_names() -> tuple[str, ...]:
    """Every environment variable the settings read, in the settings class's order."""
    return tuple(str(field.data_key) for field in EnvSchema().fields.values())
