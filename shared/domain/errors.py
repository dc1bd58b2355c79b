"""Domain errors: each knows its condition and message, none knows HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the shared package raises on purpose."""


class CompletionRejected(DomainError):
    """An order cannot be completed; `code` and `message` are Rx-Universe's."""

    code: str
    message: str

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(f"{self.code}: {self.message}")


class OrderNotFound(CompletionRejected):
    code, message = "01", "Order not found"


class OrderDeleted(CompletionRejected):
    code, message = "02", "Order deleted"


class OrderUnvalid(CompletionRejected):
    code, message = "03", "Order unvalid"


class OrderAlreadyCompleted(CompletionRejected):
    code, message = "04", "Order already completed"


class OrderOnHold(CompletionRejected):
    code, message = "05", "Order on hold"


class JobFlowIncomplete(CompletionRejected):
    """The order has not passed a station for a process it needs; the message names it."""

    code = "20"


class RecordNotFound(DomainError):
    """A read asked for a record that does not exist; `provided` is what the client sent."""

    def __init__(self, provided: str) -> None:
        self.provided = provided
        super().__init__(f"No record found: {provided}")


class InvalidInput(DomainError):
    """Input that is well-formed but does not fit the data (a taken number, an unknown code)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class OrderNumberTaken(InvalidInput):
    def __init__(self, order_number: int) -> None:
        super().__init__("orderNumber", f"Order {order_number} already exists.")


class NoOrderNumberLeft(InvalidInput):
    """Every number the simulator may choose is taken; the client must give one."""

    def __init__(self, first: int, last: int) -> None:
        super().__init__(
            "orderNumber", f"Every order number from {first} to {last} is taken; give one."
        )


class UnknownStation(InvalidInput):
    def __init__(self, field: str, code: str) -> None:
        super().__init__(field, f"Unknown station {code!r}.")


class UnknownAddon(InvalidInput):
    def __init__(self, field: str, code: str) -> None:
        super().__init__(field, f"Unknown addon {code!r}.")


class OrderContended(DomainError):
    """Every attempt to flag the order found its facts changed between the check and the write."""

    def __init__(self, order_number: int, attempts: int) -> None:
        self.order_number = order_number
        super().__init__(f"Order {order_number} changed under each of {attempts} attempts")


class TrackerNotRunning(DomainError):
    """No Job Tracker heartbeat is fresh, and completions are only taken while one runs."""

    code, message = "99", "Job Tracker not running"

    def __init__(self) -> None:
        super().__init__(f"{self.code}: {self.message}")
