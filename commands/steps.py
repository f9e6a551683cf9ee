"""Approve / Run / Skip on a step, and Abort on the run message."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.context import AppContext
from bot.intake.actions import decide_payload, run_payload
from bot.runs import aborting, blocks
from bot.runs.engine import Decision
from bot.runs.skip_blocks import REASON_BLOCK, SKIP_MODAL, SkipTarget, read_reason, skip_modal
from bot.slack.buttons import AbortButton, StepButton
from commands.common import (
    MALFORMED,
    NOT_AN_APPROVER_ABORT,
    clicker_name,
    ephemeral,
    log,
    may_abort,
    submit_click,
    where_clicked,
)


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    async def on_step(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], decision: Decision
    ) -> None:
        click = where_clicked(body)
        channel, ts, thread, user = click.channel, click.ts, click.thread_ts, click.user
        try:
            button = StepButton.from_json(str(action.get("value", "")))
        except ValueError:
            await ack()
            ephemeral(ctx, channel, user, MALFORMED, thread)
            return
        # Committed before the ack; who may decide (APPROVERS, the step's gate) is
        # judged after it by the intake worker, from what Slack last said
        # (bot/slack/approvers.py): nothing here waits on Slack.
        item = decide_payload(
            run_id=button.run_id,
            step_index=button.step_index,
            decision=decision,
            user=user,
            channel=channel,
            ts=ts,
            thread_ts=thread,
            name=clicker_name(body),
        )
        await submit_click(ctx, ack, item)

    @bolt.action(blocks.APPROVE)
    async def approve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await on_step(ack, body, action, Decision.APPROVED)

    @bolt.action(blocks.SKIP)
    async def skip(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Skip asks why first: acked, then its modal opens (a Web API call,
        so after the ack); submitting the modal is the skip."""
        await ack()
        click = where_clicked(body)
        try:
            button = StepButton.from_json(str(action.get("value", "")))
        except ValueError:
            ephemeral(ctx, click.channel, click.user, MALFORMED, click.thread_ts)
            return
        where = (click.channel, click.ts, click.thread_ts)
        target = SkipTarget(button.run_id, button.step_index, *where)
        text = str((body.get("message") or {}).get("text") or "")
        view = skip_modal(target, text)

        async def open_view() -> None:
            try:
                await ctx.client.views_open(trigger_id=body.get("trigger_id", ""), view=view)
                ctx.metrics.slack_call("views.open", True)
            except Exception as exc:
                ctx.metrics.slack_call("views.open", False)
                log.warning("views.open failed: %r", exc)
                why = "The Skip form could not be opened (Slack said no). Nothing changed."
                ephemeral(ctx, click.channel, click.user, why, click.thread_ts)

        ctx.background.spawn(open_view())

    @bolt.view(SKIP_MODAL)
    async def skip_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            target = SkipTarget.from_json(str(view.get("private_metadata") or ""))
        except ValueError:
            await ack(response_action="errors", errors={REASON_BLOCK: MALFORMED})
            return
        values = (view.get("state") or {}).get("values") or {}
        view_id = view.get("id")
        item = decide_payload(
            run_id=target.run_id,
            step_index=target.step_index,
            decision=Decision.SKIPPED,
            user=(body.get("user") or {}).get("id", ""),
            channel=target.channel,
            ts=target.ts,
            thread_ts=target.thread_ts,
            name=clicker_name(body),
            reason=read_reason(values),
            # Slack's view id: the same modal submitted twice is decided once.
            request_key=f"view:{view_id}" if isinstance(view_id, str) and view_id else None,
        )
        await submit_click(ctx, ack, item)  # committed, then acked: the modal closes

    @bolt.action(blocks.RUN)
    async def run(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        click = where_clicked(body)
        try:
            button = StepButton.from_json(str(action.get("value", "")))
        except ValueError:
            await ack()
            ephemeral(ctx, click.channel, click.user, MALFORMED, click.thread_ts)
            return
        # As Approve: committed before the ack, judged (the gate) and started by
        # the worker after it — the action never runs in this handler.
        item = run_payload(
            run_id=button.run_id,
            step_index=button.step_index,
            user=click.user,
            channel=click.channel,
            ts=click.ts,
            thread_ts=click.thread_ts,
            name=clicker_name(body),
        )
        await submit_click(ctx, ack, item)

    @bolt.action(blocks.ABORT)
    async def abort(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        click = where_clicked(body)
        channel, thread, user = click.channel, click.thread_ts, click.user
        if not may_abort(ctx, user):
            await ack()
            ephemeral(ctx, channel, user, NOT_AN_APPROVER_ABORT, thread)
            return
        try:
            run_id = AbortButton.from_json(str(action.get("value", ""))).run_id
            result = await aborting.abort(
                ctx.sessions, ctx.intake_worker, user_id=user, run_id=run_id
            )
        except ValueError:
            await ack()
            return
        await ack()
        if result.refused is not None:
            ephemeral(ctx, channel, user, blocks.refusal_text(result.refused), thread)
            return
        ctx.outbox.notify()
        ctx.metrics.runs_aborted.inc()
