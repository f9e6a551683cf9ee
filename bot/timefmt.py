"""Human durations, shared by Slack messages and the timeline export (pure)."""

from __future__ import annotations

from datetime import timedelta


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
