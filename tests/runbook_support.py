"""Helpers shared by the parser tests: parse inline Markdown, expect no errors."""

from __future__ import annotations

from textwrap import dedent

from bot.runbook import Problem, Runbook, Severity, parse_runbook


def parse(text: str, path: str = "runbooks/rb-x.md") -> tuple[Runbook | None, list[Problem]]:
    return parse_runbook(dedent(text).lstrip("\n"), path)


def ok(text: str, path: str = "runbooks/rb-x.md") -> Runbook:
    runbook, problems = parse(text, path)
    assert [p for p in problems if p.severity is Severity.ERROR] == []
    assert runbook is not None
    return runbook
