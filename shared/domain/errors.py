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


class OrderMarkedForCancelation(DomainError):
    """A status read of a cancelled order, which Rx-Universe answers with this error body."""

    error = "Order marked for cancelation"

    def __init__(self, order_number: int) -> None:
        self.order_number = order_number
        super().__init__(f"{self.error}: {order_number}")


class InvalidInput(DomainError):
    """Input that is well-formed but does not fit the data (a taken number, an unknown code)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ScenarioInvalid(DomainError):
    """A scenario or snapshot the lab cannot hold: each problem is `entry: message`, the entry
    named by its path in the file (`orders.3.addons.0`)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


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


class NotCompletedAtCompletion(InvalidInput):
    """An order whose last station is the completion station is a completed order: anything
    else could never be completed, nor leave that station."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(
            field, f"Only a completed order (status C) can be at the completion station {code!r}."
        )


class UnknownAddon(InvalidInput):
    def __init__(self, field: str, code: str) -> None:
        super().__init__(field, f"Unknown addon {code!r}.")


class OrderContended(DomainError):
    """Every attempt to flag the order found its facts changed between the check and the write."""

    def __init__(self, order_number: int, attempts: int) -> None:
        self.order_number = order_number
        super().__init__(f"Order {order_number} changed under each of {attempts} attempts")


class CheckinRefused(DomainError):
    """A check-in was not performed; `reason` is Rx-Universe's one line of details."""

    reason: str

    def __init__(self, reason: str | None = None) -> None:
        if reason is not None:
            self.reason = reason
        super().__init__(f"Checkin not performed: {self.reason}")


class PrintRefused(DomainError):
    """A work ticket was not printed: Rx-Universe's details; `server_side` for the refusals it
    answers with a 500 (the lab's settings, not the order, are at fault)."""

    error = "Printing request rejected"
    details: tuple[str, ...] = ()
    server_side = False

    def __init__(self, *details: str) -> None:
        if details:
            self.details = details
        super().__init__(f"{self.error}: {'; '.join(self.details)}")


class OrderWaitingForTray(PrintRefused):
    details = ("Order waiting for tray",)


class TicketFormatNotXml(PrintRefused):
    details = ("Only the XML Work Ticket system setting is supported",)
    server_side = True


class StockOrderNoTicket(PrintRefused):
    details = ("Order is a stock order and there is no work ticket",)


class NoXmlTemplate(PrintRefused):
    details = ("No XML template is selected in system settings",)
    server_side = True


class XmlTemplateMissing(PrintRefused):
    server_side = True

    def __init__(self, template: str) -> None:
        super().__init__(
            "The XML template set in system settings does not exist", f"Set: {template}"
        )


class NoPrinterDefined(PrintRefused):
    details = ("No printer defined for workstation 00",)
    server_side = True


class PickRefused(DomainError):
    """Pick verification refused; `reason` is the one line of details (`Order already picked`
    is Rx-Universe's, the others and the summary are ours)."""

    error = "Pick verification rejected"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{self.error}: {reason}")


class TrayAssignmentRefused(DomainError):
    """A tray assignment was not made; `reason` is Rx-Universe's message for it (the summary
    above it, `Tray assignment rejected`, is ours: Rx-Universe documents only the messages)."""

    error = "Tray assignment rejected"
    reason: str

    def __init__(self) -> None:
        super().__init__(f"{self.error}: {self.reason}")


class TrayOrderNotFound(TrayAssignmentRefused):
    reason = "Order not found"


class TrayIdentifierMalformed(TrayAssignmentRefused):
    reason = "You must use an order number or PO Number for orderIdentifier"


class TrayOrderCompleted(TrayAssignmentRefused):
    """Completed, or waiting for the Job Tracker to complete it: one message for both."""

    reason = "Cannot assign a completed order to a tray"


class TrayNotNumeric(TrayAssignmentRefused):
    reason = "trayNumber only accepts numbers"


class TrayTooLong(TrayAssignmentRefused):
    reason = "trayNumber supports up to 5 digits"


class TrayOrderDeleted(TrayAssignmentRefused):
    reason = "Cannot assign a deleted order to a tray"


