"""The completion rules on plain values: precedence, job-flow verification, identifiers."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import facts

from shared.domain.codes import JobType, OrderStatus
from shared.domain.completion import check_completable
from shared.domain.errors import (
    CompletionRejected,
    JobFlowIncomplete,
    OrderAlreadyCompleted,
    OrderDeleted,
    OrderOnHold,
    OrderUnvalid,
)
from shared.domain.lab_setup import Lab
from shared.domain.orders import OrderFacts, effective_status, parse_order_number

# Nothing here depends on the pass's database engine: the SQLite pass runs it once.
pytestmark = pytest.mark.database_free


def rejection(lab: Lab, order: OrderFacts) -> tuple[str, str] | None:
    try:
        check_completable(order, lab)
    except CompletionRejected as reason:
        return reason.code, reason.message
    return None


@pytest.mark.parametrize(
    ("identifier", "number"),
    [
        ("33719", 33719),
        ("033719", 33719),
        ("1", 1),
        ("9" * 18, int("9" * 18)),
        ("9" * 19, None),
        ("000000000000000033719", 33719),  # more leading zeros than an order number has digits
        ("0" * 30 + "9" * 18, int("9" * 18)),
        ("0" + "9" * 19, None),  # the zeros are ignored, the 19 digits are not
        ("0" * 25, 0),
        ("", None),
        ("abc", None),
        ("12a", None),
        ("-1", None),
        ("1.0", None),
        (" 33719", None),
        ("33719\n", None),
        ("٣٣٧١٩", None),  # Arabic-Indic digits: int() would read them, Rx-Universe would not
        ("\uff13\uff13\uff17\uff11\uff19", None),  # fullwidth digits
        ("1; DROP TABLE orders", None),
    ],
)
def test_only_ascii_digit_strings_name_an_order(identifier: str, number: int | None) -> None:
    assert parse_order_number(identifier) == number


def test_a_ready_order_may_be_completed(lab: Lab) -> None:
    assert rejection(lab, facts(addons=frozenset({"BSC"}), stations=frozenset({"BSC"}))) is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (dict(deleted=True, status=OrderStatus.UNVALID, on_hold=True), OrderDeleted),
        (dict(status=OrderStatus.UNVALID, on_hold=True), OrderUnvalid),
        (dict(status=OrderStatus.COMPLETE, on_hold=True), OrderAlreadyCompleted),
        (dict(on_hold=True), OrderOnHold),
        (dict(), JobFlowIncomplete),
    ],
)
def test_the_first_failing_check_in_documented_order_wins(
    lab: Lab, changes: dict[str, object], expected: type[CompletionRejected]
) -> None:
    # Every order here also lacks its backside coating, the last check of all.
    with pytest.raises(expected):
        check_completable(facts(addons=frozenset({"BSC"}), **changes), lab)


def test_a_valid_order_not_yet_in_process_may_be_completed(lab: Lab) -> None:
    assert rejection(lab, facts(status=OrderStatus.VALID)) is None


def test_backside_coat_addon_needs_a_backside_coating_station(lab: Lab) -> None:
    order = facts(addons=frozenset({"BSC"}), stations=frozenset({"GEN", "AR1", "FQA"}))
    assert rejection(lab, order) == ("20", "Needs Backside Coat!")


def test_any_station_performing_the_process_satisfies_it(lab: Lab) -> None:
    assert rejection(lab, facts(addons=frozenset({"AR"}), stations=frozenset({"AR2"}))) is None
    assert rejection(lab, facts(addons=frozenset({"AR"}))) == ("20", "Needs AR!")


def test_the_first_missing_process_in_the_labs_order_is_reported(lab: Lab) -> None:
    order = facts(addons=frozenset({"TNT", "AR", "BSC"}), stations=frozenset({"BSC"}))
    assert rejection(lab, order) == ("20", "Needs AR!")


@pytest.mark.parametrize(
    ("addon", "message"),
    [
        ("HC", "Needs Hard Coat!"),
        ("MIR", "Needs Mirror!"),
        ("TNT", "Needs Tint!"),
        ("UV", "Needs UV!"),
        ("POL", "Needs Polish!"),
        ("ETC", "Needs Etching!"),
        ("DBT", "Needs Drop Ball Test!"),
    ],
)
def test_every_addon_process_has_its_own_message(lab: Lab, addon: str, message: str) -> None:
    assert rejection(lab, facts(addons=frozenset({addon}))) == ("20", message)


def test_addon_jobs_need_final_qa_when_the_lab_forces_it(lab: Lab) -> None:
    addon_job = facts(job_type=JobType.ADDON)
    assert rejection(lab, addon_job) == ("20", "Needs Final QA!")
    assert rejection(lab, dataclasses.replace(addon_job, stations=frozenset({"FQA"}))) is None
    relaxed = dataclasses.replace(lab, force_qa_on_addon_jobs=False)
    assert rejection(relaxed, addon_job) is None
    assert rejection(lab, facts(job_type=JobType.FULL)) is None


def test_without_station_verify_the_job_flow_is_not_checked(lab: Lab) -> None:
    unverified = dataclasses.replace(lab, station_verify=False)
    assert rejection(unverified, facts(addons=frozenset({"BSC"}))) is None
    assert rejection(unverified, facts(on_hold=True)) == ("05", "Order on hold")


def test_codes_the_lab_no_longer_knows_are_ignored(lab: Lab) -> None:
    assert rejection(lab, facts(addons=frozenset({"GONE"}), stations=frozenset({"OLD"}))) is None


def test_hold_shows_as_status_w_whatever_the_stored_status() -> None:
    assert effective_status(OrderStatus.PROCESS, on_hold=True) == "W"
    assert effective_status(OrderStatus.UNVALID, on_hold=True) == "W"
    assert effective_status(OrderStatus.VALID, on_hold=False) == "V"
