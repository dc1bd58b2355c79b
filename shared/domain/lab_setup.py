"""The lab's set-up as plain values: processes, stations, addons, delete reasons, customers and
how submitted orders are taken in (read from the lab file by config.lab_file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# Rx-Universe's job-flow flags on an addon, and the process each one makes an order need. One
# source for the lab file's reader, the completion rules and the addons endpoint.
ADDON_FLAG_PROCESSES: Mapping[str, str] = MappingProxyType(
    {
        "isAR": "ar",
        "isBackside": "backside",
        "isMirror": "mirror",
        "isTint": "tint",
        "isUV": "uv",
        "requiresDropBall": "dropball",
        "requiresEtching": "etching",
        "requiresHarden": "harden",
        "requiresPolish": "polish",
    }
)


# Codes starting with this are conveyor decision points: scanned by machines, never by clients.
DECISION_POINT_PREFIX = "#"


@dataclass(frozen=True, slots=True)
class Process:
    """A step an order may need (backside coating, AR coating, final QA...)."""

    key: str
    name: str
    missing_message: str
    not_needed_message: str


@dataclass(frozen=True, slots=True)
class Station:
    """A place an order is scanned into; it performs at most one process.

    An operator is a person, not a place: its code is given along with a check-in elsewhere.
    Once an order has passed a `non_cancel` station (edging on, say) it can no longer be
    cancelled; a station that `requires_operator` takes a check-in only with an operator's code.
    """

    code: str
    description: str
    customer_description: str
    process: str | None = None
    is_operator: bool = False
    non_cancel: bool = False
    requires_operator: bool = False

    @property
    def is_decision_point(self) -> bool:
        """A conveyor decision point: not listed to clients, not scanned into by them."""
        return self.code.startswith(DECISION_POINT_PREFIX)

    @property
    def takes_checkins(self) -> bool:
        """Whether a client may check an order in here (a place, not a person or a conveyor)."""
        return not self.is_operator and not self.is_decision_point


@dataclass(frozen=True, slots=True)
class Addon:
    """A treatment an order carries, and the processes it makes the order need."""

    code: str
    description: str
    processes: frozenset[str] = frozenset()
    exclude_from_rx_site: bool = False
    external_code: str | None = None

    def flags(self) -> dict[str, bool]:
        """Rx-Universe's job-flow flags, in their documented order, as this addon's processes
        set them."""
        return {flag: process in self.processes for flag, process in ADDON_FLAG_PROCESSES.items()}


@dataclass(frozen=True, slots=True)
class Customer:
    """An account the lab takes orders for: the `customerNumber` a submitted order names."""

    number: str
    name: str


@dataclass(frozen=True, slots=True)
class PickSetup:
    """Lens and frame pick verification (`/api/v2/orders/{id}/pick`)."""

    # "Partial Picking": off, both lenses come in one call, and all frame items in one call.
    partial_picking: bool = True
    warehouse: str = "DEFAULT"
    # The OPC of each lens the lab stocks, by (lens style, lens material): an imported order's
    # expected OPC per eye.
    lens_opcs: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # The frame a simulator-created order carries unless told otherwise.
    frame_upc: str = "0799431000017"


# The LPT ports of workstation 00 a work ticket may be printed to.
LPT_PORTS = tuple(f"LPT{n}" for n in range(1, 10))


@dataclass(frozen=True, slots=True)
class WorkTickets:
    """How the lab prints work tickets (`POST /api/v2/orders/{id}/print_ticket`)."""

    # The Work Tickets system setting: Rx-Universe's API prints only "xml" tickets.
    ticket_format: str = "xml"
    # The selected XML template ("" for none), and whether its file still exists.
    xml_template: str = "workticket.xml"
    xml_template_exists: bool = True
    # "Tray required": an order without a tray waits for one and is not printed.
    trays_required: bool = False
    # Workstation 00's printer on each LPT port (port: printer name).
    printers: Mapping[str, str] = field(default_factory=lambda: {"LPT1": "Lab office printer"})


@dataclass(frozen=True, slots=True)
class OrderEntry:
    """How the lab takes submitted orders in (`POST /api/v2/orders`, then the import)."""

    # Days from the date received to the date wanted, for an order that gives none.
    date_wanted_days: int = 3
    # Imported orders are numbered from here up, as the simulator's own orders are.
    first_order_number: int = 10001
    # Whether an imported order that names no tray is given the lowest free one.
    auto_assign_trays: bool = True
    # The Frame Inventory module: whether the lab uses it, and whether it answers right now.
    frame_inventory_in_use: bool = False
    frame_inventory_online: bool = True


@dataclass(frozen=True, eq=False)
class Lab:
    """Everything job-flow verification needs to know about one lab.

    Hashed by identity: a process loads its lab once, and what is built from it (the SQL of its
    checks) is cached per lab.
    """

    processes: tuple[Process, ...]
    stations: Mapping[str, Station]
    addons: Mapping[str, Addon]
    completion_station: str
    station_verify: bool = True
    force_qa_on_addon_jobs: bool = True
    final_qa_process: str = "final_qa"
    # "Enter reason code when deleting order", and the reasons a cancel may give (code: text).
    delete_reason_required: bool = False
    delete_reasons: Mapping[str, str] = field(default_factory=dict)
    # Whether the lab has the Job Tracker module installed (licensed): cancel needs it.
    job_tracker_module: bool = True
    # What names the order of a completion call: its order number only (the seed contract), or
    # also a tray or PO number, as on every other order route (Rx-Universe's current docs).
    completion_by_any_identifier: bool = False
    work_tickets: WorkTickets = WorkTickets()
    pick: PickSetup = PickSetup()
    customers: Mapping[str, Customer] = field(default_factory=dict)
    order_entry: OrderEntry = OrderEntry()
    _process_index: Mapping[str, Process] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_process_index", {p.key: p for p in self.processes})

    def process(self, key: str) -> Process:
        """The process named `key`."""
        return self._process_index[key]

    def addon_processes(self) -> frozenset[str]:
        """The processes some addon calls for: an order without such an addon does not need them
        (Final QA, say, is needed by every order, or by none, and is never "not needed")."""
        return frozenset(p for addon in self.addons.values() for p in addon.processes)
