"""Reads a lab's job-flow data file (TOML) into the `shared.domain.lab_setup.Lab` the rules
work on."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from shared.domain.lab_setup import (
    ADDON_FLAG_PROCESSES,
    LPT_PORTS,
    Addon,
    Customer,
    Lab,
    OrderEntry,
    PickSetup,
    Process,
    Station,
    WorkTickets,
)

_code = fields.String(required=True, validate=validate.Length(1, 20))
_text = fields.String(required=True, validate=validate.Length(1, 60))


class LabFileError(Exception):
    """The lab file cannot be read or does not describe a consistent lab."""


class _ProcessSchema(Schema):
    class Meta:
        unknown = RAISE

    key = _code
    name = _text
    missing_message = fields.String(required=True, validate=validate.Length(1, 200))
    # For check-in verification (a coming feature: "AR not needed" when an order is scanned into a
    # station whose process it does not need); required now so lab files need no change then.
    not_needed_message = fields.String(required=True, validate=validate.Length(1, 200))

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> Process:
        return Process(**data)


class _StationSchema(Schema):
    class Meta:
        unknown = RAISE

    code = _code
    description = _text
    customer_description = _text
    process = fields.String(load_default=None)
    is_operator = fields.Boolean(load_default=False)
    non_cancel = fields.Boolean(load_default=False)
    requires_operator = fields.Boolean(load_default=False)

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> Station:
        return Station(**data)


_AddonFields = Schema.from_dict(
    {
        "code": _code,
        "description": _text,
        "excludeFromRxSite": fields.Boolean(load_default=False),
        "externalCode": fields.String(load_default=None, validate=validate.Length(1, 20)),
        **{flag: fields.Boolean(load_default=False) for flag in ADDON_FLAG_PROCESSES},
    }
)


# The ignore: the base is a class built at run time (its flag fields come from the mapping
# above), which mypy cannot check as a base class.
class _AddonSchema(_AddonFields):  # type: ignore[misc, valid-type]
    class Meta:
        unknown = RAISE

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> Addon:
        needs = frozenset(p for flag, p in ADDON_FLAG_PROCESSES.items() if data[flag])
        return Addon(
            code=data["code"],
            description=data["description"],
            processes=needs,
            exclude_from_rx_site=data["excludeFromRxSite"],
            external_code=data["externalCode"],
        )


class _DeleteReasonSchema(Schema):
    class Meta:
        unknown = RAISE

    code = _code
    description = _text


class _CustomerSchema(Schema):
    class Meta:
        unknown = RAISE

    # Rx-Universe's limit on `customerNumber` (8 characters).
    number = fields.String(required=True, validate=validate.Length(1, 8))
    name = _text

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> Customer:
        return Customer(**data)


class _LensOpcSchema(Schema):
    class Meta:
        unknown = RAISE

    style = fields.String(required=True, validate=validate.Length(1, 6))
    material = fields.String(required=True, validate=validate.Length(1, 2))
    opc = fields.String(required=True, validate=validate.Length(1, 20))


class _PickSchema(Schema):
    class Meta:
        unknown = RAISE

    partial_picking = fields.Boolean(load_default=True)
    warehouse = fields.String(load_default="DEFAULT", validate=validate.Length(1, 20))
    frame_upc = fields.String(load_default="0799431000017", validate=validate.Length(1, 20))
    lenses = fields.List(fields.Nested(_LensOpcSchema), load_default=list)

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> PickSetup:
        opcs = {(lens["style"], lens["material"]): lens["opc"] for lens in data.pop("lenses")}
        return PickSetup(lens_opcs=opcs, **data)


class _WorkTicketsSchema(Schema):
    class Meta:
        unknown = RAISE

    ticket_format = fields.String(load_default="xml", validate=validate.Length(1, 20))
    xml_template = fields.String(load_default="workticket.xml", validate=validate.Length(max=100))
    xml_template_exists = fields.Boolean(load_default=True)
    trays_required = fields.Boolean(load_default=False)
    printers = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LPT_PORTS)),
        values=fields.String(validate=validate.Length(1, 60)),
        load_default=lambda: {"LPT1": "Lab office printer"},
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> WorkTickets:
        return WorkTickets(**data)


class _OrderEntrySchema(Schema):
    class Meta:
        unknown = RAISE

    date_wanted_days = fields.Integer(load_default=3, validate=validate.Range(0, 365))
    first_order_number = fields.Integer(load_default=10001, validate=validate.Range(1, 10**8 - 1))
    auto_assign_trays = fields.Boolean(load_default=True)
    frame_inventory_in_use = fields.Boolean(load_default=False)
    frame_inventory_online = fields.Boolean(load_default=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> OrderEntry:
        return OrderEntry(**data)


class _LabSchema(Schema):
    class Meta:
        unknown = RAISE

    station_verify = fields.Boolean(load_default=True)
    force_qa_on_addon_jobs = fields.Boolean(load_default=True)
    final_qa_process = fields.String(load_default="final_qa")
    completion_station = fields.String(required=True)
    delete_reason_required = fields.Boolean(load_default=False)
    delete_reasons = fields.List(fields.Nested(_DeleteReasonSchema), load_default=list)
    job_tracker_module = fields.Boolean(load_default=True)
    completion_identifiers = fields.String(
        load_default="order_number", validate=validate.OneOf(["order_number", "any"])
    )
    processes = fields.List(fields.Nested(_ProcessSchema), required=True)
    stations = fields.List(fields.Nested(_StationSchema), required=True)
    addons = fields.List(fields.Nested(_AddonSchema), required=True)
    customers = fields.List(fields.Nested(_CustomerSchema), load_default=list)
    order_entry = fields.Nested(_OrderEntrySchema, load_default=OrderEntry)
    work_tickets = fields.Nested(_WorkTicketsSchema, load_default=WorkTickets)
    pick = fields.Nested(_PickSchema, load_default=PickSetup)

    @validates_schema(skip_on_field_errors=True)
    def _consistent(self, data: dict[str, Any], **_: object) -> None:
        known = {p.key for p in data["processes"]}
        problems = [
            f"{kind} {code!r} is listed twice"
            for kind, codes in (
                ("process", [p.key for p in data["processes"]]),
                ("station", [s.code for s in data["stations"]]),
                ("addon", [a.code for a in data["addons"]]),
                ("delete reason", [r["code"] for r in data["delete_reasons"]]),
            )
            for code, count in sorted(Counter(codes).items())
            if count > 1
        ]
        seen: set[str] = set()
        for index, customer in enumerate(data["customers"]):
            if customer.number in seen:
                problems.append(
                    f"customers[{index}].number: customer {customer.number!r} is listed twice"
                )
            seen.add(customer.number)
        problems += [
            f"station {s.code!r} performs unknown process {s.process!r}"
            for s in data["stations"]
            if s.process is not None and s.process not in known
        ]
        problems += [
            f"addon {a.code!r} needs process {p!r}, which no process entry describes"
            for a in data["addons"]
            for p in sorted(a.processes - known)
        ]
        problems += [
            f"operator {s.code!r} cannot {what}"
            for s in data["stations"]
            if s.is_operator
            for what, wrong in (
                ("perform a process", s.process is not None),
                ("require an operator", s.requires_operator),
            )
            if wrong
        ]
        if data["final_qa_process"] not in known:
            problems.append(f"final_qa_process {data['final_qa_process']!r} is not a process")
        if data["completion_station"] not in {s.code for s in data["stations"]}:
            problems.append(f"completion_station {data['completion_station']!r} is not a station")
        if problems:
            raise ValidationError(problems)

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> Lab:
        return Lab(
            processes=tuple(data["processes"]),
            stations={s.code: s for s in data["stations"]},
            addons={a.code: a for a in data["addons"]},
            completion_station=data["completion_station"],
            station_verify=data["station_verify"],
            force_qa_on_addon_jobs=data["force_qa_on_addon_jobs"],
            final_qa_process=data["final_qa_process"],
            delete_reason_required=data["delete_reason_required"],
            delete_reasons={r["code"]: r["description"] for r in data["delete_reasons"]},
            job_tracker_module=data["job_tracker_module"],
            completion_by_any_identifier=data["completion_identifiers"] == "any",
            customers={c.number: c for c in data["customers"]},
            order_entry=data["order_entry"],
            work_tickets=data["work_tickets"],
            pick=data["pick"],
        )


def load_lab(path: str | Path) -> Lab:
    """Read and check the lab file at `path`."""
    try:
        with open(path, "rb") as file:
            raw = tomllib.load(file)
        lab: Lab = _LabSchema().load(raw)
        return lab
    except OSError as error:
        raise LabFileError(f"Cannot read lab file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise LabFileError(f"Lab file {path} is not valid TOML: {error}") from None
    except ValidationError as error:
        problems = "; ".join(_flattened(error.messages))
        raise LabFileError(f"Lab file {path} is inconsistent: {problems}") from None


def _flattened(messages: Any, where: str = "") -> list[str]:
    """marshmallow's nested messages as `customers[4].number: problem` lines, one an entry."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            if key == "_schema":
                lines += _flattened(value, where)
            elif isinstance(key, int):
                lines += _flattened(value, f"{where}[{key}]")
            else:
                lines += _flattened(value, f"{where}.{key}" if where else str(key))
        return lines
    if isinstance(messages, list):
        return [line for item in messages for line in _flattened(item, where)]
    return [f"{where}: {messages}" if where else str(messages)]
