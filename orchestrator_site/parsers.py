"""The one request body parser: DRF's JSON, refusing with a 400 what it let through.

Nesting deeper than Python's recursion limit raised RecursionError (a 500). Duplicate keys
silently kept the last value (`{"train_perf": {u: 0.1, u: 0.9}}`). A lone surrogate escape
(`"\\ud800"`) decoded to a string that cannot be encoded as UTF-8: as a dict key it reached
the error message, whose rendering failed (a 500). (DRF hands the parser `request.body`,
which Django already caps at DATA_UPLOAD_MAX_MEMORY_SIZE: 413.)
"""

import json
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

# Only a \u escape can produce a surrogate: raw UTF-8 bytes cannot encode one.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key[:60]!r}")
        found[key] = value
    return found


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        raw = stream.read()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
            data = json.loads(text, parse_constant=strict_constant, object_pairs_hook=_unique_keys)
            if SURROGATE_ESCAPE.search(text):
                json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeError as exc:  # bytes that are not `encoding`, or a lone surrogate
            # Some codecs raise the bare UnicodeError, which has no `reason` (charset=idna).
            reason = exc.reason if isinstance(exc, (UnicodeDecodeError, UnicodeEncodeError)) else exc
            raise ParseError(f"JSON parse error - not valid {encoding} text: {reason}") from None
        except LookupError:  # `Content-Type: application/json; charset=<unknown>`
            raise ParseError(f"JSON parse error - unknown charset {encoding[:40]!r}") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        return data
