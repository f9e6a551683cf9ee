"""Text from outside (webhooks, Slack payloads) made safe to store and to send.

JSON may spell a lone UTF-16 surrogate (``"\\udcff"``); Python keeps it in a ``str``,
but it has no UTF-8 form, so PostgreSQL, the JSON encoder of an outgoing request
or a log handler fails on it later, far from where it came in. At the edge it
becomes U+FFFD, as any invalid byte would.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["valid_utf8"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_utf8(value: Any) -> Any:
    """``value`` (decoded JSON) with every lone surrogate, in keys too, replaced."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {valid_utf8(k): valid_utf8(v) for k, v in value.items()}
    if isinstance(value, list):
        return [valid_utf8(item) for item in value]
    return value
