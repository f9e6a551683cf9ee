"""Tests of the Slack stand-in: responses and state, fault injection and waiting."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

# The rig is importable as ``tests.rig`` when the repo root is on sys.path (conftest at the
# root, editable install) and as ``rig`` under pytest's default rootdir-less prepend mode.
try:
    from tests import rig_support
    from tests.rig import SlackStandIn
    from tests.rig.pace import Pace
    from tests.rig_support import TOKEN, step_blocks
except ImportError:  # pragma: no cover - depends on how pytest was started
    import rig_support  # type: ignore[no-redef]
    from rig import SlackStandIn  # type: ignore[no-redef]
    from rig.pace import Pace  # type: ignore[no-redef]
    from rig_support import TOKEN, step_blocks  # type: ignore[no-redef]

# Shared fixtures from rig_support (tests/conftest.py belongs to the lead).
slack = rig_support.slack
client = rig_support.client
http = rig_support.http


# ---------------------------------------------------------------------------
# stand-in: responses and state
# ---------------------------------------------------------------------------


async def test_post_and_update_keep_message_state(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="C_INC", text="INC-1 RB-04", blocks=step_blocks())
    second = await client.chat_postMessage(channel="C_INC", text="step", thread_ts=first["ts"])
    assert first["ok"] and first["channel"] == "C_INC"
    assert first["message"]["blocks"] == step_blocks()
    ts1, ts2 = first["ts"], second["ts"]
    assert float(ts2) > float(ts1) and len(ts1.split(".")[1]) == 6
    assert abs(float(ts1) - time.time()) < 60

    upd = await client.chat_update(channel="C_INC", ts=ts1, text="approved by <@U1>", blocks=[])
    assert upd["ok"] and upd["ts"] == ts1 and upd["text"] == "approved by <@U1>"
    assert slack.message("C_INC", ts1)["text"] == "approved by <@U1>"
    assert slack.message("C_INC", ts1)["blocks"] == []
    assert [m["ts"] for m in slack.thread("C_INC", ts1)] == [ts2]
    assert [c.method for c in slack.calls] == ["chat.postMessage"] * 2 + ["chat.update"]
    assert slack.calls_to("chat.update")[0].args["ts"] == ts1

    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="C_INC", ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"
    assert len(slack.calls_to("chat.update")) == 1  # the failed update wasn't "accepted"
    assert slack.rejected[-1].error == "message_not_found"


async def test_form_encoded_bodies_are_decoded(slack: SlackStandIn, client: AsyncWebClient) -> None:
    # ``params=`` makes the SDK send form-encoded data, with blocks as a JSON string.
    resp = await client.api_call(
        "chat.postMessage",
        params={"channel": "C_INC", "text": "hi", "blocks": json.dumps(step_blocks())},
    )
    assert resp["ok"]
    call = slack.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == step_blocks()
    assert call.args["text"] == "hi"
    assert "token" not in call.args


async def test_other_methods(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.channel_names["C_INC"] = "incidents"
    slack.usergroups["S1"] = ["U1", "U2"]
    slack.users["U2"] = {"tz": "Europe/Berlin", "tz_offset": 3600}

    auth = await client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T1")
    assert (await client.conversations_info(channel="C_INC"))["channel"]["name"] == "incidents"
    assert (await client.conversations_info(channel="C_OTHER"))["channel"]["name"] == "c_other"
    assert (await client.users_info(user="U2"))["user"]["tz"] == "Europe/Berlin"
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    eph = await client.chat_postEphemeral(channel="C_INC", user="U1", text="only you")
    assert eph["ok"] and eph["message_ts"]
    assert slack.ephemerals[0]["text"] == "only you"
    view = {
        "type": "modal",
        "callback_id": "start",
        "title": {"type": "plain_text", "text": "Start runbook"},
        "submit": {"type": "plain_text", "text": "Start"},
        "blocks": [
            {
                "type": "input",
                "block_id": "summary",
                "label": {"type": "plain_text", "text": "Summary"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            }
        ],
    }
    opened = await client.views_open(trigger_id="1.2.abc", view=view)
    assert opened["view"]["id"].startswith("V") and opened["view"]["callback_id"] == "start"
    assert (await client.api_call("reactions.add", json={"name": "x"}))["ok"]


async def test_requires_bot_token(slack: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(base_url=slack.url).chat_postMessage(channel="C", text="x")
    assert err.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError):
        await AsyncWebClient(token="xoxp-user", base_url=slack.url).auth_test()
    assert slack.calls == [] and len(slack.rejected) == 2


async def test_response_url_is_recorded(slack: SlackStandIn, http: aiohttp.ClientSession) -> None:
    async with http.post(slack.response_url("k1"), json={"text": "done"}) as resp:
        assert resp.status == 200
    (call,) = await slack.wait_for("response_url")
    assert call.args == {"text": "done", "response_url_key": "k1"}


# ---------------------------------------------------------------------------
# stand-in: fault injection and waiting
# ---------------------------------------------------------------------------


async def test_rate_limit_is_retried_by_sdk_handler(slack: SlackStandIn) -> None:
    client = AsyncWebClient(
        token=TOKEN,
        base_url=slack.url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    slack.fail("chat.postMessage", status=429, times=1, retry_after=0)
    resp = await client.chat_postMessage(channel="C_INC", text="hello")
    assert resp["ok"]
    assert [(r.method, r.status, r.error) for r in slack.rejected] == [
        ("chat.postMessage", 429, None)
    ]
    assert len(slack.calls) == 1


async def test_rate_limit_response_shape(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.fail("chat.postMessage", status=429, times=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await client.chat_postMessage(channel="C_INC", text="x")
        assert err.value.response.status_code == 429
        assert err.value.response["error"] == "ratelimited"
        assert err.value.response.headers["Retry-After"] == "7"
    assert (await client.chat_postMessage(channel="C_INC", text="x"))["ok"]  # fault used up
    assert len(slack.rejected) == 2 and len(slack.calls) == 1


async def test_server_errors_and_wildcard(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.fail("*", status=503, times=1)
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="C_INC", ts="1.1", text="x")
    assert err.value.response.status_code == 503
    assert "unavailable" in str(err.value.response.data)

    retrying = AsyncWebClient(
        token=TOKEN,
        base_url=slack.url,
        retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)],
    )
    slack.fail("chat.postMessage", status=500, times=1)
    assert (await retrying.chat_postMessage(channel="C_INC", text="x"))["ok"]

    slack.fail("chat.postMessage", status=200, error="channel_not_found")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C_INC", text="x")
    assert err.value.response["error"] == "channel_not_found"
    assert [r.status for r in slack.rejected] == [503, 500, 200]
    assert [c.method for c in slack.calls] == ["chat.postMessage"]


async def test_delay(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.set_delay("chat.postMessage", 0.2)
    started = time.monotonic()
    await client.chat_postMessage(channel="C_INC", text="slow")
    assert time.monotonic() - started >= 0.2
    slack.set_delay("chat.postMessage", 0)
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started < 0.2


async def test_wait_for(slack: SlackStandIn, client: AsyncWebClient) -> None:
    async def later() -> None:
        for i in range(3):
            await asyncio.sleep(0.02)
            await client.chat_postMessage(channel="C_INC", text=f"msg {i}")

    task = asyncio.create_task(later())
    calls = await slack.wait_for("chat.postMessage", lambda c: "msg" in c.args["text"], count=3)
    await task
    assert [c.args["text"] for c in calls] == ["msg 0", "msg 1", "msg 2"]
    assert calls[0].at <= calls[1].at <= calls[2].at

    with pytest.raises(AssertionError, match="accepted calls"):
        await slack.wait_for("chat.update", timeout=0.1)
    # A predicate that raises is a non-match, not a crash.
    with pytest.raises(AssertionError):
        await slack.wait_for("chat.postMessage", lambda c: c.args["nope"], timeout=0.05)


# ---------------------------------------------------------------------------
# message metadata, reading messages back, held answers
# ---------------------------------------------------------------------------


async def test_metadata_is_read_back_only_with_include_all_metadata(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    meta = {"event_type": "runbook_bot_message", "event_payload": {"outbox_id": 7}}
    parent = await client.chat_postMessage(channel="C_INC", text="run", metadata=meta)
    reply = await client.chat_postMessage(
        channel="C_INC", text="step", thread_ts=parent["ts"], metadata=meta
    )
    await client.chat_postMessage(channel="C_INC", text="later, top level")
    await client.chat_postMessage(channel="C_OTHER", text="elsewhere")

    plain = await client.conversations_replies(channel="C_INC", ts=parent["ts"])
    assert [m["ts"] for m in plain["messages"]] == [parent["ts"], reply["ts"]]
    assert all("metadata" not in m for m in plain["messages"])
    full = await client.conversations_replies(
        channel="C_INC", ts=parent["ts"], include_all_metadata=True
    )
    assert [m.get("metadata") for m in full["messages"]] == [meta, meta]

    history = await client.conversations_history(channel="C_INC", include_all_metadata=True)
    # Top-level messages only (no thread replies), newest first.
    assert [m["text"] for m in history["messages"]] == ["later, top level", "run"]
    assert history["messages"][1]["metadata"] == meta
    assert "metadata" not in (await client.conversations_history(channel="C_INC"))["messages"][1]
    newer = await client.conversations_history(channel="C_INC", oldest=parent["ts"])
    assert [m["text"] for m in newer["messages"]] == ["later, top level"]

    with pytest.raises(SlackApiError) as err:
        await client.conversations_replies(channel="C_INC", ts="1.000001")
    assert err.value.response["error"] == "thread_not_found"
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C_INC", text="x", metadata={"event_type": "x"})
    assert err.value.response["error"] == "invalid_metadata_format"
    slack.invalid.clear()


async def test_history_pages_with_a_cursor(slack: SlackStandIn, client: AsyncWebClient) -> None:
    # Pagination is under test here, not pace: five posts to one channel may go at once.
    slack.pace = Pace(post_burst=5)
    posted = [
        (await client.chat_postMessage(channel="C_INC", text=f"m{i}"))["ts"] for i in range(5)
    ]
    first = await client.conversations_history(channel="C_INC", limit=2)
    assert first["has_more"] and [m["ts"] for m in first["messages"]] == posted[:2:-1][:2]
    cursor = first["response_metadata"]["next_cursor"]
    rest = await client.conversations_history(channel="C_INC", limit=10, cursor=cursor)
    assert not rest["has_more"] and rest["response_metadata"]["next_cursor"] == ""
    assert [m["ts"] for m in rest["messages"]] == posted[2::-1]


async def test_hold_carries_out_the_call_and_holds_its_answer(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    held = slack.hold("chat.postMessage", lambda args: args.get("text") == "second")
    await client.chat_postMessage(channel="C_INC", text="first")  # not matched: answered
    call = asyncio.create_task(client.chat_postMessage(channel="C_INC", text="second"))
    await held.wait()
    await asyncio.sleep(0.05)
    assert not call.done()  # posted at Slack, the answer not sent yet
    assert [c.args["text"] for c in slack.calls] == ["first", "second"]
    held.release()
    answer = await call
    assert answer["ts"] == held.response["ts"] == slack.calls[1].ts
