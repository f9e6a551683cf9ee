"""Tests of the Slack stand-in as real Slack: its pace (429 with Retry-After), its
size limits, and the errors a test asks for (revoked token, archived or unknown
channels, a bot removed, missing scopes, calls carried out then failed).

Driven through the real ``AsyncWebClient``; the pace runs on a clock the test
moves, so nothing here sleeps or measures time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

try:
    from tests.rig import SlackStandIn
    from tests.rig.blockkit import blocks_text_chars
    from tests.rig_support import TOKEN, button
except ImportError:  # pragma: no cover - depends on how pytest was started
    from rig import SlackStandIn  # type: ignore[no-redef]
    from rig.blockkit import blocks_text_chars  # type: ignore[no-redef]
    from rig_support import TOKEN, button  # type: ignore[no-redef]


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def slack(clock: Clock) -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(clock=clock) as standin:  # Slack's limits, the defaults
        yield standin
        # Tests that provoke invalid calls clear them; anything left is a real bug.
        assert standin.invalid == [], standin.summary()


@pytest.fixture
def client(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.url)


async def refused(call: Any) -> SlackApiError:
    """The SlackApiError ``call`` (an awaitable) raises."""
    with pytest.raises(SlackApiError) as err:
        await call
    return err.value


def section(chars: int) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": "s" * chars}}


def blocks_of(total: int) -> list[dict[str, Any]]:
    """Blocks of every kind, each within its own limits, holding ``total`` chars of text."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 100}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": "f" * 1000} for _ in range(2)],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 500}]},
        {
            "type": "rich_text",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [{"type": "text", "text": "r" * 300}],
                }
            ],
        },
        {"type": "actions", "elements": [button("go", "b" * 50)]},
    ]
    left = total - blocks_text_chars(blocks)
    while left > 0:
        blocks.append(section(min(left, 3000)))
        left -= 3000
    return blocks


# ---------------------------------------------------------------------------
# pace
# ---------------------------------------------------------------------------


async def test_limits_are_on_by_default() -> None:
    standin = SlackStandIn()
    assert standin.pace is not None
    assert standin.pace.tier_of("chat.update") == 50
    assert SlackStandIn(limits=False).pace is None


async def test_a_channel_takes_a_burst_of_four_posts_then_one_a_second(
    slack: SlackStandIn, client: AsyncWebClient, clock: Clock
) -> None:
    for i in range(4):
        assert (await client.chat_postMessage(channel="C_INC", text=f"m{i}"))["ok"]
    for i in (4, 5):
        err = await refused(client.chat_postMessage(channel="C_INC", text=f"m{i}"))
        assert err.response.status_code == 429
        assert err.response["error"] == "ratelimited"
        assert int(err.response.headers["Retry-After"]) >= 1
    # Refused for pace: nothing posted, recorded and counted.
    assert sorted(m["text"] for m in slack.messages.values()) == ["m0", "m1", "m2", "m3"]
    assert [(r.status, r.args["text"]) for r in slack.rejected] == [(429, "m4"), (429, "m5")]
    assert slack.rate_limited == 2 and slack.rate_limited_by_method == {"chat.postMessage": 2}

    # Another channel has its own pace.
    assert (await client.chat_postMessage(channel="C_OTHER", text="elsewhere"))["ok"]
    assert slack.refused_share() == 2 / 7

    # m5 came before m4's Retry-After had passed: Slack counts that against the client.
    assert slack.retried_early == {"chat.postMessage": 1}
    clock.advance(int(err.response.headers["Retry-After"]))
    assert (await client.chat_postMessage(channel="C_INC", text="m6"))["ok"]
    assert (await refused(client.chat_postMessage(channel="C_INC", text="m7"))).response[
        "error"
    ] == "ratelimited"


