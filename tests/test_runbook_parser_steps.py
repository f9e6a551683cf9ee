"""Parser rules of SPEC §4 inside a document: phases, steps, context, rollback."""

from __future__ import annotations

from bot.runbook import Severity
from tests.runbook_support import ok, parse

# --- phases, steps, context ---------------------------------------------------


def test_steps_are_ordered_and_task_items_not_plain_bullets() -> None:
    runbook = ok(
        """
        # T

        ## Steps

        Intro paragraph.

        1) First
        2) Second

        - plain bullet
        - [ ] task
        * [x] done task
        """
    )
    phase = runbook.phases[0]
    assert phase.intro == ("Intro paragraph.",)
    assert [(s.number, s.text, s.line, s.checked) for s in phase.steps] == [
        (1, "First", 7, False),
        (2, "Second", 8, False),
        (3, "task", 11, False),
        (4, "done task", 12, True),
    ]
    assert phase.steps[1].context == ("- plain bullet",)


def test_nested_items_belong_to_their_step() -> None:
    runbook = ok(
        """
        ## Steps

        1. Drain the node
           - [ ] nested task is context
           1. nested number is context

           Extra paragraph.
        2. Next
        """
    )
    first, second = runbook.phases[0].steps
    assert first.text == "Drain the node"
    assert first.context == (
        "- [ ] nested task is context",
        "1. nested number is context",
        "Extra paragraph.",
    )
    assert second.line == 8


def test_multiline_step_text_keeps_markdown_source() -> None:
    runbook = ok("## Steps\n\n1. Run `kubectl get pods` and\n   check **all** are ready\n")
    assert runbook.phases[0].steps[0].text == "Run `kubectl get pods` and\ncheck **all** are ready"


def test_context_after_a_step_attaches_to_it() -> None:
    runbook = ok(
        """
        ## Steps

        1. Check the dashboard

        ```sql
        SELECT 1;
          -- indented stays indented
        ```

        | a | b |
        |---|---|
        | 1 | 2 |

        2. Next
        """
    )
    first = runbook.phases[0].steps[0]
    assert first.context == (
        "```sql\nSELECT 1;\n  -- indented stays indented\n```",
        "| a | b |\n|---|---|\n| 1 | 2 |",
    )


def test_single_h1_documents_have_no_h1_phases() -> None:
    runbook, problems = parse("# Only title\n\nSome prose.\n")
    assert runbook is None
    assert [p.line for p in problems] == [1]


def test_several_h1_sections_are_phases_without_h2() -> None:
    runbook = ok(
        """
        # Prepare
        1. Tell the channel

        # Execute
        1. Do it

        # Rollback
        1. Undo it
        """
    )
    assert [p.name for p in runbook.phases] == ["Prepare", "Execute"]
    assert [p.line for p in runbook.phases] == [1, 4]
    assert runbook.title == "Prepare"
    assert runbook.rollback is not None and runbook.rollback.steps[0].text == "Undo it"


def test_h3_headings_label_steps_and_stay_in_the_phase() -> None:
    runbook = ok(
        """
        ## Steps
        ### Linux
        1. apt update
        #### Details
        Some note.

        2. reboot
        """
    )
    steps = runbook.phases[0].steps
    assert [s.label for s in steps] == ["Linux", "Details"]
    assert steps[0].context == ("Some note.",)  # context follows the step before it
    assert len(runbook.phases) == 1


def test_unlabelled_heading_without_steps_is_context() -> None:
    runbook = ok("## Steps\n1. Go\n### Notes\nBe careful.\n")
    assert runbook.phases[0].steps[0].context == ("### Notes", "Be careful.")


def test_rollback_phases_leave_the_normal_flow() -> None:
    runbook, problems = parse(
        """
        # T
        ## Steps
        1. Deploy
        ## Roll back the deploy
        - Revert the commit
        ## ROLLBACK (database)
        1. Restore
        """
    )
    assert runbook is not None
    assert [p.name for p in runbook.phases] == ["Steps"]
    assert runbook.rollback is not None
    assert runbook.rollback.name == "Roll back the deploy"
    assert runbook.rollback.steps == ()
    assert runbook.rollback.intro == ("- Revert the commit",)
    assert [(p.line, p.severity) for p in problems] == [(6, Severity.WARNING)]


def test_flat_checklist_without_sections_is_one_phase() -> None:
    runbook = ok("# Quick fix\n\n- [ ] one\n- [ ] two\n")
    assert [(p.name, len(p.steps)) for p in runbook.phases] == [("Quick fix", 2)]  # SPEC §11


def test_hr_between_sections_is_not_context() -> None:
    runbook = ok("## Steps\n\n1. Go\n\n---\n\n## Notes\n\ntext\n")
    assert runbook.phases[0].steps[0].context == ()


def test_crlf_and_cr_line_endings_count_lines() -> None:
    runbook = ok("# T\r\n\r\n## Steps\r\n1. a\r2. b\n")
    assert [s.line for s in runbook.phases[0].steps] == [4, 5]


def test_bom_is_ignored() -> None:
    runbook = ok("\ufeff---\nid: RB-1\n---\n## Steps\n1. a\n")
    assert runbook.id == "RB-1"
