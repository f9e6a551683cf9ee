"""Configuration (SPEC §2): defaults, formats, one-line errors naming the variable,
and the ``.env`` file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings, parse_interval

VARIABLES = tuple(field.upper() for field in Settings.model_fields)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting leaks in from the machine; the cwd has no .env unless a test writes one."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def error_for(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message, message
    assert name in message, message
    return message


def test_defaults() -> None:
    settings = load_settings()
    assert settings.slack_bot_token is None
    assert settings.slack_signing_secret is None
    assert settings.slack_app_token is None
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url == "sqlite+aiosqlite:///./runbook-bot.db"
    assert settings.incident_channels == ["incidents"]
    assert settings.status_update_interval == 1800
    assert settings.port == 3000
    assert settings.runbooks_dir.is_dir()
    assert (settings.runbooks_dir / "RB-04.md").is_file()


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9999/api")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:p@db/runbooks")
    monkeypatch.setenv("RUNBOOKS_DIR", str(tmp_path))
    monkeypatch.setenv("PORT", "8080")
    settings = load_settings()
    assert settings.slack_bot_token == "xoxb-1"
    assert settings.slack_signing_secret == "s3cret"
    assert settings.slack_app_token == "xapp-1"
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"  # base_url needs the slash
    assert settings.database_url == "postgresql+asyncpg://u:p@db/runbooks"
    assert settings.runbooks_dir == tmp_path
    assert settings.port == 8080


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("1800", 1800),
        ("60", 60),
        ("2.5", 2.5),
        ("00:30:00", 1800),
        ("0:00:05", 5),
        ("01:00:00", 3600),
        ("1:02:03", 3723),
        (" 900 ", 900),
    ],
)
def test_status_update_interval_seconds_or_hms(
    monkeypatch: pytest.MonkeyPatch, raw: str, seconds: float
) -> None:
    monkeypatch.setenv("STATUS_UPDATE_INTERVAL", raw)
    assert load_settings().status_update_interval == seconds
    assert parse_interval(raw) == seconds


@pytest.mark.parametrize(
    "raw", ["-5", "0", "00:00:00", "abc", "30m", "1:99:00", "", "1:2", "inf", "nan", "1e300"]
)
def test_bad_status_update_interval(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    error_for(monkeypatch, "STATUS_UPDATE_INTERVAL", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("incidents", ["incidents"]),
        ("incidents,ops", ["incidents", "ops"]),
        (" #incidents , C0123ABC ,, sev1-war-room ", ["incidents", "C0123ABC", "sev1-war-room"]),
    ],
)
def test_incident_channels_comma_list(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("INCIDENT_CHANNELS", raw)
    settings = load_settings()
    assert settings.incident_channels == expected
    assert settings.is_incident_channel("CXXXX", expected[-1].upper())
    assert not settings.is_incident_channel("CXXXX", "random")


def test_incident_channel_matches_id_or_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENT_CHANNELS", "incidents,C0123ABC")
    settings = load_settings()
    assert settings.is_incident_channel("C0123ABC", "whatever")
    assert settings.is_incident_channel("C999", "incidents")
    assert not settings.is_incident_channel("C999", "general")
    assert not settings.is_incident_channel("C999", None)


def test_approvers_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVERS", "U1, S2 ,W3")
    assert load_settings().approvers == ["U1", "S2", "W3"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("PORT", "-1"),
        ("STATUS_UPDATE_INTERVAL", "-5"),
        ("DATABASE_URL", "mysql://db/x"),
        ("SLACK_API_URL", "slack.com/api"),
        ("INCIDENT_CHANNELS", " , "),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    message = error_for(monkeypatch, name, value)
    assert "Traceback" not in message


def test_database_url_driver_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/rb")
    assert load_settings().database_url == "postgresql+asyncpg://u:p@db:5432/rb"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/rb")
    assert load_settings().database_url == "postgresql+asyncpg://u@db/rb"
    monkeypatch.setenv("DATABASE_URL", "sqlite:////var/lib/bot.db")
    assert load_settings().database_url == "sqlite+aiosqlite:////var/lib/bot.db"


def test_dotenv_file_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    (clean_env / ".env").write_text(
        "# comment\n"
        "SLACK_BOT_TOKEN=xoxb-from-dotenv\n"
        "SLACK_SIGNING_SECRET=dotenv-secret\n"
        "PORT=4321\n"
        "STATUS_UPDATE_INTERVAL=00:15:00\n"
        "INCIDENT_CHANNELS=incidents,ops\n"
    )
    settings = load_settings()
    assert settings.slack_bot_token == "xoxb-from-dotenv"
    assert settings.slack_signing_secret == "dotenv-secret"
    assert settings.port == 4321
    assert settings.status_update_interval == 900
    assert settings.incident_channels == ["incidents", "ops"]
    settings.require_slack()
    # The environment wins over the file.
    monkeypatch.setenv("PORT", "5000")
    assert load_settings().port == 5000


def test_bad_value_in_dotenv_names_the_variable(clean_env: Path) -> None:
    (clean_env / ".env").write_text("STATUS_UPDATE_INTERVAL=soon\n")
    with pytest.raises(SettingsError, match="STATUS_UPDATE_INTERVAL") as info:
        load_settings()
    assert "\n" not in str(info.value)


def test_no_dotenv_in_another_directory(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("PORT=4321\n")
    other = clean_env / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    assert load_settings().port == 3000


def test_require_slack_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN"):
        settings.require_slack()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET") as info:
        load_settings().require_slack()
    assert "\n" not in str(info.value)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    load_settings().require_slack()


def test_socket_mode_needs_an_app_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A1-abc")
    load_settings().require_slack()  # no signing secret needed over the socket
    monkeypatch.setenv("SLACK_APP_TOKEN", "xoxb-wrong-kind")
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN"):
        load_settings().require_slack()


def test_settings_are_immutable() -> None:
    settings = load_settings()
    assert isinstance(settings, Settings)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen instance error
        settings.port = 1  # type: ignore[misc]


# --- SPEC §7: priority levels, default level, escalation contact ---------------


def test_priority_defaults() -> None:
    settings = load_settings()
    assert [(lv.name, lv.target_seconds) for lv in settings.priority_levels] == [
        ("critical", 900),
        ("high", 3600),
        ("medium", 14400),
        ("low", 86400),
    ]
    assert settings.default_priority == "medium"
    assert settings.escalation_contact is None
    assert settings.level("Critical") == settings.priority_levels[0]
    assert settings.level("urgent") is None
    assert settings.update_interval_for("critical") == 1800  # STATUS_UPDATE_INTERVAL


def test_priority_levels_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIORITY_LEVELS", "sev-a=5m/5m, sev-b=1h")
    monkeypatch.setenv("DEFAULT_PRIORITY", "SEV-B")
    monkeypatch.setenv("ESCALATION_CONTACT", "<!subteam^S0ONCALL1|@oncall>")
    monkeypatch.setenv("STATUS_UPDATE_INTERVAL", "600")
    settings = load_settings()
    assert [lv.name for lv in settings.priority_levels] == ["sev-a", "sev-b"]
    assert settings.default_priority == "sev-b"
    assert settings.escalation_contact == "S0ONCALL1"
    assert settings.update_interval_for("sev-a") == 300  # the level's own interval
    assert settings.update_interval_for("sev-b") == 600  # else STATUS_UPDATE_INTERVAL
    assert settings.priorities.default == "sev-b"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PRIORITY_LEVELS", "critical=soon", "duration"),
        ("PRIORITY_LEVELS", "critical", "name=response target"),
        ("PRIORITY_LEVELS", "a=1m,a=2m", "twice"),
        ("PRIORITY_LEVELS", "", "at least one level"),
        ("DEFAULT_PRIORITY", "urgent", "not one of the PRIORITY_LEVELS"),
        ("ESCALATION_CONTACT", "#oncall", "user ID"),
    ],
)
def test_bad_priority_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    assert says in error_for(monkeypatch, name, value)


def test_default_priority_must_be_one_of_the_configured_levels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRIORITY_LEVELS", "p-high=1h,p-low=1d")
    message = error_for(monkeypatch, "DEFAULT_PRIORITY", "medium")
    assert "p-high, p-low" in message


def test_levels_without_the_default_need_default_priority(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DEFAULT_PRIORITY left at "medium", which these levels lack: it is named.
    message = error_for(monkeypatch, "PRIORITY_LEVELS", "p-high=1h,p-low=1d")
    assert message.startswith("DEFAULT_PRIORITY is invalid: 'medium' is not one of"), message
