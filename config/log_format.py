"""How log lines are written: JSON (one object a line) or plain text, each with the request id.

A JSON line holds a fixed set of fields and nothing else: time, level, logger,
message, request id, and a traceback when there is one. Whatever else a library
attaches to a record (Django attaches the whole request, whose text includes
the query string) is left out, because query strings and bodies carry names.
"""

from __future__ import annotations

import datetime
import logging

from pythonjsonlogger.json import JsonFormatter

#: The record attributes a JSON line may carry, under these names.
_FIELDS = {"levelname": "level", "name": "logger", "request_id": "request_id", "status_code": "status_code"}


class SafeJsonFormatter(JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("timestamp", "time")
        super().__init__(*args, **kwargs)

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        log_record[self.timestamp] = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat()
        log_record["message"] = record.getMessage()
        for attribute, key in _FIELDS.items():
            value = getattr(record, attribute, None)
            if value is not None:
                log_record[key] = value
        if "exc_info" in message_dict:
            log_record["exc_info"] = message_dict["exc_info"]
        if "stack_info" in message_dict:
            log_record["stack_info"] = message_dict["stack_info"]


class NoQueryStringFilter(logging.Filter):
    """The development server logs each request line; this drops its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple) and isinstance(record.args[0], str):
            first = record.args[0]
            if "?" in first:
                method_path, _, rest = first.partition("?")
                protocol = rest.rsplit(" ", 1)[-1] if " " in rest else ""
                record.args = (f"{method_path} {protocol}".rstrip(), *record.args[1:])
        return True
