"""Approval gates (SPEC §7): who may decide a step. Pure: no I/O.

A step's :class:`~bot.runbook.Approval` lists requirements — roles, user
groups, users — and a number of different people. The rule, as
:func:`judge` applies it to one click:

- together, the people who clicked the same decision must include each
  named role's holder, a member of each named group and each named user,
  and be at least ``people`` different people;
- a click that completes that is the decision (:class:`Allow`); one that
  leaves it completable by the people still to come — at most one per
  requirement still unmet — is a partial approval (:class:`Partial`); anything
  else, and a second click by someone who already approved, is refused with
  the reason (:class:`Refuse`), recording nothing.

Group members are resolved by the caller before the decision's transaction
(``bot/slack/approvers.py``); ``None`` for a group means Slack could not be
asked, and then nobody can count as its member; ``NO_SUCH_GROUP`` means the
workspace has no such group (the clicker is told so, naming it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.runbook import Approval
from bot.slack.groups import NO_SUCH_GROUP, Members, is_group_id
from bot.slack.mrkdwn import escape

__all__ = ["Allow", "Partial", "Refuse", "describe", "judge", "progress", "requirements"]


@dataclass(frozen=True, slots=True)
class Allow:
    approvers: tuple[str, ...]  # everyone whose click made the decision, first first


@dataclass(frozen=True, slots=True)
class Partial:
    approvers: tuple[str, ...]
    needed: int  # people in all


@dataclass(frozen=True, slots=True)
class Refuse:
    reason: str  # "requirement" | "again" | "unknown_group" | "no_such_group"
    text: str


Verdict = Allow | Partial | Refuse
Requirement = tuple[str, str]  # ("role", "commander") | ("group", "security") | ("user", "U1")


def requirements(approval: Approval) -> list[Requirement]:
    return (
        [("role", r) for r in approval.roles]
        + [("group", g) for g in approval.groups]
        + [("user", u) for u in approval.users]
    )


def _covers(person: str, req: Requirement, roles: Mapping[str, str], members: Members) -> bool:
    kind, value = req
    if kind == "role":
        return roles.get(value) == person
    if kind == "group":
        found = members.get(value)
        return isinstance(found, frozenset) and person in found
    return person == value


def judge(
    approval: Approval,
    decider: str,
    decision: str,
    roles: Mapping[str, str],
    members: Members,
    prior: Sequence[tuple[str, str]] = (),
    incident_key: str = "",
) -> Verdict:
    """One click on a gated step. ``prior``: earlier partial clicks as
    ``(user, decision)``, oldest first; only those of the same decision count.
    ``incident_key`` goes into the hint that assigns a missing role."""
    already = list(dict.fromkeys(user for user, d in prior if d == decision))
    verb = "approved" if decision == "approved" else "skipped"
    if decider in already:
        return Refuse(
            "again",
            f"You already {verb} this step: it needs {approval.people} different people, "
            "so someone else has to confirm it. Nothing changed.",
        )
    reqs = requirements(approval)
    people = [*already, decider]
    unmet = [r for r in reqs if not any(_covers(p, r, roles, members) for p in people)]
    left = approval.people - len(people)
    if not unmet and left <= 0:
        return Allow(tuple(people))
    if left >= max(len(unmet), 1):
        return Partial(tuple(people), approval.people)
    still = [r for r in reqs if not any(_covers(p, r, roles, members) for p in already)]
    absent = [v for k, v in still if k == "group" and members.get(v) is NO_SUCH_GROUP]
    if absent:
        return Refuse("no_such_group", _no_such_group(absent))
    unknown = [v for k, v in still if k == "group" and members.get(v) is None]
    if unknown:
        groups = ", ".join(_group(g) for g in unknown)
        return Refuse(
            "unknown_group",
            f"This step needs a member of {groups}, and Slack could not be asked who is in it "
            "right now. Nothing changed — try again in a minute.",
        )
    needs = _needs(still, roles, incident_key)
    if already:
        names = ", ".join(f"<@{escape(u)}>" for u in already)
        text = f"This step still needs {needs} ({names} {verb} it already)."
    else:
        text = f"This step needs {needs}."
    return Refuse("requirement", text + " Nothing changed.")


def _no_such_group(groups: Sequence[str]) -> str:
    names = " and ".join(_group(g) for g in groups)
    which = "that name" if len(groups) == 1 else "those names"
    return (
        f"This step needs someone from {names}, but this workspace has no user group by "
        f"{which}. Nothing changed — the runbook's approval tag needs a group that exists."
    )


def _group(group: str) -> str:
    return f"user group `{escape(group)}`" if is_group_id(group) else f"@{escape(group)}"


def _role(role: str, roles: Mapping[str, str], incident_key: str) -> str:
    holder = roles.get(role)
    if holder:
        return f"the {escape(role)} — <@{escape(holder)}>"
    # Named always: with two incidents open, the command without it is refused.
    which = f"{escape(incident_key)} " if incident_key else ""
    command = f"/incident role {which}{escape(role)} @someone"
    return f"the {escape(role)} (nobody holds that role yet: `{command}`)"


def _needs(reqs: Sequence[Requirement], roles: Mapping[str, str], incident_key: str = "") -> str:
    parts = []
    for kind, value in reqs:
        if kind == "role":
            parts.append(_role(value, roles, incident_key))
        elif kind == "group":
            parts.append(f"someone from {_group(value)}")
        else:
            parts.append(f"<@{escape(value)}>")
    if not parts:
        return "another person"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def describe(approval: Approval, roles: Mapping[str, str], incident_key: str = "") -> str:
    """The requirement as the step message shows it: ``🔒 Needs the commander — <@U…>``."""
    reqs = requirements(approval)
    line = f"🔒 Needs {_needs(reqs, roles, incident_key)}" if reqs else "🔒 Needs"
    if approval.people > 1:
        line += f"{' ·' if reqs else ''} {approval.people} different people"
    return line


def progress(approvers: Sequence[str], needed: int, decision: str = "approved") -> str:
    """``☑️ 1 of 2 approvals — <@U…>``."""
    noun = "approvals" if decision == "approved" else "people to skip"
    names = ", ".join(f"<@{escape(u)}>" for u in approvers)
    return f"☑️ {len(approvers)} of {needed} {noun} — {names}"
