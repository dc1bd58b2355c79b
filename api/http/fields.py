"""marshmallow fields and bases the surfaces share: order numbers, text, flags, instants, list
queries."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate

E = TypeVar("E", bound=enum.Enum)


def utc_millis(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC with milliseconds and `Z`: 2026-11-27T17:26:21.123Z."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class UTCMillis(fields.Field[datetime]):
    """A datetime written as `utc_millis` writes it."""

    def openapi_property(self) -> dict[str, Any]:
        """How the OpenAPI document describes it (api.http.openapi asks every field that has
        this)."""
        return {"type": "string", "format": "date-time", "example": "2026-11-27T17:26:21.123Z"}

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return utc_millis(value)


class Digits(fields.Field[str]):
    """A number written with ASCII digits, given as a JSON string or a non-negative integer."""

    # Unannotated: marshmallow types it as an instance attribute, which a ClassVar annotation would
    # contradict (mypy); marshmallow only reads it, so ruff's mutable-default worry does not apply.
    default_error_messages = {  # noqa: RUF012
        "invalid": "Must be digits (0-9), as a string or an integer.",
        "too_long": "Must be at most {max_digits} digits.",
    }

    def __init__(self, *, max_digits: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_digits = max_digits

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = str(value)
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]+", value):
            raise self.make_error("invalid")
        if len(value) > self.max_digits:
            raise self.make_error("too_long", max_digits=self.max_digits)
        return value

    def openapi_property(self) -> dict[str, Any]:
        """Digits as a string, or a non-negative integer."""
        return {
            "oneOf": [
                {"type": "string", "pattern": "^[0-9]+$", "maxLength": self.max_digits},
                {"type": "integer", "minimum": 0, "maximum": 10**self.max_digits - 1},
            ]
        }


class OrderNumber(Digits):
    """An order number: a positive whole number of at most 18 digits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=18, **kwargs)

    # The ignore: it reuses Digits (a Field[str]) but loads the int the digits stand for, and a
    # subclass cannot change its base's type parameter.
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:  # type: ignore[override]
        number = int(super()._deserialize(value, attr, data, **kwargs))
        if number == 0:
            raise ValidationError("Must be greater than 0.")
        return number

    def openapi_property(self) -> dict[str, Any]:
        """Digits that are not all zeros, as a string, or a positive integer."""
        return {
            "oneOf": [
                {"type": "string", "pattern": "^0*[1-9][0-9]*$", "maxLength": self.max_digits},
                {"type": "integer", "minimum": 1, "maximum": 10**self.max_digits - 1},
            ]
        }


class Text(fields.String):
    """A string the database can store: no NUL character (PostgreSQL refuses it, SQLite would
    keep it) and no lone surrogate (JSON can spell one, `"\\ud800"`, but no encoding can store
    it). Every string the API takes in is one of these, so both databases answer alike."""

    # Unannotated, and only read by marshmallow: see Digits.default_error_messages.
    default_error_messages = {  # noqa: RUF012
        "nul": "Must not contain a NUL character.",
        "surrogate": "Must not contain a lone surrogate (\\ud800 to \\udfff).",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        if _SURROGATE.search(text):
            raise self.make_error("surrogate")
        return text


_SURROGATE = re.compile("[\ud800-\udfff]")


class Flag(fields.Boolean):
    """JSON true or false only: "yes", 1 or "false" are more likely mistakes than intentions."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def code_enum(enum_class: type[E], **kwargs: Any) -> fields.Enum[E]:
    """A field of one of Rx-Universe's codes (`OrderStatus`, `JobType`), read and written by its
    value (`"P"`), not its Python name."""
    return fields.Enum(enum_class, by_value=True, **kwargs)


# What a plain loader answers for a value it leaves to the field's own `deserialize`.
NOT_PLAIN: Any = object()
PlainLoader = Callable[[Any], Any]


def plain_loader(field: fields.Field[Any]) -> PlainLoader | None:
    """For a field of a kind the API declares often, a function that loads a plainly valid
    value as the field's `deserialize` would and answers NOT_PLAIN for anything else (a wrong
    type, null, a value a validator refuses), which the field itself then loads or refuses with
    its own message. None for any other field, or one with a hook or a validator not known here.

    marshmallow's `deserialize` costs about 5 µs a field in bookkeeping; a submission has a dozen
    (docs/benchmarks.md). tests/test_quick_load.py holds each loader to its field's answers."""
    if getattr(field, "pre_load", None) or getattr(field, "post_load", None):
        return None
    checks = [_plain_check(v) for v in field.validators]
    if any(check is None for check in checks):
        return None
    valid = tuple(c for c in checks if c is not None)
    kind = type(field)
    load: PlainLoader
    if kind is Text:

        def load(value: Any) -> Any:
            if type(value) is str and "\x00" not in value and not _SURROGATE.search(value):
                return value
            return NOT_PLAIN

    elif kind is fields.String:

        def load(value: Any) -> Any:
            return value if type(value) is str else NOT_PLAIN

    elif kind is Number:

        def load(value: Any) -> Any:
            if type(value) is float or type(value) is int:
                try:
                    number = float(value)
                except OverflowError:
                    return NOT_PLAIN
                if math.isfinite(number):
                    return number
            return NOT_PLAIN

    elif kind is fields.Integer:

        def load(value: Any) -> Any:
            return value if type(value) is int else NOT_PLAIN

    elif kind is Flag:

        def load(value: Any) -> Any:
            return value if type(value) is bool else NOT_PLAIN

    elif kind is fields.List:
        inner = plain_loader(field.inner)  # type: ignore[attr-defined]
        if inner is None:
            return None

        def load(value: Any) -> Any:
            if type(value) is not list:
                return NOT_PLAIN
            items = [inner(item) for item in value]
            return NOT_PLAIN if NOT_PLAIN in items else items

    else:
        return None
    if not valid:
        return load

    def checked(value: Any) -> Any:
        loaded = load(value)
        if loaded is NOT_PLAIN:
            return NOT_PLAIN
        for check in valid:
            if not check(loaded):
                return NOT_PLAIN
        return loaded

    return checked


