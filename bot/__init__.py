"""runbook-bot: run Markdown incident runbooks step by step in Slack."""

__version__ = "0.1.0"
