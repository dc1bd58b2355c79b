"""The lab's data file: the default lab, and clear errors for a lab file that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.lab_file import LabFileError, load_lab
from config.settings import DEFAULT_LAB_FILE
from shared.domain.lab_setup import Lab

# Nothing here depends on the pass's database engine: the SQLite pass runs it once.
pytestmark = pytest.mark.database_free


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
        (lambda t: t.replace('code = "2"', 'code = "1"'), "delete reason '1' is listed twice"),
        (
            lambda t: t.replace(
                'description = "JANE DOE"', 'description = "JANE DOE"\nprocess = "ar"'
            ),
            "operator 'JD' cannot perform a process",
        ),
        (
            lambda t: t.replace(
                'description = "TOM LEE"', 'description = "TOM LEE"\nrequires_operator = true'
            ),
            "operator 'TL' cannot require an operator",
        ),
        (lambda t: t.replace("non_cancel = true", 'non_cancel = "maybe"', 1), "non_cancel"),
        (lambda t: t.replace('externalCode = "AR-STD"', "externalCode = 5"), "externalCode"),
        (
            lambda t: t.replace('number = "1005"', 'number = "1002"'),
            r": customers\[4\]\.number: customer '1002' is listed twice$",
        ),
        (
            lambda t: t.replace('number = "1005"', 'number = "123456789"'),
            r": customers\[4\]\.number: Length must be between 1 and 8\.$",
        ),
        (
            lambda t: t.replace("date_wanted_days = 3", "date_wanted_days = -1"),
            r": order_entry\.date_wanted_days: Must be greater than or equal to 0 and less",
        ),
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


def test_the_default_lab_is_a_whole_lab(lab: Lab) -> None:
    """Surfacing, coating, finishing and QA stations, operators, non-cancel stations from
    edging on, a station that needs an operator, and delete reasons."""
    places = [s for s in lab.stations.values() if s.takes_checkins]
    assert len(lab.stations) >= 20 and len(places) >= 20
    assert {s.code for s in lab.stations.values() if s.is_operator} == {"JD", "MS", "RK", "TL"}
    flow = [s.code for s in places]
    edging = flow.index("EDG")
    assert all(lab.stations[c].non_cancel for c in flow[edging:])
    assert not any(lab.stations[c].non_cancel for c in flow[:edging])
    assert lab.stations["FQA"].requires_operator
    assert lab.delete_reasons and not lab.delete_reason_required
    assert lab.addons["SUN"].processes == {"tint", "uv"}
    assert lab.addons["DBT"].exclude_from_rx_site


def test_the_default_lab_takes_orders_for_its_customers_by_number() -> None:
    lab = load_lab(DEFAULT_LAB_FILE)
    assert len(lab.customers) >= 20
    assert lab.customers["1001"].name == "CLEARVIEW OPTICIANS"
    assert all(1 <= len(number) <= 8 for number in lab.customers)
    assert lab.order_entry.date_wanted_days == 3
    assert lab.order_entry.frame_inventory_in_use and lab.order_entry.frame_inventory_online


def test_a_lab_file_error_is_one_line_naming_the_file_and_the_entry(tmp_path: Path) -> None:
    text = default_text().replace('number = "1005"', 'number = "1002"')
    with pytest.raises(LabFileError) as refused:
        load_lab(lab_file(tmp_path, text))
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"Lab file {tmp_path / 'lab.toml'} is inconsistent: "
        "customers[4].number: customer '1002' is listed twice"
    )
