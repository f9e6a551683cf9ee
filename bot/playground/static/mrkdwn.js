// Slack mrkdwn -> HTML. Every character of the input is escaped; only the
// markup produced here is HTML. ctx = {users, channels, usergroups, tz}.
(function (RB) {
  "use strict";
  const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);
  // Slack sends literal &, <, > as entities; decode them before escaping for HTML.
  const unent = (s) => String(s).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const EMOJI = { white_check_mark: "✅", warning: "⚠️", rotating_light: "🚨", x: "❌", tada: "🎉",
    fire: "🔥", alarm_clock: "⏰", memo: "📝", loudspeaker: "📢", mega: "📣", stop_sign: "🛑",
    checkered_flag: "🏁", hourglass: "⌛", bell: "🔔", lock: "🔒", sleeping: "😴" };
  const emoji = (s) => s.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);

  // -- dates in the viewer's time zone ---------------------------------------
  const fmtCache = new Map();
  function fmt(tz, opts) {
    const key = tz + JSON.stringify(opts);
    let f = fmtCache.get(key);
    if (!f) { f = new Intl.DateTimeFormat("en-US", { timeZone: tz, ...opts }); fmtCache.set(key, f); }
    return f;
  }
  function ordinal(n) {
    const s = ["th", "st", "nd", "rd"], v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }
  function dayKey(d, tz) {
    const p = {}; for (const x of fmt(tz, { year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(d)) p[x.type] = x.value;
    return `${p.year}-${p.month}-${p.day}`;
  }
  function pretty(d, tz) {
    const day = 86400000, now = Date.now(), k = dayKey(d, tz);
    if (k === dayKey(new Date(now), tz)) return "today";
    if (k === dayKey(new Date(now - day), tz)) return "yesterday";
    if (k === dayKey(new Date(now + day), tz)) return "tomorrow";
    return null;
  }
  function ago(d) {
    const s = Math.round((Date.now() - d.getTime()) / 1000), a = Math.abs(s);
    const [n, unit] = a < 60 ? [a, "second"] : a < 3600 ? [Math.round(a / 60), "minute"] : a < 86400 ? [Math.round(a / 3600), "hour"] : [Math.round(a / 86400), "day"];
    const phrase = `${n} ${unit}${n === 1 ? "" : "s"}`;
    return s >= 0 ? `${phrase} ago` : `in ${phrase}`;
  }
  function formatDate(seconds, format, tz) {
    const d = new Date(seconds * 1000);
    const day = () => Number(fmt(tz, { day: "numeric" }).format(d));
    const month = (m) => fmt(tz, { month: m }).format(d);
    const year = () => fmt(tz, { year: "numeric" }).format(d);
    const tokens = {
      date_num: () => dayKey(d, tz),
      date: () => `${month("long")} ${ordinal(day())}, ${year()}`,
      date_short: () => `${month("short")} ${day()}, ${year()}`,
      date_long: () => `${fmt(tz, { weekday: "long" }).format(d)}, ${month("long")} ${ordinal(day())}, ${year()}`,
      time: () => fmt(tz, { hour: "numeric", minute: "2-digit" }).format(d),
      time_secs: () => fmt(tz, { hour: "numeric", minute: "2-digit", second: "2-digit" }).format(d),
      ago: () => ago(d),
    };
    for (const base of ["date", "date_short", "date_long"]) {
      tokens[base + "_pretty"] = () => pretty(d, tz) || tokens[base]();
    }
    return format.replace(/\{(\w+)\}/g, (m, t) => (tokens[t] ? tokens[t]() : m));
  }

  // -- <…> tokens -------------------------------------------------------------
  function safeUrl(url) {
    return /^(https?:|mailto:)/i.test(url) ? url : null;
  }
  // A permalink into this workspace (chat.getPermalink's shape) -> {channel, ts},
  // so the page opens the message's thread instead of leaving for slack.com.
  function permalink(url, ctx) {
    const domain = ctx && ctx.team && ctx.team.domain;
    const m = domain && /^https:\/\/([a-z0-9-]+)\.slack\.com\/archives\/([A-Z0-9]+)\/p(\d{10})(\d{6})(?:\?(.*))?$/.exec(String(url));
    if (!m || m[1] !== domain) return null;
    const thread = new URLSearchParams(m[5] || "").get("thread_ts");
    return { channel: m[2], ts: `${m[3]}.${m[4]}`, thread: thread || null };
  }
  // An <a> for url: in-page for this workspace's permalinks, else a new tab.
  function anchor(url, inner, ctx, cls) {
    const c = cls ? ` class="${cls}"` : "";
    const p = permalink(url, ctx);
    if (p) {
      return `<a${c} href="#${esc(p.channel)}/${esc(p.ts)}" data-permalink="${esc(p.channel)}|${esc(p.ts)}|${esc(p.thread || "")}">${inner}</a>`;
    }
    return `<a${c} href="${esc(url)}" target="_blank" rel="noopener noreferrer">${inner}</a>`;
  }
  function token(inner, ctx) {
    const bar = inner.indexOf("|");
    const target = bar >= 0 ? inner.slice(0, bar) : inner;
    const label = bar >= 0 ? inner.slice(bar + 1) : null;
    if (target.startsWith("@")) {
      const id = target.slice(1), u = ctx.users && ctx.users.get(id);
      const name = u ? u.name : label || id;
      return `<span class="mention" data-user="${esc(id)}">@${esc(unent(name))}</span>`;
    }
    if (target.startsWith("#")) {
      const id = target.slice(1), c = ctx.channels && ctx.channels.get(id);
      return `<span class="mention">#${esc(unent(c ? c.name : label || id))}</span>`;
    }
    if (target.startsWith("!subteam^")) {
      const id = target.slice(9), g = ctx.usergroups && ctx.usergroups.get(id);
      const handle = g ? "@" + g.handle : label || "@" + id;
      return `<span class="mention">${esc(unent(handle))}</span>`;
    }
    if (target.startsWith("!date^")) {
      const [, ts, format, link] = target.split("^");
      const seconds = Number(ts);
      if (!Number.isFinite(seconds) || format === undefined) return esc(unent(label || ""));
      const text = esc(formatDate(seconds, unent(format), ctx.tz || "UTC"));
      const title = esc(unent(label || ""));
      const url = link && safeUrl(unent(link));
      const shown = `<time datetime="${new Date(seconds * 1000).toISOString()}" title="${title}">${text}</time>`;
      return url ? anchor(url, shown, ctx) : shown;
    }
    if (target.startsWith("!")) {
      const word = target.slice(1).split("^")[0];
      return `<span class="mention">@${esc(unent(label || word))}</span>`;
    }
    const url = safeUrl(unent(target));
    const text = esc(unent(label !== null ? label : target));
    return url ? anchor(url, text, ctx) : text;
  }

  // -- inline formatting --------------------------------------------------------
  // The playground serves the postmortem draft that `runbook-bot postmortem INC-n`
  // prints, so that command (a resolve summary ends with it) links to the draft.
  function codeSpan(code) {
    const html = `<code>${esc(code)}</code>`;
    const draft = /^runbook-bot postmortem (INC-\d+)$/.exec(code);
    if (!draft) return html;
    return `<a class="draft-link" href="/playground/postmortem/${draft[1]}" target="_blank" rel="noopener">${html}</a>`;
  }
  const P = "\u0001", Q = "\u0002"; // placeholder delimiters; never in escaped text
  function inline(line, ctx) {
    const held = [];
    const hold = (html) => { held.push(html); return P + (held.length - 1) + Q; };
    let s = String(line).replace(/[\u0001\u0002]/g, "");
    s = s.replace(/`([^`\n]+)`/g, (m, code) => hold(codeSpan(unent(code))));
    s = s.replace(/<([^<>\n]+)>/g, (m, inner) => hold(token(inner, ctx)));
    s = emoji(esc(unent(s)));
    const around = (mark, tag) => {
      const m = mark.replace(/[*~]/g, "\\$&");
      const re = new RegExp(`(^|[^\\w${m}])${m}(?=\\S)([^${m}\\n]*?[^\\s${m}])${m}(?=[^\\w${m}]|$)`, "g");
      s = s.replace(re, `$1<${tag}>$2</${tag}>`);
      s = s.replace(new RegExp(`(^|[^\\w${m}])${m}([^\\s${m}])${m}(?=[^\\w${m}]|$)`, "g"), `$1<${tag}>$2</${tag}>`);
    };
    around("*", "b"); around("_", "i"); around("~", "s");
    return s.replace(new RegExp(P + "(\\d+)" + Q, "g"), (m, i) => held[Number(i)]);
  }

  // -- lines: quotes and lists ---------------------------------------------------
  const QUOTE = /^(?:>|&gt;) ?/;
  const BULLET = /^(\s*)([•◦▪‣\-*])\s+(.*)$/;
  const NUMBER = /^(\s*)(\d+)[.)]\s+(.*)$/;
  function lines(text, ctx) {
    const out = [];
    let para = [], list = null, quote = [];
    const flushPara = () => { if (para.length) out.push(`<div class="md-p">${para.join("<br>")}</div>`); para = []; };
    const flushList = () => { if (list) out.push(`<${list.tag} class="md-list">${list.items.join("")}</${list.tag}>`); list = null; };
    const flushQuote = () => { if (quote.length) out.push(`<blockquote>${quote.join("<br>")}</blockquote>`); quote = []; };
    for (const raw of String(text).split("\n")) {
      const q = raw.match(QUOTE);
      if (q) { flushPara(); flushList(); quote.push(inline(raw.slice(q[0].length), ctx)); continue; }
      flushQuote();
      const b = raw.match(BULLET), n = b ? null : raw.match(NUMBER);
      const hit = b || n;
      if (hit && !(b && b[2] === "*" && /\*\s*$/.test(b[3]))) {
        flushPara();
        const tag = b ? "ul" : "ol";
        if (!list || list.tag !== tag) { flushList(); list = { tag, items: [] }; }
        const value = n ? ` value="${Number(n[2])}"` : "";
        const indent = hit[1].length ? ` style="margin-left:${Math.min(hit[1].length, 12) * 8}px"` : "";
        list.items.push(`<li${value}${indent}>${inline(hit[3], ctx)}</li>`);
        continue;
      }
      flushList();
      para.push(inline(raw, ctx));
    }
    flushPara(); flushList(); flushQuote();
    return out.join("");
  }

  function mrkdwn(text, ctx) {
    ctx = ctx || {};
    const parts = String(text == null ? "" : text).split("```");
    let html = "";
    for (let i = 0; i < parts.length; i++) {
      const isCode = i % 2 === 1 && i < parts.length - 1;
      if (isCode) html += `<pre class="code">${esc(unent(parts[i].replace(/^\n/, "")))}</pre>`;
      else if (parts[i]) html += lines(i % 2 === 1 ? "```" + parts[i] : parts[i], ctx);
    }
    return html;
  }

  RB.esc = esc;
  RB.unent = unent;
  RB.emoji = emoji;
  RB.formatDate = formatDate;
  RB.mrkdwn = mrkdwn;
  RB.permalink = permalink;
  RB.anchor = anchor;
})(window.RB = window.RB || {});
