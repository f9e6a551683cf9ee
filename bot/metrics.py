"""Prometheus metrics, in a registry owned by each app (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "runbook_bot_requests", "HTTP requests from Slack", ["kind", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "runbook_bot_request_seconds",
            "Time to answer a Slack request (the ack)",
            ["kind"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.acks = Counter("runbook_bot_acks", "Acknowledged Slack requests", ["kind"], registry=r)
        self.slack_calls = Counter(
            "runbook_bot_slack_api_calls", "Slack Web API calls", ["method"], registry=r
        )
        self.slack_errors = Counter(
            "runbook_bot_slack_api_errors", "Failed Slack Web API calls", ["method"], registry=r
        )
        self.slack_waits = Counter(
            "runbook_bot_slack_waits",
            "Slack calls put off for Slack's pace: paced (our own budget) or rate_limited (a 429)",
            ["bucket", "why"],
            registry=r,
        )
        self.slack_unusable = Gauge(
            "runbook_bot_slack_unusable",
            "1 while Slack refuses the bot's token (everything held, probing auth.test)",
            registry=r,
        )
        self.slack_channels_unreachable = Gauge(
            "runbook_bot_slack_channels_unreachable",
            "Channels Slack will not take the bot's messages in (archived, bot removed)",
            registry=r,
        )
        self.runs_started = Counter("runbook_bot_runs_started", "Runs started", registry=r)
        self.runs_completed = Counter("runbook_bot_runs_completed", "Runs completed", registry=r)
        self.runs_aborted = Counter("runbook_bot_runs_aborted", "Runs aborted", registry=r)
        self.decisions = Counter(
            "runbook_bot_step_decisions", "Step decisions", ["decision"], registry=r
        )
        self.reminders = Counter("runbook_bot_reminders_sent", "Reminders posted", registry=r)
        self.deadlines = Counter(
            "runbook_bot_deadlines_fired",
            "Response targets missed and RTO warnings/breaches posted",
            ["kind"],
            registry=r,
        )
        # items / commits = how many acks share a commit (group commit).
        self.intake_items = Counter(
            "runbook_bot_intake_items",
            "Requests committed to the intake before their ack",
            registry=r,
        )
        self.intake_commits = Counter(
            "runbook_bot_intake_commits", "Intake commits (one INSERT each)", registry=r
        )
        # handed off / slack calls = how much of the outbox skipped the claim.
        self.outbox_handed_off = Counter(
            "runbook_bot_outbox_handed_off",
            "Slack messages delivered right after their commit, without a claim",
            registry=r,
        )
        # After a crash: messages in doubt looked up at Slack before re-posting.
        self.outbox_lookups = Counter(
            "runbook_bot_outbox_lookups",
            "Slack lookups of messages whose delivery was in doubt, by result "
            "(found: not posted again; absent: posted; failed: Slack refused, retried; "
            "skipped: channel given by name, posted)",
            ["result"],
            registry=r,
        )
        self.alerts = Counter(
            "runbook_bot_alerts",
            "Alert notifications acted on, by what they did (posted, repeat, resolved, unmatched)",
            ["outcome"],
            registry=r,
        )
        self.db_errors = Counter(
            "runbook_bot_database_errors", "Requests refused: database unavailable", registry=r
        )
        self.runbooks_loaded = Gauge(
            "runbook_bot_runbooks_loaded", "Runbooks loaded without lint errors", registry=r
        )
        # Read from the database at scrape time: right whichever process delivers.
        self.outbox_pending = Gauge(
            "runbook_bot_outbox_pending", "Slack messages owed, not yet delivered", registry=r
        )
        self.outbox_failed = Gauge(
            "runbook_bot_outbox_failed", "Slack messages given up on (permanent errors)", registry=r
        )
        self.outbox_oldest_pending = Gauge(
            "runbook_bot_outbox_oldest_pending_seconds",
            "Age of the oldest Slack message still owed",
            registry=r,
        )
        self.outbox_in_doubt = Gauge(
            "runbook_bot_outbox_in_doubt",
            "Slack messages owed whose delivery is in doubt (to be looked up before posting)",
            registry=r,
        )
        self.intake_pending = Gauge(
            "runbook_bot_intake_pending",
            "Requests acknowledged but not yet acted on (normally 0 within milliseconds)",
            registry=r,
        )
        self.intake_oldest_pending = Gauge(
            "runbook_bot_intake_oldest_pending_seconds",
            "Age of the oldest acknowledged request not yet acted on",
            registry=r,
        )
        self.intake_failed = Gauge(
            "runbook_bot_intake_failed",
            "Acknowledged requests that hit an internal error (kept for the operator)",
            registry=r,
        )
        self.open_incidents = Gauge("runbook_bot_open_incidents", "Open incidents", registry=r)
        self.reminders_overdue = Gauge(
            "runbook_bot_reminders_overdue",
            "Open incidents whose reminder is more than a minute overdue",
            registry=r,
        )

    def outbox_lookup(self, result: str) -> None:
        self.outbox_lookups.labels(result).inc()

    def slack_call(self, method: str, ok: bool) -> None:
        self.slack_calls.labels(method).inc()
        if not ok:
            self.slack_errors.labels(method).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
