"""Parser rules of SPEC §4 for whole documents: the seed template, front matter, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bot.runbook import Problem, Runbook, Severity, parse_runbook
from tests.runbook_support import ok, parse

FIXTURES = Path(__file__).parent / "fixtures" / "runbooks"


# --- the seed template -------------------------------------------------------


def seed() -> Runbook:
    source = (FIXTURES / "seed-template.md").read_bytes()
    runbook, problems = parse_runbook(source, "seed-template.md")
    # Diagnosis has no list steps: its ### checks run as written, one step each (SPEC §11).
    assert [(p.line, p.severity) for p in problems] == [(38, Severity.WARNING)]
    assert problems[0].message.startswith("runs each action phase as one step:")
    assert runbook is not None
    return runbook


def test_seed_template_phases() -> None:
    runbook = seed()
    assert [p.name for p in runbook.phases] == [
        "Symptoms",
        "Immediate Actions",
        "Diagnosis",
        "Resolution Steps",
        "Verification",
        "Post-Incident",
        "Related Runbooks",
        "Contacts",
        "Validation Log",
    ]
    assert runbook.rollback is None
    assert [p.line for p in runbook.phases] == [11, 18, 38, 53, 72, 82, 91, 98, 106]
    assert runbook.title == "[Runbook Title] — Operational Procedure"
    assert runbook.id == "seed-template"


def test_seed_template_bold_label_metadata() -> None:
    runbook = seed()
    assert runbook.severity == "[SEV1 | SEV2 | SEV3 | Maintenance]"
    assert runbook.owner == "[Team responsible for this procedure]"
    assert runbook.extra["last updated"] == "YYYY-MM-DD"
    assert runbook.intro[0].startswith("**Scenario:**")


def test_seed_template_immediate_actions() -> None:
    phase = seed().phases[1]
    assert [s.number for s in phase.steps] == [1, 2, 3]
    assert [s.line for s in phase.steps] == [20, 26, 31]
    triage, containment, _ = phase.steps
    assert triage.text == "**Triage** — [Quick diagnostic steps]"
    assert triage.context == ("```bash\n# Example command\nmise run health-check\n```",)
    assert containment.context == (
        "- Disable feature flag if applicable\n"
        "- Pause automated missions\n"
        "- Notify stakeholders via status page",
    )


def test_seed_template_resolution_labels() -> None:
    phase = seed().phases[3]
    assert [(s.number, s.line, s.label, s.text) for s in phase.steps] == [
        (1, 56, "Option A: [Primary fix]", "Step 1"),
        (2, 60, "Option A: [Primary fix]", "Step 2"),
        (3, 61, "Option A: [Primary fix]", "Verification step"),
        (4, 67, "Option B: [Fallback if Option A fails]", "Step 1"),
        (5, 68, "Option B: [Fallback if Option A fails]", "Step 2"),
    ]
    # The heading is carried by the label, not repeated as context.
    assert phase.steps[2].context == ("```bash\n# Verification command\n```",)
    assert phase.intro == ()


def test_seed_template_checkbox_and_numbered_steps() -> None:
    runbook = seed()
    verification, post = runbook.phases[4], runbook.phases[5]
    assert [s.text for s in verification.steps] == [
        "Check 1 passes",
        "Check 2 passes",
        "Monitoring dashboards return to normal",
        "User-reported issues resolved",
    ]
    assert [s.line for s in verification.steps] == [75, 76, 77, 78]
    assert verification.intro == ("After applying fix, verify:",)
    assert len(post.steps) == 4
    assert runbook.step_count == 3 + 2 + 5 + 4 + 4


def test_seed_template_context_only_phases() -> None:
    runbook = seed()
    symptoms, contacts, log = runbook.phases[0], runbook.phases[7], runbook.phases[8]
    assert symptoms.steps == () and contacts.steps == () and log.steps == ()
    assert log.intro[0].startswith("| Date | Validator |")  # a record, not an action


def test_seed_template_diagnosis_checks_are_whole_phase_steps() -> None:
    diagnosis = seed().phases[2]
    assert diagnosis.intro == ()
    assert [(s.number, s.line, s.text, s.whole_phase) for s in diagnosis.steps] == [
        (1, 40, "Check 1: [Diagnostic name]", True),
        (2, 48, "Check 2: [Another diagnostic]", True),
    ]
    assert diagnosis.steps[0].context == (
        "```bash\n# Commands to run\n```",
        "**Expected Output:** [What healthy state looks like]\n"
        "**If Failed:** [Next steps or alternate check]",
    )
    assert diagnosis.steps[1].context == ("...",)


# --- front matter ------------------------------------------------------------


def test_front_matter_fields_and_line_offsets() -> None:
    runbook, problems = parse(
        """
        ---
        id: RB-04
        title: Revoke link
        owner: Reliability
        severity: SEV1
        rto: 30m
        tags: [security, links]
        weight: 3
        ---
        # Heading title

        ## Steps

        1. First
        2. Second
        """
    )
    assert runbook is not None
    assert (runbook.id, runbook.title, runbook.owner, runbook.severity, runbook.rto) == (
        "RB-04",
        "Revoke link",
        "Reliability",
        "SEV1",
        "30m",
    )
    assert runbook.tags == ("security", "links")
    assert runbook.extra == {"weight": 3}
    assert problems == [
        Problem(
            "runbooks/rb-x.md", 8, "unknown front matter key 'weight' (ignored)", Severity.WARNING
        )
    ]
    assert runbook.phases[0].line == 12
    assert [s.line for s in runbook.phases[0].steps] == [14, 15]


def test_tags_as_comma_string_and_numeric_values() -> None:
    runbook = ok(
        """
        ---
        tags: db, failover ,
        rto: 60
        ---
        ## Steps
        1. Go
        """
    )
    assert runbook.tags == ("db", "failover")
    assert runbook.rto == "60"


def test_defaults_id_from_stem_and_title_from_first_h1() -> None:
    runbook = ok("# Restart API\n\n## Steps\n\n1. Go\n", "x/restart-api.md")
    assert (runbook.id, runbook.title) == ("restart-api", "Restart API")
    bare = ok("## Steps\n\n1. Go\n", "x/bare.markdown")
    assert (bare.id, bare.title) == ("bare", "bare")


def test_unreadable_front_matter_is_an_error_at_its_line() -> None:
    runbook, problems = parse(
        """
        ---
        id: RB-1
        owner: a: b
        ---
        ## Steps
        1. Go
        """
    )
    assert runbook is None
    assert [(p.line, p.severity) for p in problems] == [(3, Severity.ERROR)]
    assert problems[0].message.startswith("unreadable front matter: ")


def test_front_matter_must_be_a_mapping() -> None:
    runbook, problems = parse("---\n- a\n- b\n---\n## Steps\n1. Go\n")
    assert runbook is None
    assert [(p.line, p.message) for p in problems] == [
        (2, "unreadable front matter: expected 'key: value' lines")
    ]


def test_leading_rule_without_closing_is_not_front_matter() -> None:
    runbook = ok("---\n\n## Steps\n\n1. Go\n")
    assert runbook.step_count == 1


def test_bold_labels_do_not_override_front_matter() -> None:
    runbook = ok(
        """
        ---
        owner: From YAML
        ---
        # T

        **Owner:** From label
        **Severity:** SEV3

        ## Steps
        1. Go
        """
    )
    assert (runbook.owner, runbook.severity) == ("From YAML", "SEV3")


# --- errors -----------------------------------------------------------------


def test_non_utf8_bytes_are_a_problem_at_line_1() -> None:
    runbook, problems = parse_runbook(b"# T\n\n## Steps\n1. caf\xe9\n", "a.md")
    assert runbook is None
    assert [(p.line, p.severity) for p in problems] == [(1, Severity.ERROR)]
    assert "not UTF-8" in problems[0].message and "line 4" in problems[0].message


def test_empty_file() -> None:
    for source in ("", "  \n\n", b""):
        runbook, problems = parse_runbook(source, "e.md")
        assert runbook is None
        assert [(p.line, p.message) for p in problems] == [(1, "empty file")]


def test_content_hash_is_sha256_of_bytes() -> None:
    data = "## Steps\n1. é\n".encode()
    runbook, _ = parse_runbook(data, "a.md")
    assert runbook is not None
    assert runbook.content_hash == hashlib.sha256(data).hexdigest()
    same, _ = parse_runbook(data.decode(), "a.md")
    assert same is not None and same.content_hash == runbook.content_hash


def test_id_with_spaces_is_an_error_at_the_id_line() -> None:
    runbook, problems = parse("---\ntitle: x\nid: RB 4\n---\n## Steps\n1. a\n")
    assert runbook is None
    assert [(p.line, p.message) for p in problems] == [(3, "id 'RB 4' must not contain spaces")]
