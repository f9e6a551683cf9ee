"""Alertmanager's webhook payload (version 4), checked into plain data (pure).

The shape is Alertmanager's ``notify/webhook`` ``Message``: ``version``,
``groupKey``, ``truncatedAlerts``, ``status``, ``receiver``, ``groupLabels``,
``commonLabels``, ``commonAnnotations``, ``externalURL`` and ``alerts`` — each
with ``status``, ``labels``, ``annotations``, ``startsAt``, ``endsAt``,
``generatorURL`` and ``fingerprint``. Anything that does not fit is refused
with a message naming the field, so the sender learns what is wrong and
nothing is recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.slack.untrusted import valid_utf8

STATUSES = ("firing", "resolved")
MAX_FINGERPRINT = 58  # the intake's ordering key is "alert:<fingerprint>" (64)
MAX_ALERTS = 1000  # per delivery; Alertmanager's max_alerts can cap it lower


class PayloadError(ValueError):
    """A malformed webhook body: the message names the field."""


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One alert of a notification, as the sender stated it."""

    status: str  # firing | resolved
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None  # None: Go's zero time (still firing)
    generator_url: str | None

    @property
    def name(self) -> str:
        return self.labels.get("alertname") or "unnamed alert"

    @property
    def severity(self) -> str | None:
        return self.labels.get("severity") or None

    @property
    def summary(self) -> str | None:
        return self.annotations.get("summary") or self.annotations.get("description") or None

    @property
    def runbook_url(self) -> str | None:
        return self.annotations.get("runbook_url") or self.annotations.get("runbook") or None

    def to_json(self) -> dict[str, Any]:
        """As committed to the intake (and read back by ``from_json``)."""
        return {
            "status": self.status,
            "fingerprint": self.fingerprint,
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": self.starts_at.isoformat(),
            "endsAt": self.ends_at.isoformat() if self.ends_at else None,
            "generatorURL": self.generator_url,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertNotice:
        return _alert(data, "alert")


@dataclass(frozen=True, slots=True)
class Notification:
    version: str
    status: str
    receiver: str
    group_key: str
    external_url: str | None
    truncated_alerts: int
    alerts: tuple[AlertNotice, ...]


def group_digest(receiver: str, group_key: str) -> str | None:
    """What identifies an Alertmanager group in the database: a digest of the
    receiver and its ``groupKey`` (of any length: it holds label values);
    None when the sender gave no group key (each alert then stands alone)."""
    if not group_key:
        return None
    return hashlib.sha256(f"{receiver}\x00{group_key}".encode()).hexdigest()


def parse_notification(body: bytes | str) -> Notification:
    """The webhook body → :class:`Notification`; :class:`PayloadError` otherwise."""
    try:
        data = valid_utf8(json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("the body must be a JSON object (Alertmanager webhook, version 4)")
    version = data.get("version")
    if version != "4":
        raise PayloadError(f'version: expected "4" (Alertmanager webhook), got {version!r}')
    status = _status(data.get("status"), "status")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts: expected a list")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(f"alerts: {len(alerts)} in one delivery; at most {MAX_ALERTS}")
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        if name in data and data[name] is not None:
            _strings(data[name], name)
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise PayloadError(f"truncatedAlerts: expected a count, got {truncated!r}")
    return Notification(
        version=version,
        status=status,
        receiver=_optional_text(data.get("receiver"), "receiver") or "",
        group_key=_optional_text(data.get("groupKey"), "groupKey") or "",
        external_url=_optional_text(data.get("externalURL"), "externalURL"),
        truncated_alerts=truncated,
        alerts=tuple(_alert(a, f"alerts[{i}]") for i, a in enumerate(alerts)),
    )


def _alert(data: object, where: str) -> AlertNotice:
    if not isinstance(data, dict):
        raise PayloadError(f"{where}: expected an object")
    fingerprint = data.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint.strip():
        raise PayloadError(f"{where}.fingerprint: expected a non-empty string")
    fingerprint = fingerprint.strip()
    if len(fingerprint) > MAX_FINGERPRINT or not fingerprint.isprintable() or " " in fingerprint:
        raise PayloadError(
            f"{where}.fingerprint: at most {MAX_FINGERPRINT} printable characters, no spaces"
        )
    starts_at = _time(data.get("startsAt"), f"{where}.startsAt")
    if starts_at is None:
        raise PayloadError(f"{where}.startsAt: the alert has no start time")
    return AlertNotice(
        status=_status(data.get("status"), f"{where}.status"),
        fingerprint=fingerprint,
        labels=_strings(data.get("labels"), f"{where}.labels"),
        annotations=_strings(data.get("annotations", {}), f"{where}.annotations"),
        starts_at=starts_at,
        ends_at=_time(data.get("endsAt"), f"{where}.endsAt"),
        generator_url=_optional_text(data.get("generatorURL"), f"{where}.generatorURL"),
    )


def _status(value: object, where: str) -> str:
    if value not in STATUSES:
        raise PayloadError(f'{where}: expected "firing" or "resolved", got {value!r}')
    return str(value)


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; nothing a person reads needs it.
    return text.replace("\x00", "")


def _strings(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: expected an object of strings")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(f"{where}.{key}: expected a string, got {type(item).__name__}")
        out[_clean(str(key))] = _clean(item)
    return out


def _optional_text(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where}: expected a string")
    return _clean(value)


def _time(value: object, where: str) -> datetime | None:
    """RFC 3339 (Go's time.Time; nanoseconds are cut to microseconds); Go's
    zero time ``0001-01-01T00:00:00Z`` means "none"."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where}: expected an RFC 3339 time")
    text = value.strip()
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most 6 fractional digits
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{where}: expected an RFC 3339 time, got {value!r}") from None
    if at.tzinfo is None:
        raise PayloadError(f"{where}: the time needs a zone (Z or ±hh:mm), got {value!r}")
    if at.year <= 1:
        return None
    return at.astimezone(UTC)
