"""The API's request parsers, named in settings.

Kept apart from ``api.base`` for the reason ``api.policies`` is: DRF
imports these while it loads its own views.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

# Deeper than any resource of this API; deep enough nesting would exhaust the stack.
MAX_JSON_DEPTH = 32


def _json_depth_exceeds(data, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


class SafeJSONParser(JSONParser):
    """JSON bodies, with nesting bounded: a body nested deeper than ``MAX_JSON_DEPTH``
    (or so deep that decoding it would exhaust the stack) is malformed, a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError() from None
        if _json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise exceptions.ParseError()
        return data
