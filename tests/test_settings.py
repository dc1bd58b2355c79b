"""Settings: safe defaults, the environment over `.env`, and clear errors for bad values."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

import config.settings
from config.settings import (
    DEFAULT_DATABASE_URL,
    PROJECT_ROOT,
    Settings,
    SettingsError,
    setting_names,
)
from shared.db.engine import make_engine

# Nothing here depends on the pass's database engine: the SQLite pass runs it once.
pytestmark = pytest.mark.database_free


def test_with_nothing_set_both_processes_share_one_sqlite_file_in_the_project() -> None:
    settings = Settings.load({}, env_file=None)
    assert settings == Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database_url.startswith(f"sqlite:///{PROJECT_ROOT}/instance/")
    assert (settings.port, settings.tracker_interval) == (4567, 5.0)


def test_every_setting_is_read_from_the_environment() -> None:
    settings = Settings.load(
        {
            "DATABASE_URL": "sqlite:////tmp/other.db",
            "HOST": "0.0.0.0",
            "PORT": "8080",
            "TRACKER_INTERVAL": "0.25",
            "TRACKER_BATCH_SIZE": "2000",
            "TRACKER_ID": "tracker-a",
            "LAB_FILE": "/etc/lab.toml",
            "LAB_TIMEZONE": "America/Chicago",
            "LOG_LEVEL": "debug",
            "UNRELATED": "ignored",
        },
        env_file=None,
    )
    assert settings == Settings(
        database_url="sqlite:////tmp/other.db",
        host="0.0.0.0",
        port=8080,
        tracker_interval=0.25,
        tracker_batch_size=2000,
        tracker_id="tracker-a",
        lab_file=Path("/etc/lab.toml"),
        lab_timezone=ZoneInfo("America/Chicago"),
        log_level="DEBUG",
    )


def test_dotenv_is_honoured_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=5000\nTRACKER_INTERVAL=2\n# a comment\nTRACKER_ID=\n")
    settings = Settings.load({"TRACKER_INTERVAL": "0.5"}, env_file=env_file)
    assert (settings.port, settings.tracker_interval, settings.tracker_id) == (5000, 0.5, None)


def test_a_missing_dotenv_file_is_fine(tmp_path: Path) -> None:
    assert Settings.load({}, env_file=tmp_path / ".env") == Settings()


EXPECTED_URL = (
    "Expected a database URL: sqlite:///path/to/file.sqlite3, or postgresql://user@host:5432/name."
)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("PORT", "45.5"),
        ("TRACKER_INTERVAL", "0"),
        ("TRACKER_INTERVAL", "-1"),
        ("TRACKER_INTERVAL", "nan"),
        ("TRACKER_INTERVAL", "soon"),
        ("TRACKER_BATCH_SIZE", "0"),
        ("LAB_TIMEZONE", "Mars/Olympus"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^Invalid settings: {name}='{value}': "):
        Settings.load({name: value}, env_file=None)


# ---- DATABASE_URL: refused at start with one line, never a traceback or a new directory tree ---


def test_a_database_url_sqlalchemy_cannot_use_is_refused_naming_the_setting(
    tmp_path: Path,
) -> None:
    refusals = {
        "foo://": f"Unknown database 'foo'. {EXPECTED_URL}",
        "notaurl": "Not a database URL; expected one like sqlite:///path/to/file.sqlite3 or "
        "postgresql+psycopg://user@host:5432/name.",
        "mysql://user@host/db": "The driver for 'mysql' is not installed (no module 'MySQLdb').",
        f"sqlite:///{tmp_path}/typo/rx.sqlite3": f"The folder {tmp_path}/typo does not exist.",
    }
    for url, reason in refusals.items():
        with pytest.raises(SettingsError) as raised:
            Settings.load({"DATABASE_URL": url}, env_file=None)
        assert str(raised.value) == f"Invalid settings: DATABASE_URL={url!r}: {reason}"
    assert list(tmp_path.iterdir()) == []


def test_only_the_default_folder_is_created_for_a_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    monkeypatch.setattr(config.settings, "INSTANCE_FOLDER", instance)
    url = f"sqlite:///{instance}/rx.sqlite3"
    assert Settings.load({"DATABASE_URL": url}, env_file=None).database_url == url
    assert instance.is_dir()
    with pytest.raises(SettingsError) as raised:
        Settings.load({"DATABASE_URL": f"sqlite:///{instance}/nested/rx.sqlite3"}, env_file=None)
    assert str(raised.value) == (
        f"Invalid settings: DATABASE_URL='sqlite:///{instance}/nested/rx.sqlite3': "
        f"The folder {instance}/nested does not exist."
    )
    assert list(instance.iterdir()) == []


def test_the_engine_creates_no_folder_for_a_sqlite_file(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/typo/rx.sqlite3")
    with pytest.raises(OperationalError, match="unable to open database file"):
        engine.connect()
    engine.dispose()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("script", ["run_api", "run_tracker", "migrate"])
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("foo://", "Unknown database 'foo'. " + EXPECTED_URL),
        (
            "notaurl",
            "Not a database URL; expected one like sqlite:///path/to/file.sqlite3 or "
            "postgresql+psycopg://user@host:5432/name.",
        ),
        ("sqlite:///{tmp}/typo/rx.sqlite3", "The folder {tmp}/typo does not exist."),
    ],
    ids=["unknown-database", "not-a-url", "missing-folder"],
)
def test_each_program_refuses_a_bad_database_url_in_one_line_with_exit_2(
    tmp_path: Path, script: str, url: str, reason: str
) -> None:
    env = {**os.environ, "DATABASE_URL": url.format(tmp=tmp_path)}
    run = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / f"{script}.py")],
        cwd=tmp_path,  # no .env of the developer's
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    given = url.format(tmp=tmp_path)
    expected = (
        f"{script}: Invalid settings: DATABASE_URL={given!r}: {reason.format(tmp=tmp_path)}\n"
    )
    assert (run.returncode, run.stdout, run.stderr) == (2, "", expected)
    assert list(tmp_path.iterdir()) == []


def test_the_service_settings_are_read_with_on_and_off_switches() -> None:
    settings = Settings.load(
        {
            "LOG_FORMAT": "JSON",
            "COMPLETE_REQUIRES_TRACKER": "on",
            "JOURNAL": "OFF",
            "JOURNAL_SIZE": "500",
            "JOURNAL_BUFFER": "200",
            "TRACKER_METRICS_PORT": "9464",
        },
        env_file=None,
    )
    assert (
        settings.log_format,
        settings.complete_requires_tracker,
        settings.journal,
        settings.journal_size,
        settings.journal_buffer,
        settings.tracker_metrics_port,
    ) == ("json", True, False, 500, 200, 9464)
    defaults = Settings()
    assert (
        defaults.log_format,
        defaults.complete_requires_tracker,
        defaults.sim_api,
        defaults.journal,
    ) == ("text", False, True, True)
    assert (defaults.api_keys, defaults.sim_admin_key, defaults.cors_origins) == ((), None, ())


def test_a_bad_service_setting_is_named() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.load(
            {"LOG_FORMAT": "xml", "JOURNAL": "maybe", "CORS_ORIGINS": "app.example"},
            env_file=None,
        )
    assert str(error.value) == (
        "Invalid settings: CORS_ORIGINS='app.example': 'app.example' is not an origin "
        "(scheme://host[:port]) or *.; JOURNAL='maybe': Must be on or off.; "
        "LOG_FORMAT='xml': Must be text or json."
    )


# ---- every setting: one line naming it, its value (secrets hidden) and what it should be -------

# A value each setting refuses, and what the refusal says it should be.
REFUSED = {
    "DATABASE_URL": ("foo://", EXPECTED_URL),
    "PORT": ("abc", "Expected a port number, 1 to 65535."),
    "DATABASE_TIMEOUT": ("soon", "Expected seconds, above 0, at most 3600."),
    "DATABASE_POOL_SIZE": (
        "0",
        "Must be greater than or equal to 1 and less than or equal to 1000.",
    ),
    "TRACKER_INTERVAL": ("often", "Expected seconds, above 0, at most 86400 (0.5 allowed)."),
    "TRACKER_BATCH_SIZE": ("many", "Expected a whole number, 1 to 10000."),
    "TRACKER_ID": ("x" * 101, "Longer than maximum length 100."),
    "LAB_TIMEZONE": ("Mars/Olympus", "Expected a time zone name: UTC, Europe/Paris,"),
    "LOG_LEVEL": ("LOUD", "Must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."),
    "LOG_FORMAT": ("xml", "Must be text or json."),
    "API_KEYS": ("a b", "A key may not contain spaces or control characters."),
    "SIM_ADMIN_KEY": ("a,b", "Exactly one key is expected."),
    "SIM_API": ("maybe", "Must be on or off."),
    "CORS_ORIGINS": ("app.example", "is not an origin (scheme://host[:port]) or *."),
    "COMPLETE_REQUIRES_TRACKER": ("2", "Must be on or off."),
    "JOURNAL": ("maybe", "Must be on or off."),
    "JOURNAL_SIZE": ("lots", "Expected a whole number, 1 to 1000000."),
    "JOURNAL_BUFFER": (
        "0",
        "Must be greater than or equal to 1 and less than or equal to 1000000.",
    ),
    "TRACKER_METRICS_PORT": ("http", "Expected a port number, 1 to 65535."),
    "SCENARIO": ("../etc", "Must be a scenario's name"),
    "REMOTE_ORDER_PROCESSOR": ("sometimes", "Must be on or off."),
}
# Any text is a value of these; what they name is checked where it is used (the address when
# run_api listens, the lab file and the scenario folder when they are read), in one line too.
FREE_FORM = {"HOST", "LAB_FILE", "SCENARIO_FOLDER"}
SECRETS = {"API_KEYS", "SIM_ADMIN_KEY"}


def test_every_setting_has_a_refused_value_here() -> None:
    assert set(REFUSED) | FREE_FORM == set(setting_names())


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_setting_is_refused_in_one_line_with_its_value_and_what_it_should_be(
    name: str,
) -> None:
    value, expected = REFUSED[name]
    with pytest.raises(SettingsError) as raised:
        Settings.load({name: value}, env_file=None)
    message = str(raised.value)
    shown = "'***'" if name in SECRETS else repr(value)
    assert message.startswith(f"Invalid settings: {name}={shown}: ")
    assert expected in message
    assert "\n" not in message
    if name in SECRETS:
        assert value not in message


def test_a_database_urls_password_is_masked_in_a_refusal() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.load({"DATABASE_URL": "foo://lab:s3cret@db.example/rx"}, env_file=None)
    assert str(raised.value).startswith("Invalid settings: DATABASE_URL='foo://lab:***@db.example")
    assert "s3cret" not in str(raised.value)


def test_postgres_urls_as_hosting_providers_write_them_are_postgresql() -> None:
    url = "postgres://lab:pw@db.example:5432/rx"
    settings = Settings.load({"DATABASE_URL": url}, env_file=None)
    assert settings.database_url == "postgresql://lab:pw@db.example:5432/rx"
    assert make_url(settings.database_url).get_backend_name() == "postgresql"


@pytest.mark.parametrize("script", ["run_api", "run_tracker"])
def test_an_unreachable_database_is_one_line_naming_where_it_was_looked_for(
    tmp_path: Path, script: str
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://lab:s3cret@127.0.0.1:{port}/rx"
    run = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / f"{script}.py"),
            *(["--once"] if script == "run_tracker" else []),
        ],
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": url, "DATABASE_TIMEOUT": "2"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert run.stderr.startswith(
        f"{script}: cannot reach the database at 127.0.0.1:{port} (database rx): "
    )
    assert run.stderr.count("\n") == 1 and "s3cret" not in run.stderr


def test_a_busy_tracker_metrics_port_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [sys.executable, str(PROJECT_ROOT / "run_tracker.py")],
            cwd=tmp_path,
            env={
                **os.environ,
                "DATABASE_URL": f"sqlite:///{tmp_path}/rx.sqlite3",
                "TRACKER_METRICS_PORT": str(port),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert run.returncode == 2
    assert run.stderr.endswith(
        f"run_tracker: TRACKER_METRICS_PORT: cannot serve metrics on 127.0.0.1:{port}: "
        "Address already in use\n"
    )
