// The playground page: state from the server's WebSocket feed, actions POSTed to
// /playground/act (which signs them as Slack would and hands them to the bot).
(function (RB) {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const esc = RB.esc;
  const S = {
    users: new Map(), channels: new Map(), usergroups: new Map(), bot: null, team: null,
    messages: new Map(), ephemerals: [], views: new Map(), dismissed: loadDismissed(),
    me: null, channel: null, thread: null, tab: "channel", ready: false,
  };
  RB.state = S;
  // Dismissed ephemerals stay dismissed across reloads (keyed by id and ts: a
  // restarted playground numbers its ephemerals from 1 again).
  function loadDismissed() {
    try { return new Set(JSON.parse(localStorage.getItem("rb-dismissed") || "[]")); } catch (e) { return new Set(); }
  }
  function rememberDismissed(e) {
    S.dismissed.add(`${e.id}|${e.ts}`);
    try { localStorage.setItem("rb-dismissed", JSON.stringify([...S.dismissed].slice(-500))); } catch (err) { /* private mode */ }
  }
  const HINTS = [
    ["/runbook start RB-04", "open an incident and run a runbook"],
    ["/runbook start RB-00", "a runbook whose steps run commands (Run)"],
    ["/runbook list", "every runbook"],
    ["/runbook show RB-04", "a runbook's phases and steps"],
    ["/runbook abort", "stop the running runbook"],
    ["/runbook drill RB-11 staging", "rehearse a runbook on its own incident"],
    ["/runbook history RB-04", "a runbook's recent runs and drills"],
    ["/runbook help", "usage"],
    ["/incident update ", "post a status update"],
    ["/incident note ", "add a note to the timeline"],
    ["/incident timeline", "show the incident timeline"],
    ["/incident resolve", "resolve the incident"],
    ["/incident declare ", "open an incident without a runbook"],
    ["/incident ack", "acknowledge the incident (stops the response clock)"],
    ["/incident role commander @", "give someone a role, e.g. commander"],
    ["/incident priority ", "change the priority: critical, high, medium, low or SEV1…"],
    ["/incident help", "usage"],
  ];
  // This page's token (the server puts it in the page): the server refuses
  // actions and the live feed without it, so other sites cannot drive the playground.
  const TOKEN = (document.querySelector('meta[name="playground-token"]') || {}).content || "";
  const tsNum = (ts) => Number(ts);
  const key = (m) => `${m.channel}|${m.ts}`;
  const ctx = () => ({ users: S.users, channels: S.channels, usergroups: S.usergroups, team: S.team, tz: me().tz });
  RB.ctx = ctx;
  const me = () => S.users.get(S.me) || { id: "", name: "?", tz: "UTC" };

  // -- server feed ------------------------------------------------------------
  function connect() {
    const sock = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/playground/ws?token=${encodeURIComponent(TOKEN)}`);
    sock.onmessage = (e) => apply(JSON.parse(e.data));
    sock.onopen = () => { $("conn").textContent = "live"; $("conn").className = "conn live"; };
    sock.onclose = () => {
      $("conn").textContent = "reconnecting…"; $("conn").className = "conn down";
      setTimeout(connect, 1000);
    };
  }

  function apply(ev) {
    switch (ev.type) {
      case "hello":
        S.users = new Map(ev.users.map((u) => [u.id, u]));
        S.channels = new Map(ev.channels.map((c) => [c.id, c]));
        S.usergroups = new Map(ev.usergroups.map((g) => [g.id, g]));
        S.bot = ev.bot; S.team = ev.team;
        S.messages = new Map(ev.messages.map((m) => [key(m), m]));
        S.ephemerals = ev.ephemerals;
        S.views = new Map(ev.views.map((v) => [v.user, v]));
        if (!S.users.has(S.me)) S.me = ev.users[0].id;
        if (!S.channels.has(S.channel)) S.channel = ev.channels[0].id;
        renderChrome(); renderAll();
        S.ready = true; document.body.dataset.ready = "1";
        return;
      case "message": S.messages.set(key(ev.message), ev.message); break;
      case "message_deleted": S.messages.delete(`${ev.channel}|${ev.ts}`); break;
      case "ephemeral": S.ephemerals.push(ev.ephemeral); break;
      case "views": S.views.set(ev.user, ev); renderModal(); renderHome(); return;
      default: return;
    }
    renderMessages();
  }

  async function act(action) {
    const res = await fetch("/playground/act", {
      method: "POST", headers: { "Content-Type": "application/json", "X-Playground-Token": TOKEN },
      body: JSON.stringify({ user: S.me, ...action }),
    });
    return res.json();
  }

  // -- rendering ----------------------------------------------------------------
  function author(m) {
    // An ephemeral is the bot's message to one person, never that person's own.
    if (m.bot_id || m.type === "ephemeral") return { name: (S.bot && S.bot.name) || "bot", initial: "R", bot: true };
    const u = S.users.get(m.user);
    return { name: u ? u.name : m.user, initial: (u ? u.name : "?").slice(0, 1).toUpperCase(), bot: false };
  }
  function clock(ts) { return RB.formatDate(Math.floor(tsNum(ts)), "{time}", me().tz); }

  function messageHtml(m, inThread) {
    const a = author(m);
    const content = m.blocks && m.blocks.length ? RB.blocks.render(m.blocks, ctx()) : RB.mrkdwn(m.text, ctx());
    const edited = m.edited ? ' <span class="edited">(edited)</span>' : "";
    const n = m.reply_count || 0;
    const replies = !inThread && n ? `<button type="button" class="replies" data-thread="${esc(m.ts)}">${n} ${n === 1 ? "reply" : "replies"}</button>` : "";
    const eph = m.type === "ephemeral";
    const badge = a.bot ? '<span class="app-badge">APP</span>' : "";
    const broadcast = !inThread && m.reply_broadcast ? `<button type="button" class="broadcast" data-thread="${esc(m.thread_ts)}">replied to a thread</button>` : "";
    const note = eph ? `<span class="eph-note">Only visible to you</span><button type="button" class="eph-dismiss" data-dismiss="${esc(m.id)}">Dismiss</button>` : "";
    const owner = eph ? `data-ephemeral="${esc(m.id)}"` : `data-key="${esc(key(m))}"`;
    return `<div class="msg${eph ? " ephemeral" : ""}" ${owner} data-ts="${esc(m.ts)}">` +
      `<div class="avatar${a.bot ? " bot" : ""}">${esc(a.initial)}</div><div class="msg-body">` +
      `<div class="msg-head"><span class="msg-author">${esc(a.name)}</span>${badge}<span class="msg-time">${esc(clock(m.ts))}</span>${edited}${note}</div>${broadcast}` +
      `<div class="msg-content">${content}</div>${replies}</div></div>`;
  }

  // Keyed list update: unchanged messages keep their DOM nodes (and focus, selects).
  function sync(container, items) {
    const cache = container._cache || (container._cache = new Map());
    const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
    const keep = new Set();
    let prev = null;
    for (const { id, html } of items) {
      keep.add(id);
      let entry = cache.get(id);
      if (!entry || entry.html !== html) {
        const t = document.createElement("template");
        t.innerHTML = html;
        const node = t.content.firstElementChild;
        if (entry) entry.node.replaceWith(node);
        entry = { html, node };
        cache.set(id, entry);
      }
      const want = prev ? prev.nextSibling : container.firstChild;
      if (want !== entry.node) container.insertBefore(entry.node, want);
      prev = entry.node;
    }
    for (const [id, entry] of cache) if (!keep.has(id)) { entry.node.remove(); cache.delete(id); }
    if (atBottom) container.scrollTop = container.scrollHeight;
  }

  function visibleEphemerals(channel, thread) {
    return S.ephemerals.filter((e) => e.user === S.me && e.channel === channel && !S.dismissed.has(`${e.id}|${e.ts}`) &&
      (thread ? e.thread_ts === thread : !e.thread_ts));
  }
  const byTs = (a, b) => tsNum(a.ts) - tsNum(b.ts);

  function renderMessages() {
    const top = [...S.messages.values()].filter((m) => m.channel === S.channel && (!m.thread_ts || m.thread_ts === m.ts || m.reply_broadcast));
    const list = [...top, ...visibleEphemerals(S.channel, null)].sort(byTs);
    sync($("messages"), list.map((m) => ({ id: m.id || key(m), html: messageHtml(m, false) })));
    renderThread();
  }

  function renderThread() {
    const pane = $("thread");
    if (!S.thread) { pane.hidden = true; return; }
    pane.hidden = false;
    const parent = S.messages.get(`${S.channel}|${S.thread}`);
    const replies = [...S.messages.values()].filter((m) => m.channel === S.channel && m.thread_ts === S.thread && m.ts !== S.thread);
    const list = [...replies, ...visibleEphemerals(S.channel, S.thread)].sort(byTs);
    const items = parent ? [{ id: key(parent), html: messageHtml(parent, true) }] : [];
    items.push({ id: "divider", html: `<div class="thread-divider">${replies.length} ${replies.length === 1 ? "reply" : "replies"}</div>` });
    for (const m of list) items.push({ id: m.id || key(m), html: messageHtml(m, true) });
    sync($("thread-messages"), items);
    const c = S.channels.get(S.channel);
    $("thread-where").textContent = c ? `#${c.name}` : "";
  }

  function renderChrome() {
    const sw = $("user-switch");
    sw.innerHTML = [...S.users.values()].map((u) => `<option value="${esc(u.id)}">${esc(u.name)} — ${esc(u.title)}</option>`).join("");
    sw.value = S.me;
    $("you-title").textContent = `${me().real_name} · ${me().tz}`;
    $("channel-list").innerHTML = [...S.channels.values()].map((c) =>
      `<li><button type="button" class="nav-item${S.tab === "channel" && c.id === S.channel ? " active" : ""}" data-nav="${esc(c.id)}"># ${esc(c.name)}</button></li>`).join("");
    $("home-link").classList.toggle("active", S.tab === "home");
    const c = S.channels.get(S.channel);
    $("pane-title").textContent = S.tab === "home" ? "runbook-bot" : `# ${c ? c.name : ""}`;
    $("pane-topic").textContent = S.tab === "home" ? "App Home" : c ? c.topic : "";
    $("composer-input").placeholder = `Message #${c ? c.name : ""} — type / for commands`;
    $("channel-view").hidden = S.tab !== "channel";
    $("home-view").hidden = S.tab !== "home";
    if (S.tab === "home") $("thread").hidden = true;
  }

  function renderAll() { renderMessages(); renderModal(); renderHome(); }

  function renderHome() {
    if (S.tab !== "home") return;
    const v = S.views.get(S.me), home = v && v.home;
    const html = home ? RB.blocks.render(home.blocks, ctx())
      : '<div class="home-empty">runbook-bot has not published a Home tab for you yet.</div>';
    const el = $("home");
    if (el._html !== html) { el.innerHTML = html; el._html = html; }
    el.dataset.homeView = home ? home.id : "";
  }

  function renderModal() {
    const root = $("modal-root");
    const v = S.views.get(S.me), stack = (v && v.modals) || [], view = stack[stack.length - 1];
    if (!view) { root.innerHTML = ""; root._id = null; return; }
    const sig = view.id + view.hash;
    if (root._id === sig) return;
    root._id = sig;
    const close = (view.close && view.close.text) || "Cancel";
    const submit = view.submit ? `<button type="submit" class="bk-button primary">${esc(view.submit.text)}</button>` : "";
    root.innerHTML = `<div class="overlay"><form class="modal" role="dialog" aria-modal="true" aria-label="${esc(view.title && view.title.text)}" data-view="${esc(view.id)}">` +
      `<div class="modal-head">${esc(RB.emoji((view.title && view.title.text) || ""))}<button type="button" class="icon" data-close="1" aria-label="Close">✕</button></div>` +
      `<div class="modal-body">${RB.blocks.render(view.blocks, ctx())}</div>` +
      `<div class="modal-foot"><span class="modal-error" role="alert"></span><button type="button" class="bk-button" data-close="1">${esc(close)}</button>${submit}</div></form></div>`;
    const first = root.querySelector("[data-input]");
    if (first) first.focus();
  }

  // -- modal state, as Slack's view.state.values -----------------------------------
  function viewState(container, blocks) {
    const values = {};
    for (const input of container.querySelectorAll("[data-input]")) {
      const found = RB.blocks.resolve(blocks, input.dataset.path);
      if (!found) continue;
      const el = found.element, aid = el.action_id || `a${input.dataset.path}`;
      let v;
      if (input.tagName === "SELECT") {
        const opt = (el.options || []).concat(...(el.option_groups || []).map((g) => g.options || [])).find((o) => o.value === input.value);
        v = { type: el.type, selected_option: opt ? { text: opt.text, value: opt.value } : null };
        if (el.type === "users_select") v = { type: el.type, selected_user: input.value || null };
      } else v = { type: el.type, value: input.value === "" ? null : input.value };
      (values[found.blockId] = values[found.blockId] || {})[aid] = v;
    }
    return values;
  }

  // -- confirm dialogs ------------------------------------------------------------
  function confirmDialog(c) {
    return new Promise((resolve) => {
      const wrap = document.createElement("div");
      wrap.className = "overlay";
      const style = c.style === "danger" ? " danger" : " primary";
      wrap.innerHTML = `<div class="modal" role="alertdialog" aria-label="${esc((c.title && c.title.text) || "Are you sure?")}">` +
        `<div class="modal-head">${esc((c.title && c.title.text) || "Are you sure?")}</div>` +
        `<div class="modal-body">${RB.blocks.text(c.text, ctx())}</div>` +
        `<div class="modal-foot"><button type="button" class="bk-button" data-answer="no">${esc((c.deny && c.deny.text) || "Cancel")}</button>` +
        `<button type="button" class="bk-button${style}" data-answer="yes">${esc((c.confirm && c.confirm.text) || "Yes")}</button></div></div>`;
      wrap.addEventListener("click", (e) => {
        const b = e.target.closest("[data-answer]");
        if (!b) return;
        wrap.remove(); resolve(b.dataset.answer === "yes");
      });
      document.body.appendChild(wrap);
    });
  }

  // -- what a click or a choice means -------------------------------------------------
  function owner(node) {
    const msg = node.closest("[data-key],[data-ephemeral]");
    if (msg && msg.dataset.key) {
      const m = S.messages.get(msg.dataset.key);
      return m && { blocks: m.blocks, target: { channel: m.channel, ts: m.ts } };
    }
    if (msg) {
      const e = S.ephemerals.find((x) => x.id === msg.dataset.ephemeral);
      return e && { blocks: e.blocks, target: { channel: e.channel, ts: e.ts } };
    }
    const v = S.views.get(S.me) || {};
    const form = node.closest("[data-view]");
    if (form) {
      const view = (v.modals || []).find((x) => x.id === form.dataset.view);
      return view && { blocks: view.blocks, target: { view_id: view.id }, container: form };
    }
    if (node.closest("#home") && v.home) return { blocks: v.home.blocks, target: { view_id: v.home.id }, container: $("home") };
    return null;
  }

  async function interact(node, choice) {
    const o = owner(node);
    const found = o && RB.blocks.resolve(o.blocks, node.dataset.path);
    if (!found) return;
    const el = found.element;
    if (el.confirm && !(await confirmDialog(el.confirm))) return;
    const action = { type: el.type, action_id: el.action_id, block_id: found.blockId };
    if (choice && el.type === "users_select") action.selected_user = choice.value;
    else if (choice) {
      action.selected_option = choice;
      if (el.placeholder) action.placeholder = el.placeholder;
    } else {
      action.text = el.text; action.value = el.value || "";
      if (el.style) action.style = el.style;
    }
    const extra = o.container ? { values: viewState(o.container, o.blocks) } : {};
    node.disabled = true;
    try { await act({ type: "block_action", action, ...o.target, ...extra }); } finally { node.disabled = false; }
  }

  async function submitModal(form) {
    const v = S.views.get(S.me) || {}, view = (v.modals || []).find((x) => x.id === form.dataset.view);
    if (!view) return;
    for (const e of form.querySelectorAll(".bk-error, .modal-error")) e.textContent = "";
    const res = await act({ type: "submit", view_id: view.id, values: viewState(form, view.blocks) });
    if (res.errors) {
      for (const [blockId, msg] of Object.entries(res.errors)) {
        const slot = form.querySelector(`.bk-input[data-block-id="${CSS.escape(blockId)}"] .bk-error`);
        if (slot) slot.textContent = msg; else form.querySelector(".modal-error").textContent = msg;
      }
    } else if (!res.ok) form.querySelector(".modal-error").textContent = res.error || "Something went wrong.";
  }

  // -- composer with slash-command hints --------------------------------------------
  let hintIndex = 0;
  function hintsFor(value) {
    if (!value.startsWith("/") || value.includes("  ")) return [];
    return HINTS.filter(([cmd]) => cmd.startsWith(value) && cmd !== value).slice(0, 8);
  }
  function renderHints() {
    const input = $("composer-input"), list = $("hints"), found = hintsFor(input.value);
    list.hidden = !found.length;
    hintIndex = Math.min(hintIndex, Math.max(0, found.length - 1));
    list.innerHTML = found.map(([cmd, what], i) => `<li data-hint="${esc(cmd)}" class="${i === hintIndex ? "sel" : ""}"><b>${esc(cmd)}</b><span class="muted">${esc(what)}</span></li>`).join("");
  }
  async function send(text, thread) {
    text = text.trim();
    if (!text) return;
    if (text.startsWith("/")) await act({ type: "command", channel: S.channel, text });
    else await act({ type: "message", channel: S.channel, text, thread_ts: thread || null });
  }

  // -- wiring ---------------------------------------------------------------------------
  function openThread(ts) { S.thread = ts; renderThread(); }
  // A permalink (e.g. an incident on the Home tab): its channel, with its thread open.
  function openPermalink(channel, ts, thread) {
    if (!S.channels.has(channel)) return;
    const m = S.messages.get(`${channel}|${ts}`);
    S.tab = "channel"; S.channel = channel;
    // A thread link opens the thread (as Slack does), even one with no reply yet.
    S.thread = thread || (m && m.thread_ts) || ts;
    renderChrome(); renderMessages();
    const node = $(S.thread ? "thread-messages" : "messages").querySelector(`[data-key="${CSS.escape(`${channel}|${ts}`)}"]`);
    if (node) node.scrollIntoView({ block: "center" });
  }

  document.addEventListener("click", (e) => {
    const t = e.target;
    const nav = t.closest("[data-nav]");
    if (nav) {
      if (nav.dataset.nav === "home") { S.tab = "home"; S.thread = null; renderChrome(); renderHome(); act({ type: "home" }); }
      else { S.tab = "channel"; S.channel = nav.dataset.nav; S.thread = null; renderChrome(); renderMessages(); }
      return;
    }
    const link = t.closest("[data-permalink]");
    if (link) { e.preventDefault(); openPermalink(...link.dataset.permalink.split("|")); return; }
    const replies = t.closest("[data-thread]");
    if (replies) { openThread(replies.dataset.thread); return; }
    const dismiss = t.closest("[data-dismiss]");
    if (dismiss) {
      const eph = S.ephemerals.find((x) => x.id === dismiss.dataset.dismiss);
      if (eph) { rememberDismissed(eph); renderMessages(); }
      return;
    }
    const hint = t.closest("[data-hint]");
    if (hint) { const i = $("composer-input"); i.value = hint.dataset.hint; i.focus(); renderHints(); return; }
    const close = t.closest("[data-close]");
    if (close) { const f = close.closest("[data-view]"); act({ type: "close", view_id: f && f.dataset.view }); return; }
    const button = t.closest("button[data-path]");
    if (button) interact(button, null);
  });
  document.addEventListener("change", (e) => {
    const sel = e.target.closest("select[data-path]");
    if (!sel || sel.dataset.input) return;
    const o = owner(sel), found = o && RB.blocks.resolve(o.blocks, sel.dataset.path);
    if (!found || !sel.value) return;
    if (found.element.type === "users_select") { interact(sel, { value: sel.value }); return; }
    const opts = (found.element.options || []).concat(...(found.element.option_groups || []).map((g) => g.options || []));
    const opt = opts.find((x) => x.value === sel.value);
    if (opt) interact(sel, { text: opt.text, value: opt.value });
  });
  document.addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.target;
    if (form.dataset.view) { submitModal(form); return; }
    const input = form.querySelector("input");
    const text = input.value;
    input.value = "";
    if (form.id === "composer") { $("hints").hidden = true; send(text, null); }
    else send(text, S.thread);
  });
  $("composer-input").addEventListener("input", () => { hintIndex = 0; renderHints(); });
  $("composer-input").addEventListener("keydown", (e) => {
    const found = hintsFor(e.target.value);
    if (!found.length) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      hintIndex = (hintIndex + (e.key === "ArrowDown" ? 1 : found.length - 1)) % found.length;
      renderHints();
    } else if (e.key === "Tab") {
      e.preventDefault();
      e.target.value = found[hintIndex][0]; renderHints();
    } else if (e.key === "Escape") $("hints").hidden = true;
  });
  $("user-switch").addEventListener("change", (e) => {
    S.me = e.target.value;
    renderChrome(); renderAll();
    if (S.tab === "home") act({ type: "home" });
  });
  $("thread-close").addEventListener("click", () => { S.thread = null; renderThread(); });
  connect();
})(window.RB = window.RB || {});
