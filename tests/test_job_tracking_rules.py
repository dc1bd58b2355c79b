"""Check-in and cancel rules on plain values, over the default lab and variants of it."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import facts

from shared.domain.cancel import REASON_IGNORED, check_cancel
from shared.domain.checkins import check_checkin, check_operator, checkin_station
from shared.domain.codes import JobType, OrderStatus
from shared.domain.completion import check_completable
from shared.domain.errors import (
    CancelOrderCompleted,
    CancelRefused,
    CheckinRefused,
    CompletionStationReserved,
    DeleteReasonsEmpty,
    DeleteReasonUnknown,
    JobFlowIncomplete,
    NonCancelStationPassed,
    OperatorNotFound,
    OperatorRequired,
    ProcessNotNeeded,
    StationNotFound,
)
from shared.domain.lab_setup import ADDON_FLAG_PROCESSES, Lab
from shared.domain.orders import OrderFacts

# Nothing here depends on the pass's database engine: the SQLite pass runs it once.
pytestmark = pytest.mark.database_free


def checkin_refusal(lab: Lab, station: str, order: OrderFacts) -> str | None:
    try:
        check_checkin(lab, checkin_station(lab, station), order)
    except CheckinRefused as refused:
        return refused.reason
    return None


@pytest.mark.parametrize("code", ["XYZ", "bsc", "Bsc", "", "#CV1", "JD", " BSC", "BSC "])
def test_unknown_codes_operators_and_decision_points_are_not_stations(lab: Lab, code: str) -> None:
    with pytest.raises(StationNotFound) as refused:
        checkin_station(lab, code)
    assert refused.value.reason == "Station not found"


def test_the_completion_station_is_the_job_trackers_own(lab: Lab) -> None:
    with pytest.raises(CompletionStationReserved):
        checkin_station(lab, lab.completion_station)


def test_an_operator_code_must_name_an_operator(lab: Lab) -> None:
    gen = lab.stations["GEN"]
    check_operator(lab, gen, "JD")  # accepted where none is needed
    check_operator(lab, gen, None)
    for code in ("GEN", "jd", "XX", ""):
        with pytest.raises(OperatorNotFound):
            check_operator(lab, gen, code)


def test_a_station_that_requires_an_operator_refuses_a_checkin_without_one(lab: Lab) -> None:
    fqa = lab.stations["FQA"]
    assert fqa.requires_operator
    with pytest.raises(OperatorRequired) as refused:
        check_operator(lab, fqa, None)
    assert refused.value.reason == "Operator required"
    check_operator(lab, fqa, "MS")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"deleted": True}, "Order marked for cancelation"),
        ({"status": OrderStatus.UNVALID}, "Order unvalid"),
        ({"status": OrderStatus.COMPLETE}, "Order already completed"),
        ({"on_hold": True}, "Order on hold"),
        ({"deleted": True, "on_hold": True}, "Order marked for cancelation"),
        ({"status": OrderStatus.VALID}, None),
        ({}, None),
    ],
)
def test_only_an_order_in_the_labs_flow_is_checked_in(
    lab: Lab, changes: dict[str, object], reason: str | None
) -> None:
    assert checkin_refusal(lab, "GEN", facts(**changes)) == reason


@pytest.mark.parametrize("flag", list(ADDON_FLAG_PROCESSES))
def test_each_addon_flag_makes_its_station_needed_and_unneeded_without_it(
    lab: Lab, flag: str
) -> None:
    """For each job-flow flag: the same lab says "X not needed" at check-in for an order without
    the addon, takes the check-in with it, and says "Needs X!" at completion until it is done."""
    process = ADDON_FLAG_PROCESSES[flag]
    addon = next(a for a in lab.addons.values() if a.processes == {process})
    station = next(s for s in lab.stations.values() if s.process == process and s.takes_checkins)
    without = facts(addons=frozenset())
    with_addon = facts(addons=frozenset({addon.code}))
    assert checkin_refusal(lab, station.code, without) == lab.process(process).not_needed_message
    assert checkin_refusal(lab, station.code, with_addon) is None
    with pytest.raises(CheckinRefused):
        check_checkin(lab, station, without)
    with pytest.raises(JobFlowIncomplete) as needs:
        check_completable(with_addon, lab)
    assert needs.value.message == lab.process(process).missing_message
    check_completable(dataclasses.replace(with_addon, stations=frozenset({station.code})), lab)


def test_ar_on_an_order_without_an_ar_addon_is_refused_with_the_labs_message(lab: Lab) -> None:
    with pytest.raises(ProcessNotNeeded) as refused:
        check_checkin(lab, lab.stations["AR1"], facts(addons=frozenset({"BSC"})))
    assert refused.value.reason == "AR not needed"


def test_an_addon_setting_two_flags_opens_both_stations(lab: Lab) -> None:
    sun = facts(addons=frozenset({"SUN"}))
    assert checkin_refusal(lab, "TNT", sun) is None
    assert checkin_refusal(lab, "UV", sun) is None
    assert checkin_refusal(lab, "AR1", sun) == "AR not needed"


@pytest.mark.parametrize("station", ["GEN", "EDG", "FQA", "SHP", "LM"])
def test_stations_every_order_may_pass_are_never_not_needed(lab: Lab, station: str) -> None:
    assert checkin_refusal(lab, station, facts(job_type=JobType.FULL)) is None


def test_without_station_verify_any_station_takes_any_order(lab: Lab) -> None:
    relaxed = dataclasses.replace(lab, station_verify=False)
    assert checkin_refusal(relaxed, "AR1", facts()) is None
    assert checkin_refusal(relaxed, "AR1", facts(on_hold=True)) == "Order on hold"


def cancel_refusal(lab: Lab, order: OrderFacts, reason: str | None = None) -> tuple[str, list[str]]:
    with pytest.raises(CancelRefused) as refused:
        check_cancel(lab, order, reason)
    return refused.value.error, refused.value.details


def test_a_cancel_is_refused_for_a_completed_order_or_one_past_a_non_cancel_station(
    lab: Lab,
) -> None:
    assert cancel_refusal(lab, facts(status=OrderStatus.COMPLETE)) == (
        "Order already completed",
        [],
    )
    assert cancel_refusal(lab, facts(stations=frozenset({"GEN", "EDG"}))) == (
        "Order has been through a non-cancel station",
        [],
    )
    assert check_cancel(lab, facts(stations=frozenset({"GEN", "BSC", "AR1"})), None) == ""
    with pytest.raises(CancelOrderCompleted):
        check_cancel(lab, facts(status=OrderStatus.COMPLETE), "1")
    with pytest.raises(NonCancelStationPassed):
        check_cancel(lab, facts(stations=frozenset({"FQA"})), None)


def test_a_second_cancel_is_refused_as_rx_universe_refuses_it(lab: Lab) -> None:
    assert cancel_refusal(lab, facts(deleted=True)) == ("Order already completed", [])
    assert cancel_refusal(lab, facts(deleted=True, stations=frozenset({"EDG"})), "9") == (
        "Order already completed",
        [],
    )


def test_a_lab_without_the_job_tracker_module_refuses_every_cancel_first(lab: Lab) -> None:
    without = dataclasses.replace(lab, job_tracker_module=False, delete_reason_required=True)
    for order in (facts(), facts(deleted=True), facts(status=OrderStatus.COMPLETE)):
        assert cancel_refusal(without, order, "9999") == (
            "Job Tracker module required for cancel method",
            [],
        )


def test_a_reason_the_lab_does_not_require_is_ignored_with_a_warning(lab: Lab) -> None:
    assert not lab.delete_reason_required
    assert check_cancel(lab, facts(), "1") == REASON_IGNORED
    assert check_cancel(lab, facts(), "9999") == REASON_IGNORED
    assert check_cancel(lab, facts(), None) == ""


def test_a_lab_that_requires_a_reason_takes_only_its_own(lab: Lab) -> None:
    strict = dataclasses.replace(lab, delete_reason_required=True)
    assert check_cancel(strict, facts(), "2") == ""
    assert cancel_refusal(strict, facts(), "9999") == (
        "Delete reason code does not exist",
        ["Provided: 9999"],
    )
    assert cancel_refusal(strict, facts(), None) == (
        "Delete reason code does not exist",
        ["Provided: "],
    )
    with pytest.raises(DeleteReasonUnknown):
        check_cancel(strict, facts(), "")
    empty = dataclasses.replace(strict, delete_reasons={})
    with pytest.raises(DeleteReasonsEmpty) as refused:
        check_cancel(empty, facts(), "1")
    assert refused.value.error == "The delete reasons file is empty"
