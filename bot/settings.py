"""Configuration (SPEC §2), read from the environment and a ``.env`` file.

A missing or invalid value stops start-up with one line naming the variable:
``load_settings`` turns pydantic's errors into :class:`SettingsError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.incidents.priority import (
    DEFAULT_LEVELS,
    PriorityLevel,
    PriorityPolicy,
    parse_contact,
    parse_priority_levels,
)
from bot.timefmt import parse_duration


def bundled_runbooks_dir() -> Path:
    """The runbooks shipped with the installation (wheel) or the repo checkout."""
    here = Path(__file__).resolve().parent
    bundled = here / "_bundled" / "runbooks"
    return bundled if bundled.is_dir() else here.parent / "runbooks"


def parse_interval(value: object) -> float:
    """``1800``, ``1.5`` or ``HH:MM:SS`` → seconds (> 0)."""
    return parse_duration(value, units=False)


def _split_csv(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = str(value).split(",")
    return [item.strip().lstrip("#") for item in items if item.strip().lstrip("#")]


class SettingsError(Exception):
    """One line naming the variable at fault."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite+aiosqlite:///./runbook-bot.db"
    runbooks_dir: Path = Field(default_factory=bundled_runbooks_dir)
    incident_channels: Annotated[list[str], NoDecode] = ["incidents"]
    status_update_interval: float = 1800.0
    port: int = Field(default=3000, ge=1, le=65535)
    # SPEC §7: most urgent first; validated before DEFAULT_PRIORITY, which must name one.
    priority_levels: Annotated[list[PriorityLevel], NoDecode] = Field(
        default_factory=lambda: parse_priority_levels(DEFAULT_LEVELS)
    )
    # Checked against the levels even when unset (levels without "medium").
    default_priority: str = Field(default="medium", validate_default=True)
    escalation_contact: str | None = None  # U… or S…, mentioned when a target or RTO passes
    # Extensions beyond the contract.
    approvers: Annotated[list[str], NoDecode] = []  # user (U…/W…) or user-group (S…) IDs
    log_level: str = "INFO"
    host: str = "0.0.0.0"
    # How long a claimed outbox row stays leased to its own worker (which then
    # retries what it lost track of). Another worker takes a row over only when
    # its owner is gone (bot/slack/owner.py), at once, whatever the lease says.
    outbox_lease_seconds: float = Field(default=15.0, gt=0)
    # Where Slack delivery and reminders run: "embedded" in the serving process,
    # "process" in a child process `serve` supervises, "external" when you run
    # `runbook-bot worker` yourself; "auto" = process on PostgreSQL, else embedded.
    worker: Literal["auto", "embedded", "process", "external"] = "auto"
    # Drills (SPEC §8): a runbook whose last passing validation is older than
    # this (or that has none) is due. A duration: 90d, 12h, HH:MM:SS, seconds.
    validation_interval: float = 90 * 86400.0
    # After resolving a (non-drill) incident, its postmortem is due within this.
    postmortem_due: float = 48 * 3600.0
    # App Home: at most one views.publish per viewer per this many seconds;
    # changes in between are coalesced into the next one.
    home_refresh_interval: float = 10.0
    # App Home: who opened the tab within this long has it refreshed on changes;
    # everyone else gets a fresh view when they next open it.
    home_recent_window: float = Field(default=900.0, gt=0)
    # Alertmanager webhook (docs/alerts.md): the route answers 404 while the
    # token is unset; alerts are posted in ALERT_CHANNEL (default: the first
    # incident channel).
    alert_webhook_token: str | None = None
    # Executable steps (docs/runbook-format.md): the actions file, by default
    # actions.yaml at the root of RUNBOOKS_DIR; ESCALATION_ACTION names one of
    # its actions, run when a response target or an RTO passes.
    actions_file: Path | None = None
    escalation_action: str | None = None
    alert_channel: str | None = None

    @field_validator("incident_channels", "approvers", mode="before")
    @classmethod
    def _csv(cls, value: object) -> list[str]:
        return _split_csv(value)

    @field_validator("status_update_interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float:
        return parse_interval(value)

    @field_validator(
        "validation_interval",
        "home_refresh_interval",
        "home_recent_window",
        "postmortem_due",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("priority_levels", mode="before")
    @classmethod
    def _levels(cls, value: object) -> list[PriorityLevel]:
        return parse_priority_levels(value)

    @field_validator("default_priority", mode="before")
    @classmethod
    def _default_level(cls, value: object, info: ValidationInfo) -> str:
        name = str(value or "").strip().lower()
        levels = info.data.get("priority_levels")
        if levels is None:  # PRIORITY_LEVELS itself is invalid: that error is reported
            return name
        names = [level.name for level in levels]
        if name not in names:
            raise ValueError(f"{name!r} is not one of the PRIORITY_LEVELS ({', '.join(names)})")
        return name

    @field_validator("escalation_contact", mode="before")
    @classmethod
    def _contact(cls, value: object) -> str | None:
        return parse_contact(value)

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        # Accept the URLs people paste from their provider and pick the async driver.
        for plain in ("postgres://", "postgresql://"):
            if value.startswith(plain):
                return "postgresql+asyncpg://" + value[len(plain) :]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("use postgresql+asyncpg://… or sqlite+aiosqlite:///…")
        return value

    @field_validator("incident_channels")
    @classmethod
    def _channels_nonempty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one channel (name or ID)")
        return value

    @field_validator("alert_webhook_token", mode="before")
    @classmethod
    def _alert_token(cls, value: object) -> str | None:
        if value is None or str(value).strip() == "":
            return None  # unset: the webhook route answers 404
        token = str(value).strip()
        if len(token) < 16:
            raise ValueError("use at least 16 characters (e.g. `openssl rand -hex 32`)")
        if any(c.isspace() or not c.isprintable() for c in token):
            raise ValueError("must be printable characters without spaces")
        return token

    @field_validator("alert_channel", mode="before")
    @classmethod
    def _alert_channel(cls, value: object) -> str | None:
        if value is None or str(value).strip() == "":
            return None  # the first incident channel
        channel = str(value).strip().lstrip("#")
        if not channel or any(c.isspace() or c == "," for c in channel):
            raise ValueError("name one channel (name or ID), e.g. alerts or C0123ABCD")
        return channel

    @property
    def alerts_channel(self) -> str:
        """Where alert messages are posted."""
        return self.alert_channel or self.incident_channels[0]

    def require_slack(self) -> None:
        """``serve`` needs both Slack secrets; the other commands don't."""
        if not self.slack_bot_token:
            raise SettingsError(
                "SLACK_BOT_TOKEN is not set: set it to your app's Bot User OAuth Token (xoxb-…)"
            )
        if not self.slack_signing_secret and not self.slack_app_token:
            raise SettingsError(
                "SLACK_SIGNING_SECRET is not set: set it to your app's Signing Secret "
                "(Basic Information page)"
            )
        if self.slack_app_token and not self.slack_app_token.startswith("xapp-"):
            raise SettingsError("SLACK_APP_TOKEN is invalid: an app-level token starts with xapp-")

    @property
    def worker_mode(self) -> str:
        if self.worker != "auto":
            return self.worker
        return "embedded" if self.database_url.startswith("sqlite") else "process"

    @property
    def priorities(self) -> PriorityPolicy:
        return PriorityPolicy(
            tuple(self.priority_levels),
            self.default_priority,
            self.status_update_interval,
            self.escalation_contact,
        )

    def level(self, name: str | None) -> PriorityLevel | None:
        """The level called ``name`` (any case), or None."""
        return self.priorities.level(name)

    def update_interval_for(self, level_name: str | None) -> float:
        """Seconds between status-update reminders for incidents of this level."""
        return self.priorities.interval_for(level_name)

    def is_incident_channel(self, channel_id: str, channel_name: str | None) -> bool:
        wanted = {c.lower() for c in self.incident_channels}
        return channel_id.lower() in wanted or (channel_name or "").lower() in wanted


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "settings"
        message = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{field.upper()} is invalid: {message}") from None
