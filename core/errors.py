"""Domain errors. One base class, mapped to HTTP in one place by the API's exception handler."""


class DomainError(Exception):
    """A request the domain refuses; the message is safe to show to the user."""


class TransitionNotAllowed(DomainError):
    """A status change that the workflow does not allow from the current status (HTTP 409)."""


class StaleVersion(DomainError):
    """An edit based on a version of the record that has since changed (HTTP 412)."""


class NotVisible(DomainError):
    """A row the acting user may not see or act on: answered exactly as a missing row (HTTP 404)."""

    def __init__(self, message: str = "Not found."):
        super().__init__(message)