class TrayOrderOnHold(TrayAssignmentRefused):
    reason = "Cannot assign an on-hold order to a tray"


class TrayInUse(TrayAssignmentRefused):
    """Rx-Universe's message is cut off after "Tray is already" in every copy: the rest is ours."""

    reason = "Tray is already assigned to an active order"


class OrderAlreadyHasTray(TrayAssignmentRefused):
    reason = "Order already has a tray"


class StationNotFound(CheckinRefused):
    """No station a client may check into has this code (operators and conveyor decision points
    are not such stations)."""

    reason = "Station not found"


class CompletionStationReserved(CheckinRefused):
    """The completion station records the Job Tracker's completions; a client completes an order
    through the completion endpoint instead."""

    reason = "Station is reserved for the Job Tracker"


class CheckinOrderNotFound(CheckinRefused):
    reason = "Order not found"


class OperatorNotFound(CheckinRefused):
    reason = "Operator not found"


class OperatorRequired(CheckinRefused):
    """The station takes a check-in only with an operator's code."""

    reason = "Operator required"


class OrderNotCheckable(CheckinRefused):
    """The order is not in the lab's flow: cancelled, unvalid, completed or on hold."""


class ProcessNotNeeded(CheckinRefused):
    """Job-flow verification: the station performs a process no addon of the order calls for;
    the reason is the lab's message for it (`AR not needed`)."""


class CancelRefused(DomainError):
    """A cancel was refused; `error` and `details` are Rx-Universe's."""

    error: str

    def __init__(self, details: tuple[str, ...] = ()) -> None:
        self.details = list(details)
        super().__init__(self.error)


class CancelOrderCompleted(CancelRefused):
    """Rx-Universe's answer to a cancel of an order already cancelled, and of a completed one."""

    error = "Order already completed"


class JobTrackerModuleRequired(CancelRefused):
    error = "Job Tracker module required for cancel method"


class NonCancelStationPassed(CancelRefused):
    error = "Order has been through a non-cancel station"


class DeleteReasonUnknown(CancelRefused):
    error = "Delete reason code does not exist"

    def __init__(self, provided: str) -> None:
        super().__init__((f"Provided: {provided}",))


class DeleteReasonsEmpty(CancelRefused):
    error = "The delete reasons file is empty"


class TrackerNotRunning(DomainError):
    """No Job Tracker heartbeat is fresh, and completions are only taken while one runs."""

    code, message = "99", "Job Tracker not running"

    def __init__(self) -> None:
        super().__init__(f"{self.code}: {self.message}")


class SubmissionRefused(DomainError):
    """A submitted order was refused before it was queued; `error` and `details` are
    Rx-Universe's."""

    error: str

    def __init__(self, details: tuple[str, ...] = ()) -> None:
        self.details = list(details)
        super().__init__(self.error)


class LensPairsMissing(SubmissionRefused):
    """Neither eye names a lens style, or neither names a material: one line per such pair."""

    error = "Incorrect arguments provided"


class CribNotUncut(SubmissionRefused):
    error = "crib is only valid on uncut jobs"


class EllhNotUncut(SubmissionRefused):
    error = "ellh is only valid on uncut jobs"


class CustomerNotFound(SubmissionRefused):
    error = "Customer does not exist"

    def __init__(self, provided: str) -> None:
        super().__init__((f"Provided: {provided}",))


class FrameInventoryOffline(SubmissionRefused):
    """The order supplies its frame, the lab uses the Frame Inventory module, and it is offline:
    Rx-Universe answers this one with a 500."""

    error = "Frame Inventory Module is offline"


class NoAddonsEntered(SubmissionRefused):
    error = "No addons entered"


class CalculationFailed(SubmissionRefused):
    """The prescription fails calculation validation; each detail is `ERROR nnn: TEXT`."""

    error = "Validation Failed"


class TraceInvalid(SubmissionRefused):
    """The frame trace sent with the order fails validation; each detail names the field.
    Rx-Universe's own body for this refusal is not documented: this one is ours."""

    error = "Trace validation failed"
