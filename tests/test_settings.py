"""Settings: safe defaults, the environment over `.env`, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.settings import DEFAULT_DATABASE_URL, PROJECT_ROOT, Settings, SettingsError


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
    with pytest.raises(SettingsError, match=f"^Invalid settings: {name}: "):
        Settings.load({name: value}, env_file=None)


def test_the_service_settings_are_read_with_on_and_off_switches() -> None:
    settings = Settings.load(
        {
            "LOG_FORMAT": "JSON",
            "COMPLETE_REQUIRES_TRACKER": "on",
            "JOURNAL": "OFF",
            "JOURNAL_SIZE": "500",
            "TRACKER_METRICS_PORT": "9464",
        },
        env_file=None,
    )
    assert (
        settings.log_format,
        settings.complete_requires_tracker,
        settings.journal,
        settings.journal_size,
        settings.tracker_metrics_port,
    ) == ("json", True, False, 500, 9464)
    defaults = Settings()
    assert (defaults.log_format, defaults.complete_requires_tracker, defaults.sim_api) == (
        "text",
        False,
        True,
    )
    assert (defaults.api_keys, defaults.sim_admin_key, defaults.cors_origins) == ((), None, ())


def test_a_bad_service_setting_is_named() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.load(
            {"LOG_FORMAT": "xml", "JOURNAL": "maybe", "CORS_ORIGINS": "app.example"},
            env_file=None,
        )
    assert str(error.value) == (
        "Invalid settings: CORS_ORIGINS: 'app.example' is not an origin (scheme://host[:port]) "
        "or *.; JOURNAL: Must be on or off.; LOG_FORMAT: Must be text or json."
    )
