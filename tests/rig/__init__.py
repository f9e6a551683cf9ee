"""Test rig: Slack Web API stand-in, Slack request signer, fresh PostgreSQL databases.

Slack is replaced only at the network edge; Bolt, the Web API client and the
database layer always run for real.
"""

from .pg import (
    DEFAULT_ADMIN_URL,
    PostgresUnavailable,
    create_database,
    drop_database,
    drop_stale_databases,
    ensure_postgres_up,
    resolve_admin_url,
    temporary_database,
)
from .signing import FORM, JSON, SlackSigner, post
from .standin import Call, Fault, Rejected, SlackStandIn, validate_blocks, validate_view

__all__ = [
    "DEFAULT_ADMIN_URL",
    "FORM",
    "JSON",
    "Call",
    "Fault",
    "PostgresUnavailable",
    "Rejected",
    "SlackSigner",
    "SlackStandIn",
    "create_database",
    "drop_database",
    "drop_stale_databases",
    "ensure_postgres_up",
    "post",
    "resolve_admin_url",
    "temporary_database",
    "validate_blocks",
    "validate_view",
]
