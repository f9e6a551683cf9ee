"""`lint --fix`: bullets and paragraph+command pairs become numbered steps, nothing else moves."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from textwrap import dedent

from bot.runbook import Severity, fix_text, parse_runbook
from bot.runbook.lint import run_lint

FIXTURES = Path(__file__).parent / "fixtures" / "runbooks"


def fixed(text: str) -> str:
    source = dedent(text).lstrip("\n")
    result = fix_text(source, "rb.md")
    assert fix_text(result, "rb.md") == result  # idempotent
    return result


def steps(text: str) -> list[tuple[str, int, str]]:
    runbook, problems = parse_runbook(text, "rb.md")
    assert runbook is not None, problems
    return [(phase.name, step.line, step.text) for phase, step in runbook.steps]


BULLETS = """\
---
id: RB-20
weight: 1
---
# Flush   the cache

Intro  *kept*   as is.
- intro bullets are not touched

## Symptoms
- slow pages

## Mitigation
- Drain traffic
  from the node
* Flush the cache:
  ```bash
  redis-cli FLUSHALL
  ```
  - nested stays nested
+   Re-enable traffic

## Notes
- Not an action phase
"""


def test_bullets_become_numbered_and_the_rest_is_byte_identical() -> None:
    result = fixed(BULLETS)
    before, after = BULLETS.splitlines(), result.splitlines()
    changed = [i + 1 for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [14, 15, 16, 17, 18, 19, 20, 21]
    assert after[13:21] == [
        "1. Drain traffic",
        "   from the node",
        "2. Flush the cache:",
        "   ```bash",
        "   redis-cli FLUSHALL",
        "   ```",
        "   - nested stays nested",
        "3.  Re-enable traffic",
    ]
    runbook, _ = parse_runbook(result, "rb.md")
    assert runbook is not None
    drain, flush, enable = runbook.phases[1].steps
    assert drain.text == "Drain traffic\nfrom the node"
    assert flush.context == ("```bash\nredis-cli FLUSHALL\n```", "- nested stays nested")
    assert enable.text == "Re-enable traffic"


def test_fixed_file_has_steps_and_no_more_errors() -> None:
    # As written, Mitigation runs as one whole-phase step, with a warning that
    # points at --fix (SPEC §11); after the fix, one step per bullet and no warning.
    before, problems = parse_runbook(BULLETS, "rb.md")
    assert before is not None and [s.whole_phase for _, s in before.steps] == [True]
    assert [p.severity for p in problems] == [Severity.WARNING] * len(problems)
    assert any("lint --fix" in p.message for p in problems)
    assert [name for name, _, _ in steps(fix_text(BULLETS, "rb.md"))] == ["Mitigation"] * 3
    after, after_problems = parse_runbook(fix_text(BULLETS, "rb.md"), "rb.md")
    assert after is not None and not any(s.whole_phase for _, s in after.steps)
    assert not any("lint --fix" in p.message for p in after_problems)


def test_paragraph_plus_fence_pairs_become_steps() -> None:
    result = fixed(
        """
        ## Resolution

        Restart the API:

        ```bash
        kubectl rollout restart deploy/api
        ```

        Then check:
        ~~~
        curl -f https://api/health
        ~~~

        Closing remark stays a paragraph.
        """
    )
    assert result == dedent(
        """\
        ## Resolution

        1. Restart the API:

           ```bash
           kubectl rollout restart deploy/api
           ```

        2. Then check:
           ~~~
           curl -f https://api/health
           ~~~

        Closing remark stays a paragraph.
        """
    )
    assert steps(result) == [
        ("Resolution", 3, "Restart the API:"),
        ("Resolution", 9, "Then check:"),
    ]


def test_list_interrupting_a_paragraph_starts_at_one() -> None:
    result = fixed("## Verification\nAfter the fix, verify:\n- a\n- b\n")
    assert result == "## Verification\nAfter the fix, verify:\n1. a\n2. b\n"
    assert len(steps(result)) == 2


def test_numbering_continues_across_lists_in_a_phase() -> None:
    result = fixed("## Steps\n\n- a\n- b\n\nNote.\n\n- c\n")
    assert result == "## Steps\n\n1. a\n2. b\n\nNote.\n\n3. c\n"


def test_ten_or_more_items_keep_nested_content_nested() -> None:
    items = "".join(f"- item {i}\n  - detail {i}\n" for i in range(1, 12))
    result = fixed("## Steps\n" + items)
    lines = result.splitlines()
    assert lines[19:23] == ["10. item 10", "    - detail 10", "11. item 11", "    - detail 11"]
    runbook, _ = parse_runbook(result, "rb.md")
    assert runbook is not None
    assert [s.context for s in runbook.phases[0].steps][-1] == ("- detail 11",)


def test_tab_after_the_bullet_keeps_the_content_column() -> None:
    result = fixed("## Steps\n\n-\tTabbed item\n\n\tcontinued para\n- x\n")
    assert result == "## Steps\n\n1.  Tabbed item\n\n\tcontinued para\n2. x\n"
    runbook, _ = parse_runbook(result, "rb.md")
    assert runbook is not None
    assert runbook.phases[0].steps[0].context == ("continued para",)


def test_line_endings_and_bom_are_kept() -> None:
    source = "\ufeff## Mitigation\r\n- a\r\n  more\r\n- b\r\n\r\n## Notes\r\n- c"
    result = fix_text(source, "rb.md")
    assert result == "\ufeff## Mitigation\r\n1. a\r\n   more\r\n2. b\r\n\r\n## Notes\r\n- c"


def test_nothing_to_fix_returns_the_same_text() -> None:
    for text in (
        "## Steps\n1. a\n## Verification\n- [ ] b\n",  # already has steps
        "## Overview\n- a\n",  # not an action phase
        "## Rollback\n- undo\n",  # rollback is left as written
        "# Title\n- no sections\n",
        "",
        "\x00\udcff garbage",
    ):
        assert fix_text(text, "rb.md") == text


def test_only_phases_without_steps_are_fixed() -> None:
    source = "## Steps\n1. a\n- plain context\n## Validation\n- check\n"
    assert fix_text(source, "rb.md") == "## Steps\n1. a\n- plain context\n## Validation\n1. check\n"


def test_unclosed_fence_pair_is_left_alone() -> None:
    source = "## Steps\n\nRun:\n\n```\nforever\n"
    assert fix_text(source, "rb.md") == source


def test_run_lint_fix_rewrites_in_place(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "broken" / "bullets.md", tmp_path / "bullets.md")
    shutil.copy(FIXTURES / "good" / "rb-01-restart.md", tmp_path / "good.md")
    good_before = (tmp_path / "good.md").read_bytes()
    out, err = io.StringIO(), io.StringIO()
    assert run_lint([str(tmp_path)], fix=True, out=out, err=err) == 0
    assert out.getvalue().splitlines() == [
        f"fixed {tmp_path / 'bullets.md'} (3 steps numbered)",
        "2 files checked, 0 errors, 0 warnings",
    ]
    assert (tmp_path / "bullets.md").read_text().count("\n1. ") == 1
    assert (tmp_path / "good.md").read_bytes() == good_before
    out = io.StringIO()
    assert run_lint([str(tmp_path)], fix=True, out=out, err=err) == 0
    assert out.getvalue() == "2 files checked, 0 errors, 0 warnings\n"