async def test_a_channel_named_or_by_id_is_one_pace(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    slack.channel_names["C_INC"] = "incidents"
    for target in ("C_INC", "incidents", "#incidents", "C_INC"):
        assert (await client.chat_postMessage(channel=target, text="x"))["ok"]
    err = await refused(client.chat_postMessage(channel="#incidents", text="x"))
    assert err.response.status_code == 429


@pytest.mark.parametrize(
    ("method", "args", "burst", "retry_after"),
    [
        ("conversations.list", {}, 5, 3),  # Tier 2: 20/min
        ("conversations.history", {"channel": "C_INC"}, 12, 1),  # Tier 3: 50/min
        ("users.info", {"user": "U1"}, 25, 1),  # Tier 4: 100/min
        ("auth.test", {}, 150, 1),  # generous
    ],
)
async def test_each_method_keeps_its_tier(
    slack: SlackStandIn,
    client: AsyncWebClient,
    clock: Clock,
    method: str,
    args: dict[str, Any],
    burst: int,
    retry_after: int,
) -> None:
    for _ in range(burst):
        assert (await client.api_call(method, params=args))["ok"]
    err = await refused(client.api_call(method, params=args))
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == str(retry_after)
    assert slack.rate_limited_by_method == {method: 1}
    # The workspace's other methods are not held up by this one.
    assert (await client.chat_postMessage(channel="C_INC", text="x"))["ok"]
    clock.advance(retry_after)
    assert (await client.api_call(method, params=args))["ok"]
    assert slack.retried_early == {}  # it waited as told


async def test_a_burst_of_updates_exhausts_chat_update(
    slack: SlackStandIn, client: AsyncWebClient, clock: Clock
) -> None:
    ts = (await client.chat_postMessage(channel="C_INC", text="v0"))["ts"]
    for i in range(1, 13):  # Tier 3: a quarter minute's 12.5 calls at once
        assert (await client.chat_update(channel="C_INC", ts=ts, text=f"v{i}"))["ok"]
    err = await refused(client.chat_update(channel="C_INC", ts=ts, text="v13"))
    assert err.response.status_code == 429
    assert slack.message("C_INC", ts)["text"] == "v12"  # the refused update changed nothing
    clock.advance(int(err.response.headers["Retry-After"]))
    assert (await client.chat_update(channel="C_INC", ts=ts, text="v13"))["ok"]
    assert slack.message("C_INC", ts)["text"] == "v13"


async def test_rates_can_be_changed_and_turned_off(clock: Clock) -> None:
    async with SlackStandIn(clock=clock, post_burst=1, tiers={"chat.delete": 12}) as slack:
        client = AsyncWebClient(token=TOKEN, base_url=slack.url)
        ts = (await client.chat_postMessage(channel="C_INC", text="x"))["ts"]
        assert (await refused(client.chat_postMessage(channel="C_INC", text="y"))).response[
            "error"
        ] == "ratelimited"
        for _ in range(3):  # 12/min: at least 3 at once
            await refused(client.chat_delete(channel="C_INC", ts="1.000001"))  # not found
        err = await refused(client.chat_delete(channel="C_INC", ts=ts))
        assert err.response.headers["Retry-After"] == "5"
        assert slack.rate_limited_by_method == {"chat.postMessage": 1, "chat.delete": 1}

    # limits=False: this test is of the knob itself.
    async with SlackStandIn(limits=False) as slack:
        client = AsyncWebClient(token=TOKEN, base_url=slack.url)
        for i in range(10):
            assert (await client.chat_postMessage(channel="C_INC", text=f"m{i}"))["ok"]
        assert slack.rate_limited == 0 and slack.refused_share() == 0.0


# ---------------------------------------------------------------------------
# size
# ---------------------------------------------------------------------------


def test_every_kind_of_text_counts() -> None:
    assert blocks_text_chars(blocks_of(0)) == 100 + 2000 + 500 + 300 + 50
    assert blocks_text_chars(blocks_of(12_001)) == 12_001


@pytest.mark.parametrize("method", ["chat.postMessage", "chat.postEphemeral"])
async def test_blocks_over_12000_chars_are_refused(
    slack: SlackStandIn, client: AsyncWebClient, method: str
) -> None:
    args = {"channel": "C_INC", "user": "U1", "text": "fallback"}
    assert (await client.api_call(method, json={**args, "blocks": blocks_of(12_000)}))["ok"]
    err = await refused(client.api_call(method, json={**args, "blocks": blocks_of(12_001)}))
    assert err.response["error"] == "msg_blocks_too_long"
    assert len(slack.calls) == 1 and len(slack.messages) + len(slack.ephemerals) == 1
    assert [(r.method, r.error) for r in slack.rejected] == [(method, "msg_blocks_too_long")]
    # The bot must never send one: the fixtures fail a test that did.
    assert [(m, errs[0][:11]) for m, _, errs in slack.invalid] == [(method, "blocks hold")]
    slack.invalid.clear()


async def test_update_over_the_limits_changes_nothing(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    ts = (await client.chat_postMessage(channel="C_INC", text="v0"))["ts"]
    err = await refused(client.chat_update(channel="C_INC", ts=ts, text="t" * 4001))
    assert err.response["error"] == "msg_too_long"
    err = await refused(
        client.chat_update(channel="C_INC", ts=ts, text="x", blocks=blocks_of(12_001))
    )
    assert err.response["error"] == "msg_blocks_too_long"
    assert (await client.chat_update(channel="C_INC", ts=ts, text="t" * 4000))["ok"]
    assert slack.message("C_INC", ts)["text"] == "t" * 4000
    assert [r.error for r in slack.rejected] == ["msg_too_long", "msg_blocks_too_long"]
    assert len(slack.invalid) == 2
    slack.invalid.clear()


async def test_a_test_may_provoke_a_size_refusal_on_purpose() -> None:
    async with SlackStandIn(oversize_is_invalid=False) as slack:
        client = AsyncWebClient(token=TOKEN, base_url=slack.url)
        err = await refused(
            client.chat_postMessage(channel="C", text="x", blocks=blocks_of(13_000))
        )
        assert err.response["error"] == "msg_blocks_too_long"
        assert slack.invalid == [] and slack.rejected[0].error == "msg_blocks_too_long"


# ---------------------------------------------------------------------------
# errors on demand
# ---------------------------------------------------------------------------


async def test_fail_after_store_posts_then_answers_an_error(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    meta = {"event_type": "runbook_bot_message", "event_payload": {"outbox_id": 7}}
    slack.fail_after_store("chat.postMessage", predicate=lambda args: args["text"] == "a")
    assert (await client.chat_postMessage(channel="C_INC", text="b"))["ok"]  # not "a"
    err = await refused(client.chat_postMessage(channel="C_INC", text="a", metadata=meta))
    assert err.response.status_code == 500 and "upstream" in str(err.response.data)

    # Yet it was posted, and is found with its metadata.
    history = await client.conversations_history(channel="C_INC", include_all_metadata=True)
    assert [(m["text"], m.get("metadata")) for m in history["messages"]] == [
        ("a", meta),
        ("b", None),
    ]
    assert [(r.status, r.error, r.carried_out) for r in slack.rejected] == [(500, None, True)]
    assert [c.args["text"] for c in slack.calls_to("chat.postMessage")] == ["b", "a"]


async def test_fail_after_store_with_fatal_error(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    slack.fail_after_store("chat.postMessage", error="fatal_error", times=2)
    for text in ("a", "b"):
        err = await refused(client.chat_postMessage(channel="C_INC", text=text))
        assert err.response.status_code == 200 and err.response["error"] == "fatal_error"
    assert (await client.chat_postMessage(channel="C_INC", text="c"))["ok"]  # used up
    history = await client.conversations_history(channel="C_INC")
    assert [m["text"] for m in history["messages"]] == ["c", "b", "a"]


@pytest.mark.parametrize("error", ["token_revoked", "invalid_auth", "account_inactive"])
async def test_a_revoked_token_refuses_everything_until_restored(
    slack: SlackStandIn, client: AsyncWebClient, error: str
) -> None:
    slack.revoke_token(error)
    for call in (client.auth_test(), client.chat_postMessage(channel="C_INC", text="x")):
        err = await refused(call)
        assert err.response.status_code == 200 and err.response["error"] == error
    assert slack.messages == {} and [r.error for r in slack.rejected] == [error, error]
    slack.restore_token()
    assert (await client.auth_test())["ok"]
    assert (await client.chat_postMessage(channel="C_INC", text="x"))["ok"]
    with pytest.raises(ValueError):
        slack.revoke_token("ratelimited")


async def test_archived_channel(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.channel_names["C_INC"] = "incidents"
    ts = (await client.chat_postMessage(channel="C_INC", text="before"))["ts"]
    slack.archive_channel("incidents")
    for call in (
        client.chat_postMessage(channel="C_INC", text="x"),
        client.chat_update(channel="C_INC", ts=ts, text="x"),
        client.conversations_history(channel="#incidents"),
    ):
        assert (await refused(call)).response["error"] == "is_archived"
    info = await client.conversations_info(channel="C_INC")
    assert info["channel"]["is_archived"] is True
    assert (await client.chat_postMessage(channel="C_OTHER", text="x"))["ok"]
    assert slack.message("C_INC", ts)["text"] == "before"
    assert [r.error for r in slack.rejected] == ["is_archived"] * 3


async def test_bot_removed_and_unknown_channel(slack: SlackStandIn, client: AsyncWebClient) -> None:
    ts = (await client.chat_postMessage(channel="C_INC", text="before"))["ts"]
    slack.remove_bot("C_INC")
    for call in (
        client.chat_postMessage(channel="C_INC", text="x"),
        client.conversations_history(channel="C_INC"),
        client.conversations_replies(channel="C_INC", ts=ts),
    ):
        assert (await refused(call)).response["error"] == "not_in_channel"
    assert (await client.conversations_info(channel="C_INC"))["channel"]["is_member"] is False

    slack.unknown_channel("C_GONE")
    for call in (
        client.chat_postMessage(channel="C_GONE", text="x"),
        client.conversations_info(channel="C_GONE"),
    ):
        assert (await refused(call)).response["error"] == "channel_not_found"
    slack.restore_channel("C_INC")
    assert (await client.conversations_history(channel="C_INC"))["ok"]
    assert len(slack.rejected) == 5 and len(slack.messages) == 1


async def test_missing_scope(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.require_scope("usergroups.list", "usergroups:read")
    err = await refused(client.usergroups_list())
    assert err.response["error"] == "missing_scope"
    assert err.response["needed"] == "usergroups:read"
    assert "chat:write" in err.response["provided"].split(",")
    assert "usergroups:read" not in err.response["provided"].split(",")
    assert (await client.auth_test())["ok"]
    assert [(r.method, r.error) for r in slack.rejected] == [("usergroups.list", "missing_scope")]
    slack.reset_conditions()
    assert (await client.usergroups_list())["ok"]