def _plain_check(validator: Any) -> Callable[[Any], bool] | None:
    """A validator as a test that passes exactly what it passes; None if it is not one of these."""
    kind = type(validator)
    if kind is validate.Length and validator.equal is None:
        low = validator.min if validator.min is not None else 0
        high = validator.max if validator.max is not None else math.inf
        return lambda value: low <= len(value) <= high
    if (
        kind is validate.Range
        and validator.min_inclusive
        and validator.max_inclusive
        and validator.min is not None
        and validator.max is not None
    ):
        low, high = validator.min, validator.max
        return lambda value: low <= value <= high
    if kind is validate.OneOf and all(type(choice) is str for choice in validator.choices):
        choices = frozenset(validator.choices)
        return lambda value: type(value) is str and value in choices
    return None


class WholeMatch(validate.Regexp):
    """validate.Regexp over the whole value: its `^...$` would let a trailing newline through
    (`$` matches before one), a character more than the column or the code allows. The pattern
    is kept as written for the OpenAPI document, whose patterns know no `\\Z`."""

    def __call__(self, value: Any) -> Any:
        regex = cast("re.Pattern[str]", self.regex)  # made from a str pattern
        if not isinstance(value, str) or regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class Input(Schema):
    """The base of every request body: an object, no key it does not know."""

    class Meta:
        unknown = RAISE

    # Unannotated, and only read by marshmallow: see Digits.default_error_messages.
    error_messages = {"type": "The request body must be a JSON object."}  # noqa: RUF012

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The keys marshmallow must see to do anything for: a required field, or one it fills in.
        self._keys_with_work = frozenset(
            field.data_key or name
            for name, field in self.load_fields.items()
            if field.required or field.load_default is not missing
        )
        flat = not any(
            isinstance(field, fields.Nested)
            or isinstance(getattr(field, "inner", None), fields.Nested)
            or "." in (field.attribute or name)
            for name, field in self.load_fields.items()
        )
        # What the quick pass looks up by key in the body: (its place in the declared order, the
        # key loaded, the field, its plain loader).
        self._quick = (
            {
                field.data_key or name: (
                    place,
                    field.attribute or name,
                    field,
                    plain_loader(field),
                )
                for place, (name, field) in enumerate(self.load_fields.items())
            }
            if flat
            else None
        )

    def _deserialize(self, data: Any, *, partial: Any = None, **kwargs: Any) -> Any:
        """As marshmallow deserialises, with a quick pass for a flat body that needs nothing but
        its own fields loaded.

        marshmallow visits every declared field, present or not, and wraps each present one in
        its error bookkeeping; the order submission's 55 fields made that a third of the call
        (docs/benchmarks.md). When every key that needs work (a required field, a default) is
        present, each key of the body is loaded by its field's plain loader or its own
        `deserialize`, and the result is put in the declared order, as marshmallow would give
        it. An unknown key or any invalid value drops the quick pass: the body is loaded again
        by marshmallow's own pass, as `partial` (the absent keys are optional), which names
        every error as always.
        """
        quick = self._quick
        if (
            partial is None
            and quick is not None
            and isinstance(data, Mapping)
            and self._keys_with_work.issubset(data)
        ):
            placed: list[tuple[int, str, Any]] = []
            try:
                for key, value in data.items():
                    known = quick.get(key)
                    if known is None:
                        break  # a key no field reads: marshmallow refuses it
                    place, attribute, field, plain = known
                    if plain is not None:
                        value_loaded = plain(value)
                        if value_loaded is not NOT_PLAIN:
                            placed.append((place, attribute, value_loaded))
                            continue
                    placed.append((place, attribute, field.deserialize(value, key, data)))
                else:
                    placed.sort()
                    loaded = self.dict_class()
                    for _, attribute, value in placed:
                        loaded[attribute] = value
                    return loaded
            except ValidationError:
                pass
            partial = True
        return super()._deserialize(data, partial=partial, **kwargs)


