"""The API's JSON parser: DRF's, plus an answer for bodies nested too deeply to parse.

Python's json module gives up on deep nesting (`[[[[...` 100,000 levels) with RecursionError, which
DRF does not catch: a client's malformed body would become a 500 with a traceback in the log.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class ApiJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply.") from exc
