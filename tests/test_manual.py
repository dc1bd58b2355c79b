"""The manual against the code: the configuration page lists every setting the settings class reads,
with its default, and the README stays a front page. (That its links and anchors resolve is
`mkdocs build --strict`'s job, in scripts/test.)"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.settings import DEFAULT_DATABASE_URL, PROJECT_ROOT, EnvSchema, Settings

# Nothing here depends on the pass's database engine: the SQLite pass runs it once.
pytestmark = pytest.mark.database_free

CONFIGURATION_PAGE = PROJECT_ROOT / "docs" / "configuration.md"
README = PROJECT_ROOT / "README.md"
README_MOST_LINES = 199
# A row of the settings table: | `NAME` | default | meaning |
ROW = re.compile(r"^\| `(?P<name>[A-Z][A-Z0-9_]*)` \| (?P<default>[^|]*) \|")


def documented_settings(page: str) -> dict[str, str]:
    """The rows of the page's `## Settings` table: each name with its default as written."""
    _, found, rest = page.partition("\n## Settings\n")
    assert found, "the configuration page has no '## Settings' section"
    section = rest.split("\n## ", 1)[0]
    rows = [ROW.match(line) for line in section.splitlines()]
    return {row["name"]: row["default"].strip() for row in rows if row}


def read_settings() -> dict[str, object]:
    """Each environment variable the settings class reads, with its Settings field's default.

    The schema's fields and the Settings fields share their names; the schema's `data_key` is the
    variable's."""
    defaults = {field.name: field.default for field in dataclasses.fields(Settings)}
    return {str(field.data_key): defaults[name] for name, field in EnvSchema().fields.items()}


def written(default: object) -> str | None:
    """A default as the page writes it; None for a setting that is unset by default."""
    if default is None or default == ():
        return None
    if isinstance(default, bool):
        return "`on`" if default else "`off`"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    if isinstance(default, Path):
        default = default.relative_to(PROJECT_ROOT).as_posix()
    if isinstance(default, ZoneInfo):
        default = default.key
    if default == DEFAULT_DATABASE_URL:
        default = DEFAULT_DATABASE_URL.replace(str(PROJECT_ROOT), "<project>")
    return f"`{default}`"


def test_the_configuration_page_lists_exactly_the_settings_read() -> None:
    documented = documented_settings(CONFIGURATION_PAGE.read_text(encoding="utf-8"))
    read = read_settings()
    assert not read.keys() - documented.keys(), "settings read but not on docs/configuration.md"
    assert not documented.keys() - read.keys(), "rows for settings config/settings.py does not read"


@pytest.mark.parametrize("name", sorted(read_settings()))
def test_the_configuration_page_gives_each_settings_default(name: str) -> None:
    documented = documented_settings(CONFIGURATION_PAGE.read_text(encoding="utf-8"))
    assert name in documented, f"{name} is not in docs/configuration.md's settings table"
    expected = written(read_settings()[name])
    if expected is None:
        # Unset by default: the page says "none ...", or names what is used instead in <...>.
        assert documented[name].startswith(("none", "`<")), documented[name]
    else:
        assert documented[name] == expected


def test_a_settings_row_dropped_from_the_page_is_noticed() -> None:
    page = CONFIGURATION_PAGE.read_text(encoding="utf-8")
    without = "\n".join(line for line in page.splitlines() if not line.startswith("| `JOURNAL` |"))
    assert "JOURNAL" in documented_settings(page)
    assert "JOURNAL" not in documented_settings(without)


def test_the_readme_is_a_front_page_under_200_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MOST_LINES, f"README.md has {len(lines)} lines; move some to docs/"


def test_the_readmes_links_into_the_project_resolve() -> None:
    """The README is outside the manual's strict build: its relative links are checked here."""
    text = README.read_text(encoding="utf-8")
    targets = {link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", text)}
    local = {target for target in targets if target and "://" not in target}
    assert local, "no relative link found: the pattern is wrong"
    assert not [target for target in sorted(local) if not (PROJECT_ROOT / target).exists()]


LAYOUT_PAGE = PROJECT_ROOT / "docs" / "layout.md"
_TABLE_ROW = re.compile(r"^\| (.+?) \| (.*) \|$", re.MULTILINE)


def _layout_claims() -> list[Path]:
    """Every path the layout table names: each row's own paths (its first cell), and inside a
    package's row the modules it lists (`completion.py`, or a bare `lookup` for `lookup.py`)."""
    claims: list[Path] = []
    rows = _TABLE_ROW.findall(LAYOUT_PAGE.read_text(encoding="utf-8"))
    rows = [(cell, text) for cell, text in rows if cell not in ("Path", "---")]
    assert rows, "the layout page has no table"
    for cell, text in rows:
        paths = re.findall(r"`([^`]+)`", cell)
        assert paths and re.fullmatch(r"`[^`]+`(, `[^`]+`)*", cell), cell
        claims += [PROJECT_ROOT / path.rstrip("/") for path in paths]
        first = paths[0]
        if first.startswith(("api/", "shared/", "lab/")) and first.endswith("/"):
            for module in re.findall(r"`([a-z_]+(?:\.py)?)`", text):
                name = module if module.endswith(".py") else f"{module}.py"
                if not (PROJECT_ROOT / name).exists():  # a run script the row mentions
                    claims.append(PROJECT_ROOT / first / name)
    return claims


def test_every_path_the_layout_page_names_exists() -> None:
    missing = [
        str(path.relative_to(PROJECT_ROOT))
        for path in _layout_claims()
        if not path.exists() and not path.with_suffix("").is_dir()
    ]
    assert missing == []


def test_the_layout_page_names_every_package_of_the_api_and_shared() -> None:
    text = LAYOUT_PAGE.read_text(encoding="utf-8")
    packages = [
        f"{path.parent.relative_to(PROJECT_ROOT)}/"
        for root in ("api", "shared")
        for path in (PROJECT_ROOT / root).glob("*/__init__.py")
    ]
    assert [p for p in packages if f"`{p}`" not in text] == []


ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
_EXAMPLE_SETTING = re.compile(r"^# (?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$", re.MULTILINE)


def test_the_env_example_lists_every_setting_with_its_default(tmp_path: Path) -> None:
    """`.env.example`: each setting the settings class reads, in its order, commented out with
    its default (empty for one unset by default); uncommented, each gives that default."""
    listed = [
        (match["name"], match["value"])
        for match in _EXAMPLE_SETTING.finditer(ENV_EXAMPLE.read_text(encoding="utf-8"))
    ]
    expected = [
        (name, (written(default) or "``").strip("`")) for name, default in read_settings().items()
    ]
    assert listed == expected
    # Uncommented in a copy, the paths written from the project's folder, as a user runs it.
    defaults = read_settings()
    lines = [
        f"{name}={PROJECT_ROOT / value if isinstance(defaults[name], Path) else value}\n"
        for name, value in listed
        if "<" not in value
    ]
    uncommented = tmp_path / ".env"
    uncommented.write_text("".join(lines), encoding="utf-8")
    assert Settings.load(environ={}, env_file=uncommented) == Settings.load(
        environ={}, env_file=None
    )


def test_the_licence_is_the_one_setup_cfg_declares() -> None:
    declared = re.search(r"^license = (\S+)$", (PROJECT_ROOT / "setup.cfg").read_text(), re.M)
    assert declared and declared.group(1) == "MIT"
    text = (PROJECT_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert (
        text.startswith("MIT License\n") and "Permission is hereby granted, free of charge" in text
    )
