"""``GET /playground/postmortem/INC-<n>``: the postmortem draft, from the
playground's database, as a page (``.md``: the Markdown itself).

The same draft ``runbook-bot postmortem INC-<n>`` prints (the same loader and
renderer), shown as escaped preformatted text: the page runs no script, and
nothing typed into an incident becomes markup. The page links here from a
resolve summary's ``runbook-bot postmortem INC-<n>``, so a newcomer sees the
whole loop — resolve, follow-ups, the draft — without a terminal.
"""

from __future__ import annotations

import html

from aiohttp import web

from bot.context import AppContext
from bot.incidents import postmortem_render
from bot.incidents.postmortem import load_draft
from bot.store.models import utcnow
from bot.store.states import parse_incident_key

PATH = "/playground/postmortem/{key}"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Text and the page's own stylesheet: nothing else may load or run.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'",
}
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Postmortem draft: {key}</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body class="draft-page">
<p class="draft-note">The draft <code>runbook-bot postmortem {key}</code> prints from this
playground's database. Save it as Markdown: <a href="{key}.md">{key}.md</a>.</p>
<pre class="draft">{body}</pre>
</body>
</html>
"""


def add_draft_route(app: web.Application, ctx: AppContext) -> None:
    async def draft(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        markdown_only = key.lower().endswith(".md")
        incident_id = parse_incident_key(key[:-3] if markdown_only else key)
        if incident_id is None:
            return _text(404, f"{key!r} is not an incident ID (INC-<n>).")
        loaded = await load_draft(ctx.sessions, incident_id, ctx.settings.priorities)
        if loaded is None:
            return _text(404, f"There is no INC-{incident_id}.")
        text = postmortem_render.render_markdown(loaded, utcnow())
        if markdown_only:
            return web.Response(text=text, content_type="text/markdown", headers=HEADERS)
        page = PAGE.format(key=f"INC-{incident_id}", body=html.escape(text))
        return web.Response(text=page, content_type="text/html", headers=HEADERS)

    app.router.add_get(PATH, draft)


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers=HEADERS)
