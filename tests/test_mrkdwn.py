"""Markdown -> Slack mrkdwn conversion, escaping and splitting."""

from __future__ import annotations

import pytest

from bot.slack.mrkdwn import escape, md_to_mrkdwn, readable, split_mrkdwn


def test_escape() -> None:
    assert escape("a & b <!channel> <@U1> >") == "a &amp; b &lt;!channel&gt; &lt;@U1&gt; &gt;"


def test_inline_formatting() -> None:
    assert (
        md_to_mrkdwn("**bold** *italic* _also_ ~~gone~~ `a < b` & co")
        == "*bold* _italic_ _also_ ~gone~ `a &lt; b` &amp; co"
    )
    assert md_to_mrkdwn("***both***") == "_*both*_"


def test_fenced_code_keeps_content_verbatim() -> None:
    source = "```bash\nif [ $x -gt 1 ]; then\n    echo **not bold** > /tmp/o && ls\nfi\n```"
    assert md_to_mrkdwn(source) == (
        "```\nif [ $x -gt 1 ]; then\n    echo **not bold** &gt; /tmp/o &amp;&amp; ls\nfi\n```"
    )
    assert md_to_mrkdwn("    indented\n      code\n") == "```\nindented\n  code\n```"
    assert md_to_mrkdwn("~~~\n```\n~~~") == "```\n`\u200b`\u200b`\n```"


def test_links_and_images() -> None:
    assert md_to_mrkdwn("[Grafana](https://g.example/d?a=1&b=2)") == (
        "<https://g.example/d?a=1&amp;b=2|Grafana>"
    )
    assert md_to_mrkdwn("<https://example.com>") == "<https://example.com>"
    assert md_to_mrkdwn("<ops@example.com>") == "<mailto:ops@example.com>"
    assert md_to_mrkdwn("use ```x``` or ````") == "use `x` or `\u200b`\u200b`\u200b`"
    assert md_to_mrkdwn("![dashboard](https://img.example/p.png)") == (
        "<https://img.example/p.png|dashboard>"
    )
    assert md_to_mrkdwn("[**bold** label](https://x.io)") == "<https://x.io|bold label>"
    # Relative links can't be followed from Slack; a `<...>` could be a mention.
    assert md_to_mrkdwn("[RB-05](./rb-05.md) and [x](!channel)") == "RB-05 and x"


def test_lists() -> None:
    source = "- one\n  - nested\n    - deeper\n- two\n\n1. first\n2. second\n\n3) third"
    assert md_to_mrkdwn(source) == (
        "• one\n    • nested\n        • deeper\n• two\n\n1. first\n2. second\n\n3. third"
    )


def test_task_items() -> None:
    assert md_to_mrkdwn("- [ ] todo\n- [x] done\n- [X] Done too") == "☐ todo\n☑ done\n☑ Done too"


def test_list_item_with_code_and_paragraph() -> None:
    source = "1. Restart:\n   ```\n   kubectl rollout restart\n   ```\n\n   Then wait.\n2. Next"
    assert md_to_mrkdwn(source) == (
        "1. Restart:\n```\nkubectl rollout restart\n```\n    Then wait.\n2. Next"
    )


def test_headings_quotes_breaks_and_rules() -> None:
    assert md_to_mrkdwn("# Title with **bold**\n\n## Sub") == "*Title with bold*\n\n*Sub*"
    assert md_to_mrkdwn("> quoted\n> text\n>\n> second") == "> quoted text\n>\n> second"
    assert md_to_mrkdwn("soft\nbreak and hard  \nbreak") == "soft break and hard\nbreak"
    assert md_to_mrkdwn("a\n\n---\n\nb") == "a\n\n───\n\nb"


def test_table_becomes_aligned_preformatted_text() -> None:
    source = "| Service | Owner |\n|---|---|\n| API & web | Platform |\n| DB | Data |"
    assert md_to_mrkdwn(source) == (
        "```\n"
        "Service   | Owner\n"
        "----------+---------\n"
        "API &amp; web | Platform\n"
        "DB        | Data\n"
        "```"
    )


def test_html_and_mentions_are_inert() -> None:
    assert md_to_mrkdwn("<!channel> please <@U123> <b>x</b>") == (
        "&lt;!channel&gt; please &lt;@U123&gt; &lt;b&gt;x&lt;/b&gt;"
    )
    assert md_to_mrkdwn("<div>\n<!here>\n</div>") == "&lt;div&gt;\n&lt;!here&gt;\n&lt;/div&gt;"
    assert md_to_mrkdwn("&amp; &lt;!channel&gt;") == "&amp; &lt;!channel&gt;"


def test_empty_input() -> None:
    assert md_to_mrkdwn("") == ""
    assert md_to_mrkdwn("\n\n") == ""


def test_split_short_text_is_one_piece() -> None:
    assert split_mrkdwn("hello") == ["hello"]
    assert split_mrkdwn("") == []


def test_split_on_paragraphs() -> None:
    paragraphs = [f"paragraph {i} " + "x" * 40 for i in range(10)]
    pieces = split_mrkdwn("\n\n".join(paragraphs), limit=120)
    assert all(len(p) <= 120 for p in pieces)
    assert pieces[0] == f"{paragraphs[0]}\n\n{paragraphs[1]}"
    assert "\n\n".join(pieces) == "\n\n".join(paragraphs)


def test_split_inside_a_fence_closes_and_reopens_it() -> None:
    code = "\n".join(f"line {i:03d}" for i in range(60))
    pieces = split_mrkdwn(f"Intro\n\n```\n{code}\n```\n\nOutro", limit=200)
    assert all(len(p) <= 200 for p in pieces)
    for piece in pieces:
        assert piece.count("```") % 2 == 0, piece
    assert pieces[1].startswith("```\nline") and pieces[1].endswith("\n```")
    joined = "".join(pieces)
    assert all(f"line {i:03d}" in joined for i in range(60))


def test_split_very_long_line() -> None:
    pieces = split_mrkdwn("word " * 2000, limit=2900)
    assert len(pieces) == 4 and all(len(p) <= 2900 for p in pieces)
    assert split_mrkdwn("y" * 7000, limit=2900) == ["y" * 2892, "y" * 2892, "y" * 1216]


@pytest.mark.parametrize(
    ("escaped", "typed"),
    [
        ("ping <@U123|ann> and <@W9|bob>", "ping @ann and @bob"),
        ("see <#C1|ops-war-room>", "see #ops-war-room"),
        # Not what escaping writes for a typed name: left for escape(), so no one is pinged.
        ("<@U999> <!channel> <!subteam^S1|@sre>", "<@U999> <!channel> <!subteam^S1|@sre>"),
        ("<https://x.example/a|the graph>", "<https://x.example/a|the graph>"),
        ("a < b && c > d", "a < b && c > d"),
    ],
)
def test_readable_turns_slack_escaping_back_into_what_was_typed(escaped: str, typed: str) -> None:
    assert readable(escaped) == typed
    assert "&lt;@U999&gt;" in escape(readable("<@U999>"))
