"""The lab's stations and addons as the v2 endpoints list them, read from the lab file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.domain.errors import RecordNotFound
from shared.domain.lab_setup import Addon, Lab, Station

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and how many records the whole list holds."""

    total: int
    items: Sequence[T]


def _page(records: Sequence[T], limit: int | None, offset: int) -> Page[T]:
    end = None if limit is None else offset + limit
    return Page(len(records), records[offset:end])


def listed_stations(lab: Lab) -> list[Station]:
    """Stations and operators a client may see, in the lab file's order: not decision points."""
    return [s for s in lab.stations.values() if not s.is_decision_point]


def list_stations(lab: Lab, *, limit: int | None = None, offset: int = 0) -> Page[Station]:
    """A page of the listed stations."""
    return _page(listed_stations(lab), limit, offset)


def find_station(lab: Lab, code: str) -> Station:
    """A listed station by its case-sensitive code, or RecordNotFound."""
    station = lab.stations.get(code)
    if station is None or station.is_decision_point:
        raise RecordNotFound(code)
    return station


def list_addons(
    lab: Lab, *, rx_site: bool = False, limit: int | None = None, offset: int = 0
) -> Page[Addon]:
    """A page of the lab's addons; with `rx_site`, only those Rx-Site shows."""
    addons = [a for a in lab.addons.values() if not (rx_site and a.exclude_from_rx_site)]
    return _page(addons, limit, offset)


def find_addon(lab: Lab, code: str) -> Addon:
    """An addon by its case-sensitive code, or RecordNotFound."""
    addon = lab.addons.get(code)
    if addon is None:
        raise RecordNotFound(code)
    return addon
