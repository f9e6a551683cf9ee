"""Which phases are *action phases* (SPEC §11): one rule, shared by the parser
(an action phase without steps runs as one step) and ``lint --fix`` (whose
bullets it numbers)."""

from __future__ import annotations

import re

__all__ = ["is_action_phase", "is_rollback_name"]

# Whole words; a trailing \w* where the contract says "…" (mitigat… → Mitigation).
# "contain…" means containment, not "Containers" (a section about pods is not an action).
_ACTION_RE = re.compile(
    r"\b(?:steps?|procedures?|instructions?|how[- ]to|runbook|resol\w*|mitigat\w*"
    r"|remediat\w*|recover\w*|restor\w*|diagnos\w*|troubleshoot\w*|investigat\w*|triage"
    r"|contain(?!ers?\b)\w*|immediate|actions?|verif\w*|validat\w*|execut\w*"
    r"|fail[- ]?over|workarounds?|fix\w*)\b",
    re.IGNORECASE,
)

# Records and pointers, not actions: "Validation Log", "Related runbooks", "Verification history".
_RECORD_RE = re.compile(
    r"\b(?:related|see also)\b|\b(?:log|history|records?|results)\s*$", re.IGNORECASE
)


def is_rollback_name(name: str) -> bool:
    """A "Rollback" / "Roll back" phase is offered on abort, not run in the normal flow."""
    return name.strip().lower().startswith(("rollback", "roll back"))


def is_action_phase(name: str) -> bool:
    """Phases that say what to do (Steps, Mitigation, Diagnosis, How to fix, ...)."""
    if is_rollback_name(name) or _RECORD_RE.search(name.strip()):
        return False
    return _ACTION_RE.search(name) is not None
