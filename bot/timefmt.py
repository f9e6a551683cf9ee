"""Human durations, shared by Slack messages, the timeline export, runbook front
matter (``rto``) and settings (pure)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = ["DURATION_FORMS", "MAX_DURATION", "format_duration", "parse_duration", "plural"]

MAX_DURATION = 366 * 24 * 3600  # deadlines must stay representable as datetimes
DURATION_FORMS = "90s, 15m, 1h, 1d, HH:MM:SS or seconds"

_HMS = re.compile(r"^(\d+):([0-5]?\d):([0-5]?\d)$")
_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_WITH_UNITS = re.compile(r"^(?:\d+(?:\.\d+)?\s*[a-z]+\s*)+$")


def parse_duration(value: object, *, units: bool = True) -> float:
    """``90s``, ``15m``, ``1h``, ``1d``, ``1h30m``, ``HH:MM:SS`` or seconds → seconds (> 0).

    ``units=False`` accepts only ``HH:MM:SS`` and plain seconds (the older
    settings form). Raises :class:`ValueError` with a message naming the forms.
    """
    forms = DURATION_FORMS if units else "seconds (1800) or HH:MM:SS"
    if isinstance(value, bool):
        raise ValueError(f"expected a duration ({forms}), got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        match = _HMS.match(text)
        if match:
            h, m, s = (int(g) for g in match.groups())
            seconds = float(h * 3600 + m * 60 + s)
        elif units and _WITH_UNITS.match(text):
            seconds = 0.0
            for number, unit in _PART.findall(text):
                if unit not in _UNITS:
                    raise ValueError(
                        f"unknown unit {unit!r} in {str(value).strip()!r}: use {forms}"
                    )
                seconds += float(number) * _UNITS[unit]
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(
                    f"expected a duration ({forms}), got {str(value).strip()!r}"
                ) from None
    if math.isnan(seconds) or not seconds > 0:
        raise ValueError(f"must be more than 0 seconds, got {value!r}")
    if not seconds <= MAX_DURATION:  # also rejects inf
        raise ValueError(f"must be at most {MAX_DURATION} seconds (366 days), got {value!r}")
    return seconds


def format_duration(delta: timedelta) -> str:
    """``12s``, ``4m 05s``, ``2h 07m`` — never negative."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "reminder")`` → ``1 reminder``; ``plural(2, "reminder")`` →
    ``2 reminders``; ``many`` for an irregular plural (``"runbook runs"``)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