class Identifier(fields.Field[str]):
    """An order identifier in a body: a string, or a non-negative integer (an order number)."""

    # Unannotated, and only read by marshmallow: see Digits.default_error_messages.
    default_error_messages = {"invalid": "Must be a string or a non-negative integer."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value

    def openapi_property(self) -> dict[str, Any]:
        """An order, tray or PO number as a string, or an order number as an integer."""
        return {
            "oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
            "description": "The order number, the tray number of an active order, or a PO "
            "number that names one order.",
            "example": "33719",
        }


class ListQuery(Schema):
    """`limit` and `offset`: no limit lists every record; the total ignores both."""

    class Meta:
        unknown = RAISE

    limit = fields.Integer(
        strict=False,
        validate=validate.Range(min=0, max=10**9),
        metadata={"description": "At most this many records; none: every record."},
    )
    offset = fields.Integer(
        strict=False,
        load_default=0,
        validate=validate.Range(min=0, max=10**9),
        metadata={"description": "Skip this many records first."},
    )


# The largest integer either database stores (a 64-bit one): larger numbers name nothing.
MAX_ID = 2**63 - 1


INT32_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL


SUCCESSFUL: dict[str, Any] = {"type": "string", "enum": ["Successful"]}


# What Text refuses (a NUL character; a lone surrogate cannot come in a URL), as a pattern.
NO_NUL = r"^[^\x00]*$"


class Gathered(fields.Nested):
    """A nested object dumped from the object itself rather than from one of its attributes:
    some of a flat record's facts, shown gathered under one key."""

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        return obj


class UpperText(Text):
    """Text read in any case and kept in upper case (HTTP methods: `post` is `POST`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).upper()


class Instant(fields.Field[datetime]):
    """A moment with its time zone: a TOML offset date-time, or an ISO 8601 string (`Z` or an
    offset); written in UTC with microseconds, so a snapshot keeps the order of close events."""

    # Unannotated, and only read by marshmallow: see Digits.default_error_messages.
    default_error_messages = {  # noqa: RUF012
        "invalid": "Must be a date and time with its time zone, e.g. 2026-11-27T08:00:00Z.",
        "naive": "Must have a time zone (Z or an offset such as +01:00).",
        "out_of_range": "Must be within the years 1 to 9999 in UTC.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
        if not isinstance(value, datetime):
            raise self.make_error("invalid")
        if value.tzinfo is None:
            raise self.make_error("naive")
        try:
            return value.astimezone(UTC)
        except OverflowError:  # year 1 or 9999 moved past the calendar's end by its offset
            raise self.make_error("out_of_range") from None

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def openapi_property(self) -> dict[str, Any]:
        """How the OpenAPI document describes it."""
        return {"type": "string", "format": "date-time", "example": "2026-11-27T08:00:00.000000Z"}


class Day(fields.Field[date]):
    """A calendar date: a TOML local date, or `yyyy-mm-dd`."""

    # Unannotated, and only read by marshmallow: see Digits.default_error_messages.
    default_error_messages = {"invalid": "Must be a date, yyyy-mm-dd."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if isinstance(value, str) and len(value) == 10:
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        raise self.make_error("invalid")

    def _serialize(self, value: date | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else value.isoformat()

    def openapi_property(self) -> dict[str, Any]:
        """How the OpenAPI document describes it."""
        return {"type": "string", "format": "date", "example": "2026-11-27"}


# The lab file decides which codes exist: api.http.openapi lists the running lab's codes wherever a
# field carries one of these marks.
LAB_ADDONS: dict[str, Any] = {"x_lab": "addons"}
LAB_STATIONS: dict[str, Any] = {"x_lab": "stations"}
LAB_OPERATORS: dict[str, Any] = {"x_lab": "operators"}


def dumped_text(value: Any) -> str | None:
    """A value as fields.String dumps it (hand-written bodies stay equal to their schemas)."""
    return None if value is None else str(value)


class Number(fields.Float):
    """A JSON number only (no string that looks like one, no NaN or infinity)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)
