// Block Kit -> HTML. Interactive elements carry data-path ("<block>.<slot>")
// so a click finds its element in the stored message or view, whatever re-rendered.
(function (RB) {
  "use strict";
  const esc = RB.esc;

  function text(obj, ctx) {
    if (!obj) return "";
    if (typeof obj === "string") return RB.mrkdwn(obj, ctx);
    if (obj.type === "mrkdwn") return RB.mrkdwn(obj.text, ctx);
    return esc(obj.emoji === false ? obj.text || "" : RB.emoji(obj.text || ""));
  }
  const plain = (obj) => esc(RB.emoji((obj && obj.text) || ""));
  const link = (url, label, ctx) => {
    const safe = /^https?:/i.test(url || "") ? url : null;
    return safe ? RB.anchor(safe, esc(label || safe), ctx) : esc(label || "");
  };

  function options(el) {
    const one = (o, selected) => `<option value="${esc(o.value)}"${selected && selected.value === o.value ? " selected" : ""}>${plain(o.text)}</option>`;
    const sel = el.initial_option;
    let html = `<option value="">${plain(el.placeholder) || "Select…"}</option>`;
    for (const o of el.options || []) html += one(o, sel);
    for (const g of el.option_groups || []) html += `<optgroup label="${plain(g.label)}">${(g.options || []).map((o) => one(o, sel)).join("")}</optgroup>`;
    return html;
  }

  function element(el, path, ctx, inInput) {
    switch (el.type) {
      case "button": {
        const style = el.style === "primary" || el.style === "danger" ? " " + el.style : "";
        // A link button: opened (in place for this workspace's permalinks), nothing sent.
        if (el.url) return /^https?:/i.test(el.url) ? RB.anchor(el.url, plain(el.text), ctx, `bk-button${style}`) : `<span class="bk-button${style}">${plain(el.text)}</span>`;
        return `<button type="button" class="bk-button${style}" data-path="${path}">${plain(el.text)}</button>`;
      }
      case "static_select":
      case "overflow":
        return `<select class="bk-select" data-path="${path}"${inInput ? ' data-input="1"' : ""} aria-label="${plain(el.placeholder) || "Options"}">${options(el)}</select>`;
      case "users_select": {
        const users = [...(ctx.users || new Map()).values()].map((u) => ({ value: u.id, text: { text: u.name } }));
        const initial = users.find((u) => u.value === el.initial_user);
        return element({ ...el, type: "static_select", options: users, initial_option: initial }, path, ctx, inInput);
      }
      case "plain_text_input": {
        const ph = el.placeholder ? ` placeholder="${plain(el.placeholder)}"` : "";
        const max = el.max_length ? ` maxlength="${Number(el.max_length)}"` : "";
        const val = esc(el.initial_value || "");
        return el.multiline
          ? `<textarea data-path="${path}" data-input="1"${ph}${max}>${val}</textarea>`
          : `<input data-path="${path}" data-input="1"${ph}${max} value="${val}">`;
      }
      case "image":
        return `<span class="bk-image">${link(el.image_url, el.alt_text || "image", ctx)}</span>`;
      default:
        return `<span class="bk-unknown">[${esc(el.type || "element")}]</span>`;
    }
  }

  function richInline(els, ctx) {
    return (els || []).map((e) => {
      let h;
      switch (e.type) {
        case "text": h = esc(e.text || ""); break;
        case "link": h = link(e.url, e.text || e.url, ctx); break;
        case "user": h = RB.mrkdwn(`<@${e.user_id}>`, ctx); break;
        case "channel": h = RB.mrkdwn(`<#${e.channel_id}>`, ctx); break;
        case "usergroup": h = RB.mrkdwn(`<!subteam^${e.usergroup_id}>`, ctx); break;
        case "broadcast": h = `<span class="mention">@${esc(e.range || "here")}</span>`; break;
        case "emoji": h = e.unicode ? esc(String.fromCodePoint(...e.unicode.split("-").map((x) => parseInt(x, 16)))) : esc(RB.emoji(`:${e.name}:`)); break;
        case "date": h = RB.mrkdwn(`<!date^${e.timestamp}^${e.format}|${e.fallback || ""}>`, ctx); break;
        default: h = esc(e.text || "");
      }
      const st = e.style || {};
      if (st.code) h = `<code>${h}</code>`;
      if (st.bold) h = `<b>${h}</b>`;
      if (st.italic) h = `<i>${h}</i>`;
      if (st.strike) h = `<s>${h}</s>`;
      return h;
    }).join("").replace(/\n/g, "<br>");
  }

  function richText(block, ctx) {
    return (block.elements || []).map((el) => {
      switch (el.type) {
        case "rich_text_section": return `<div>${richInline(el.elements, ctx)}</div>`;
        case "rich_text_preformatted": return `<pre class="rt-pre">${(el.elements || []).map((e) => esc(e.text || e.url || "")).join("")}</pre>`;
        case "rich_text_quote": return `<blockquote>${richInline(el.elements, ctx)}</blockquote>`;
        case "rich_text_list": {
          const tag = el.style === "ordered" ? "ol" : "ul";
          const items = (el.elements || []).map((s) => `<li>${richInline(s.elements, ctx)}</li>`).join("");
          return `<${tag} class="md-list" style="margin-left:${(el.indent || 0) * 16}px">${items}</${tag}>`;
        }
        default: return "";
      }
    }).join("");
  }

  function block(b, i, ctx) {
    switch (b.type) {
      case "header": return `<div class="bk-header">${plain(b.text)}</div>`;
      case "divider": return `<hr class="bk-divider">`;
      case "section": {
        let body = b.text ? `<div>${text(b.text, ctx)}</div>` : "";
        if (b.fields) body += `<div class="bk-fields">${b.fields.map((f) => `<div>${text(f, ctx)}</div>`).join("")}</div>`;
        const acc = b.accessory ? `<div class="bk-accessory">${element(b.accessory, `${i}.acc`, ctx)}</div>` : "";
        return `<div class="bk-section"><div class="bk-section-body">${body}</div>${acc}</div>`;
      }
      case "context": return `<div class="bk-context">${(b.elements || []).map((e) => e.type === "image" ? element(e, "", ctx) : `<span>${text(e, ctx)}</span>`).join("")}</div>`;
      case "actions": return `<div class="bk-actions">${(b.elements || []).map((e, j) => element(e, `${i}.${j}`, ctx)).join("")}</div>`;
      case "image": return `<div class="bk-image">${link(b.image_url, (b.title && b.title.text) || b.alt_text || "image", ctx)}</div>`;
      case "rich_text": return `<div class="bk-rich">${richText(b, ctx)}</div>`;
      case "input": {
        const id = esc(b.block_id || `b${i}`);
        const hint = b.hint ? `<div class="bk-hint">${plain(b.hint)}</div>` : "";
        const optional = b.optional ? ' <span class="muted">(optional)</span>' : "";
        return `<div class="bk-input" data-block-id="${id}"><label>${plain(b.label)}${optional}</label>${element(b.element || {}, `${i}.input`, ctx, true)}${hint}<div class="bk-error" role="alert"></div></div>`;
      }
      default: return `<div class="bk-unknown">[${esc(b.type || "block")} block]</div>`;
    }
  }

  function render(blocks, ctx) {
    return (blocks || []).map((b, i) => block(b || {}, i, ctx)).join("");
  }

  // The element a data-path names, and its block.
  function resolve(blocks, path) {
    const [bi, slot] = String(path).split(".");
    const b = (blocks || [])[Number(bi)];
    if (!b) return null;
    const el = slot === "acc" ? b.accessory : slot === "input" ? b.element : (b.elements || [])[Number(slot)];
    return el ? { block: b, element: el, blockId: b.block_id || `b${bi}` } : null;
  }

  RB.blocks = { render, resolve, text };
})(window.RB = window.RB || {});
