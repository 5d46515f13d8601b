"""A request id on every log line of a request, and of the tasks it enqueues.

The middleware takes the caller's ``X-Request-ID`` when it is a plain token (8 to
64 letters, digits and hyphens), and otherwise makes one; it keeps the id in a
context variable for the duration of the request and echoes it in the answer's
``X-Request-ID`` header. ``RequestIdFilter`` puts it on every log record as
``request_id`` ("-" outside a request). Celery carries it to the tasks a request
enqueues (config/celery.py), through ``current_request_id`` and ``bound_request_id``.

Nothing else of the request is logged here: no path, no query string, no body.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9-]{8,64}")
_NONE = "-"

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def valid_request_id(value) -> str | None:
    """The value if it is an acceptable request id, else None."""
    if isinstance(value, str) and _VALID.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


@contextlib.contextmanager
def bound_request_id(value: str | None):
    """Within this block, log lines carry this request id (a new one if the value is not valid)."""
    token = _request_id.set(valid_request_id(value) or new_request_id())
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)


def bind_request_id(value: str | None):
    """Set the request id until ``unbind_request_id(token)``: for hooks that cannot wrap a block (Celery's signals)."""
    return _request_id.set(valid_request_id(value) or new_request_id())


def unbind_request_id(token) -> None:
    try:
        _request_id.reset(token)
    except ValueError:
        # A token from another context (a signal run elsewhere): forget the id all the same.
        _request_id.set(None)


class RequestIdMiddleware:
    """Give each request an id, for its log lines and in the answer's ``X-Request-ID`` header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with bound_request_id(request.headers.get(HEADER)) as request_id:
            request.request_id = request_id
            response = self.get_response(request)
            response[HEADER] = request_id
            return response


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs an error answer ("Service Unavailable: ...") after the middleware
        # has returned; that record carries the request, which carries its id.
        from_request = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = _request_id.get() or from_request or _NONE
        return True
