"""Approve / Skip on a step, and Abort on the run message."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot.app import AppContext
from bot.engine import Decision, Refusal, Refused
from bot.runs import abort_run, decide_step
from commands.common import UNAVAILABLE, ephemeral, is_db_down, log, where_clicked


def refusal_text(refused: Refused) -> str:
    if refused.reason is Refusal.ALREADY_DECIDED and refused.existing is not None:
        verb = "approved" if refused.existing.decision is Decision.APPROVED else "skipped"
        return (
            f"This step was already {verb} by <@{refused.existing.by}> "
            f"{blocks.slack_date(refused.existing.at)}. Nothing changed."
        )
    if refused.reason is Refusal.RUN_ENDED:
        return f"This run has already {refused.status or 'ended'}. Nothing changed."
    if refused.reason is Refusal.NOT_CURRENT:
        return "That step is not the current one. Nothing changed."
    return "That run or step no longer exists. Nothing changed."


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    async def on_step(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], decision: Decision
    ) -> None:
        channel, ts, thread, user = where_clicked(body)
        try:
            run_raw, _, index_raw = str(action.get("value", "")).partition(":")
            run_id, step_index = int(run_raw), int(index_raw)
        except ValueError:
            await ack()
            ephemeral(ctx, channel, user, "That button is malformed. Nothing changed.", thread)
            return
        if not await ctx.may_decide(user):
            await ack()
            ephemeral(
                ctx,
                channel,
                user,
                "Only the configured approvers can decide steps "
                "in this workspace. Nothing changed.",
                thread,
            )
            return
        try:
            async with ctx.sessions() as session, session.begin():
                result = await decide_step(
                    session,
                    run_id=run_id,
                    step_index=step_index,
                    decision=decision,
                    user_id=user,
                    message_channel=channel,
                    message_ts=ts,
                    postgres=ctx.postgres,
                )
        except Exception as exc:
            if not is_db_down(exc):
                raise
            await ack()
            ctx.metrics.db_errors.inc()
            log.warning("step click: database unavailable: %r", exc)
            ephemeral(ctx, channel, user, UNAVAILABLE, thread)
            return
        await ack()
        ctx.metrics.acks.labels("interaction").inc()
        if result.refused is not None:
            ephemeral(ctx, channel, user, refusal_text(result.refused), thread)
            return
        ctx.outbox.notify()
        ctx.metrics.decisions.labels(decision.value).inc()
        if result.accepted is not None and result.accepted.run_completed:
            ctx.metrics.runs_completed.inc()

    @bolt.action(blocks.APPROVE)
    async def approve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await on_step(ack, body, action, Decision.APPROVED)

    @bolt.action(blocks.SKIP)
    async def skip(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await on_step(ack, body, action, Decision.SKIPPED)

    @bolt.action(blocks.ABORT)
    async def abort(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        channel, _ts, thread, user = where_clicked(body)
        try:
            run_id = int(str(action.get("value", "")))
            async with ctx.sessions() as session, session.begin():
                result = await abort_run(
                    session, run_id=run_id, user_id=user, postgres=ctx.postgres
                )
        except ValueError:
            await ack()
            return
        except Exception as exc:
            if not is_db_down(exc):
                raise
            await ack()
            ctx.metrics.db_errors.inc()
            ephemeral(ctx, channel, user, UNAVAILABLE, thread)
            return
        await ack()
        if result.refused is not None:
            ephemeral(ctx, channel, user, refusal_text(result.refused), thread)
            return
        ctx.outbox.notify()
        ctx.metrics.runs_aborted.inc()
