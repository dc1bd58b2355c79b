"""The lab's data file: the default lab, and clear errors for a lab file that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.lab_file import LabFileError, load_lab
from config.settings import DEFAULT_LAB_FILE
from shared.domain.lab import Lab


def test_the_default_lab_has_the_stations_and_addons_integrators_rely_on(lab: Lab) -> None:
    assert lab.stations["BSC"].process == "backside"
    assert lab.stations["AR1"].process == "ar"
    assert lab.stations["FQA"].process == lab.final_qa_process == "final_qa"
    assert lab.addons["BSC"].processes == {"backside"}
    assert lab.addons["AR"].processes == {"ar"}
    assert lab.process("backside").missing_message == "Needs Backside Coat!"
    assert lab.completion_station in lab.stations
    assert lab.station_verify and lab.force_qa_on_addon_jobs


def test_every_process_has_a_message_in_the_same_style(lab: Lab) -> None:
    for process in lab.processes:
        assert process.missing_message.startswith("Needs ")
        assert process.missing_message.endswith("!")
        assert process.not_needed_message.endswith(" not needed")


def lab_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return path


def default_text() -> str:
    return DEFAULT_LAB_FILE.read_text()


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda t: t.replace('process = "backside"', 'process = "backsid"'), "unknown process"),
        (lambda t: t.replace('completion_station = "CMP"', 'completion_station = "XX"'), "XX"),
        (lambda t: t.replace('code = "AR2"', 'code = "AR1"'), "'AR1' is listed twice"),
        (lambda t: t.replace("isBackside = true", "isBackSide = true"), "isBackSide"),
        (lambda t: t.replace('final_qa_process = "final_qa"', 'final_qa_process = "qa"'), "qa"),
        (lambda t: t + "\n[[stations]]\ncode = 1\n", "code"),
        (lambda t: t.replace("station_verify = true", "station_verify = "), "not valid TOML"),
    ],
)
def test_an_inconsistent_lab_file_is_refused_with_the_reason(
    tmp_path: Path, change: object, complaint: str
) -> None:
    with pytest.raises(LabFileError, match=complaint):
        load_lab(lab_file(tmp_path, change(default_text())))  # type: ignore[operator]


def test_a_missing_lab_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(LabFileError, match=r"Cannot read lab file .*nowhere\.toml"):
        load_lab(tmp_path / "nowhere.toml")


def test_a_lab_can_switch_its_settings_off(tmp_path: Path) -> None:
    text = default_text().replace("station_verify = true", "station_verify = false")
    text = text.replace("force_qa_on_addon_jobs = true", "force_qa_on_addon_jobs = false")
    lab = load_lab(lab_file(tmp_path, text))
    assert not lab.station_verify and not lab.force_qa_on_addon_jobs
