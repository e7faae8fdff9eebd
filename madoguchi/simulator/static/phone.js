// The phone page: plays the customers through the simulator's control API (/_sim).
// Everything shown comes from JSON and is inserted as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  customer: localStorage.getItem("sim.customer") || null,
  number: localStorage.getItem("sim.number") || null,
  replyTo: null,
  attachment: null,
  call: null,
  lastThread: "",
  messages: [],
};
const REACTIONS = ["👍", "❤️", "😂", "😮", "🙏"];

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || data);
    throw new Error(detail);
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showError(id, error) {
  $(id).textContent = error ? String(error.message || error) : "";
}

// ------------------------------------------------------------------ sending

async function send(spec) {
  if (!state.customer) {
    showError("chat-error", "Pick or create a customer first.");
    return null;
  }
  const body = Object.assign({ phone_number_id: state.number }, spec);
  if (state.replyTo && !body.message_wamid && spec.type !== "reaction") body.reply_to = state.replyTo;
  try {
    const result = await api("POST", `/_sim/customers/${encodeURIComponent(state.customer)}/messages`, body);
    let note = "";
    if (result.delivery_state === "skipped") note = "No webhook_url is configured: nothing was posted.";
    else if (!result.delivered) note = `Not delivered yet (${result.status_code || result.error || "no answer"}); the simulator retries.`;
    showError("chat-error", note);
    setReply(null);
    await refreshThread(true);
    return result;
  } catch (error) {
    showError("chat-error", error);
    return null;
  }
}

function mediaKind(mime) {
  if (mime === "image/webp") return "sticker";
  if (mime.startsWith("image/")) return "image";
  if (mime.startsWith("video/")) return "video";
  if (mime.startsWith("audio/")) return "audio";
  return "document";
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function sendFile(file) {
  const mime = file.type || "application/octet-stream";
  const kind = mediaKind(mime);
  const spec = { type: kind, mime_type: mime, file_b64: await readBase64(file) };
  const caption = $("text").value.trim();
  if (caption && ["image", "video", "document"].includes(kind)) spec.caption = caption;
  if (kind === "document") spec.filename = file.name;
  if (kind === "audio") spec.voice = $("voice").checked;
  const result = await send(spec);
  if (result && spec.caption) $("text").value = "";
  return result;
}

function setAttachment(file) {
  state.attachment = file;
  $("attachment-bar").hidden = !file;
  $("attachment-name").textContent = file ? file.name : "";
}

// ------------------------------------------------------------------ rendering

function snippet(message) {
  const c = message.content || {};
  if (message.direction === "in") {
    if (c.text) return c.text.body;
    if (c.interactive) return (c.interactive.button_reply || c.interactive.list_reply || {}).title || "form sent";
    if (c.button) return c.button.text;
    return `[${message.type}]`;
  }
  if (message.type === "text") return c.body;
  if (message.type === "template") return (message.rendered || {}).body || c.name;
  if (message.type === "interactive") return (c.body || {}).text || "[interactive]";
  return c.caption || `[${message.type}]`;
}

function mediaNode(kind, src, caption, filename) {
  const nodes = [];
  if (kind === "image" || kind === "sticker") nodes.push(el("img", { src, alt: caption || kind, class: kind }));
  else if (kind === "video") nodes.push(el("video", { src, controls: true, preload: "metadata" }));
  else if (kind === "audio") nodes.push(el("audio", { src, controls: true, preload: "metadata" }));
  else nodes.push(el("a", { href: src, target: "_blank", rel: "noopener", class: "doc" }, `📄 ${filename || "document"}`));
  if (caption) nodes.push(el("p", {}, caption));
  return nodes;
}

function mediaSrc(obj) {
  return obj.id ? `/_sim/media/${encodeURIComponent(obj.id)}` : obj.link;
}

function locationNode(loc) {
  const url = `https://www.openstreetmap.org/?mlat=${loc.latitude}&mlon=${loc.longitude}#map=16/${loc.latitude}/${loc.longitude}`;
  return el("div", { class: "location" },
    el("a", { href: url, target: "_blank", rel: "noopener" }, `📍 ${loc.name || "Location"}`),
    loc.address ? el("p", { class: "muted" }, loc.address) : null,
    el("p", { class: "muted" }, `${loc.latitude}, ${loc.longitude}`));
}

function contactsNode(cards) {
  return el("div", { class: "cards" }, (cards || []).map((card) => el("div", { class: "card" },
    `👤 ${(card.name || {}).formatted_name || "Contact"}`,
    ...(card.phones || []).map((p) => el("p", { class: "muted" }, p.phone)))));
}

function customerBody(message) {
  const c = message.content;
  switch (message.type) {
    case "text": return [el("p", {}, c.text.body)];
    case "image": case "video": case "audio": case "document": case "sticker": {
      const m = c[message.type];
      return mediaNode(message.type, mediaSrc(m), m.caption, m.filename);
    }
    case "location": return [locationNode(c.location)];
    case "contacts": return [contactsNode(c.contacts)];
    case "interactive": {
      const i = c.interactive;
      if (i.call_permission_reply) {
        const ok = i.call_permission_reply.response === "accept";
        return [el("p", {}, ok ? "📞 allowed calls" : "📞 declined calls")];
      }
      const reply = i.button_reply || i.list_reply;
      return [el("p", {}, reply ? `↩ ${reply.title}` : "↩ form sent")];
    }
    case "button": return [el("p", {}, `↩ ${c.button.text}`)];
    case "request_welcome": return [el("p", { class: "muted" }, "opened the chat for the first time")];
    case "unsupported": return [el("p", { class: "muted" }, "unsupported message")];
    default: return [el("p", { class: "muted" }, `[${message.type}]`)];
  }
}

function tapButton(label, spec, extra = {}) {
  return el("button", Object.assign({ type: "button", class: "tap", onclick: () => send(spec) }, extra), label);
}

function interactiveBody(message) {
  const c = message.content;
  const header = c.header || {};
  const nodes = [];
  if (header.type === "text") nodes.push(el("p", { class: "header" }, header.text));
  else if (header.type) nodes.push(...mediaNode(header.type, mediaSrc(header[header.type])));
  if (c.body) nodes.push(el("p", {}, c.body.text));
  if (c.footer) nodes.push(el("p", { class: "footer" }, c.footer.text));
  const action = c.action || {};
  if (c.type === "button") {
    nodes.push(el("div", { class: "buttons" }, (action.buttons || []).map((b) =>
      tapButton(b.reply.title, { type: "button_reply", message_wamid: message.wamid, button_id: b.reply.id }))));
  } else if (c.type === "list") {
    const rows = el("div", { class: "list", hidden: true },
      (action.sections || []).map((section) => el("div", { class: "section" },
        section.title ? el("p", { class: "section-title" }, section.title) : null,
        (section.rows || []).map((row) => tapButton(
          [row.title, row.description ? ` — ${row.description}` : ""].join(""),
          { type: "list_reply", message_wamid: message.wamid, row_id: row.id })))));
    const toggle = el("button", { type: "button", class: "tap", "aria-expanded": "false" }, `☰ ${action.button}`);
    toggle.addEventListener("click", () => {
      rows.hidden = !rows.hidden;
      toggle.setAttribute("aria-expanded", String(!rows.hidden));
    });
    nodes.push(el("div", { class: "buttons" }, toggle), rows);
  } else if (c.type === "cta_url") {
    const p = action.parameters || {};
    nodes.push(el("div", { class: "buttons" }, el("a", { class: "tap", href: p.url, target: "_blank", rel: "noopener" }, `🔗 ${p.display_text}`)));
  } else if (c.type === "flow") {
    nodes.push(el("div", { class: "buttons" }, tapButton(`📝 ${(action.parameters || {}).flow_cta || "Open form"}`,
      { type: "nfm_reply", message_wamid: message.wamid, response: { flow_token: (action.parameters || {}).flow_token || "sim" } })));
  } else if (c.type === "location_request_message") {
    nodes.push(el("div", { class: "buttons" }, el("button", { type: "button", class: "tap", onclick: () => $("dlg-location").showModal() }, "📍 Send location")));
  } else if (c.type === "call_permission_request") {
    nodes.push(el("p", { class: "muted" }, "asks permission to call you"));
    const answer = (response) => ({ type: "call_permission_reply", message_wamid: message.wamid, response });
    nodes.push(el("div", { class: "buttons" },
      tapButton("📞 Allow calls", answer("accept")), tapButton("Not now", answer("reject"))));
  }
  return nodes;
}

function templateBody(message) {
  const r = message.rendered || {};
  const nodes = [];
  const header = r.header || {};
  if (header.type === "text") nodes.push(el("p", { class: "header" }, header.text));
  else if (header.type === "location") nodes.push(locationNode(header.location || {}));
  else if (header.type) nodes.push(...mediaNode(header.type, mediaSrc(header[header.type] || {})));
  nodes.push(el("p", {}, r.body || ""));
  if (r.footer) nodes.push(el("p", { class: "footer" }, r.footer));
  const buttons = (r.buttons || []).map((b, index) => {
    if (b.type === "QUICK_REPLY") return tapButton(b.text, { type: "button", message_wamid: message.wamid, index });
    if (b.type === "URL") return el("a", { class: "tap", href: b.url, target: "_blank", rel: "noopener" }, `🔗 ${b.text}`);
    if (b.type === "PHONE_NUMBER") return el("a", { class: "tap", href: `tel:${b.phone_number}` }, `📞 ${b.text}`);
    return el("span", { class: "tap disabled" }, b.text || b.type);
  });
  if (buttons.length) nodes.push(el("div", { class: "buttons" }, buttons));
  return nodes;
}

function businessBody(message) {
  const c = message.content;
  switch (message.type) {
    case "text": return [el("p", {}, c.body)];
    case "image": case "video": case "audio": case "document": case "sticker":
      return mediaNode(message.type, mediaSrc(c), c.caption, c.filename);
    case "location": return [locationNode(c)];
    case "contacts": return [contactsNode(c)];
    case "interactive": return interactiveBody(message);
    case "template": return templateBody(message);
    default: return [el("p", { class: "muted" }, `[${message.type}]`)];
  }
}

function ticks(message) {
  const label = { sent: "✓", delivered: "✓✓", read: "✓✓" }[message.status] || "…";
  return el("span", { class: `ticks ${message.status}`, title: message.status, "aria-label": message.status }, label);
}

function renderMessage(message, byId) {
  const mine = message.direction === "in";  // the customer's own message
  const time = new Date(message.timestamp * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const quoted = message.context_id && byId[message.context_id];
  const reactions = Object.values(message.reactions || {});
  const failed = message.status === "failed";
  const bubble = el("div", { class: `bubble ${mine ? "mine" : "theirs"}${failed ? " failed" : ""}` },
    quoted ? el("blockquote", {}, snippet(quoted)) : null,
    mine ? customerBody(message) : businessBody(message),
    failed ? el("p", { class: "error" }, `failed: ${(message.errors || []).map((e) => `${e.code} ${e.title}`).join(", ")}`) : null,
    el("div", { class: "meta" }, time, mine ? ticks(message) : null),
    reactions.length ? el("div", { class: "reactions", "aria-label": "reactions" }, reactions.join(" ")) : null);
  const tools = el("div", { class: "tools" },
    el("button", { type: "button", "aria-label": "Reply to this message", onclick: () => setReply(message) }, "↩"),
    ...REACTIONS.map((emoji) => el("button", {
      type: "button", "aria-label": `React ${emoji}`,
      onclick: () => send({ type: "reaction", message_wamid: message.wamid, emoji }),
    }, emoji)),
    (message.reactions || {}).customer ? el("button", {
      type: "button", "aria-label": "Remove my reaction",
      onclick: () => send({ type: "reaction", message_wamid: message.wamid, emoji: "" }),
    }, "✕") : null);
  return el("li", { class: `msg ${mine ? "mine" : "theirs"}`, "data-wamid": message.wamid }, bubble, tools);
}

function setReply(message) {
  state.replyTo = message ? message.wamid : null;
  $("reply-bar").hidden = !message;
  $("reply-snippet").textContent = message ? snippet(message) : "";
}

// ------------------------------------------------------------------ polling

async function refreshThread(force = false) {
  if (!state.customer) return;
  const viewing = document.visibilityState === "visible" ? "1" : "0";
  const query = `phone_number_id=${encodeURIComponent(state.number)}&viewing=${viewing}`;
  let data;
  try {
    data = await api("GET", `/_sim/customers/${encodeURIComponent(state.customer)}/thread?${query}`);
  } catch (error) {
    if (String(error.message).startsWith("no customer")) {  // e.g. after a reset
      state.customer = null;
      localStorage.removeItem("sim.customer");
      $("chat-title").textContent = "Pick or create a customer";
      $("chat-sub").textContent = "";
      $("messages").replaceChildren();
      state.lastThread = "";
      return;
    }
    showError("chat-error", error);
    return;
  }
  const c = data.customer;
  $("chat-title").textContent = `${c.name}${c.username ? ` (@${c.username})` : ""}`;
  $("chat-sub").textContent = [c.wa_id ? `+${c.wa_id}` : "no phone shared", c.user_id,
    data.window_open ? "24 h window open" : "window closed"].join(" · ");
  $("typing").hidden = !data.typing;
  const visible = data.messages.filter((m) => m.type !== "reaction");
  const key = JSON.stringify(visible);
  if (!force && key === state.lastThread) return;
  state.lastThread = key;
  const byId = Object.fromEntries(data.messages.map((m) => [m.wamid, m]));
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...visible.map((m) => renderMessage(m, byId)));
  if (atBottom || force) list.scrollTop = list.scrollHeight;
}

async function refreshCustomers() {
  const data = await api("GET", "/_sim/customers").catch(() => null);
  if (!data) return;
  $("customer-list").replaceChildren(...data.customers.map((c) => el("li", {},
    el("button", {
      type: "button", "data-customer": c.user_id,
      "aria-current": c.user_id === state.customer ? "true" : null,
      onclick: () => selectCustomer(c.user_id),
    }, c.name, el("small", {}, c.wa_id ? ` +${c.wa_id}` : ` @${c.username}`)))));
}

async function refreshDeliveries() {
  const data = await api("GET", "/_sim/deliveries?limit=15&body=false").catch(() => null);
  if (!data) return;
  $("deliveries").replaceChildren(...data.deliveries.reverse().map((d) => {
    const last = d.attempts[d.attempts.length - 1] || {};
    return el("li", { class: `delivery ${d.state}` },
      el("strong", {}, d.state), ` ${d.summary}`,
      el("small", {}, ` · ${d.attempts.length} attempt(s)${last.status_code ? ` · HTTP ${last.status_code}` : ""}${last.error ? ` · ${last.error}` : ""}`));
  }));
}

// ------------------------------------------------------------------ calls

const CALL_LIVE = ["ringing", "pre_accepted", "ongoing"];

async function refreshCall() {
  if (!state.customer) return;
  const data = await api("GET", `/_sim/calls?customer_id=${encodeURIComponent(state.customer)}`).catch(() => null);
  if (!data) return;
  const calls = data.calls.filter((c) => c.phone_number_id === state.number);
  const call = calls.reverse().find((c) => CALL_LIVE.includes(c.state)) || null;
  state.call = call;
  $("btn-call").hidden = !!call;
  $("call-state").hidden = !call;
  if (!call) return;
  const incoming = call.direction === "BUSINESS_INITIATED";
  const text = {
    ringing: incoming ? "The business is calling you" : "Calling the business…",
    pre_accepted: "Connecting…",
    ongoing: "On the call",
  }[call.state];
  $("call-text").textContent = text;
  const keys = call.media.dtmf_received ? ` · keys ${call.media.dtmf_received}` : "";
  $("call-media").textContent = `heard ${call.media.audible_frames_received} sound frames of ${call.media.frames_received} · ${call.media.connection}${keys}`;
  $("call-answer").hidden = !(incoming && call.state === "ringing");
  $("call-reject").hidden = !(incoming && call.state === "ringing");
  $("call-hangup").hidden = incoming && call.state === "ringing";
}

async function callStep(step) {
  if (!state.call) return;
  try {
    await api("POST", `/_sim/calls/${encodeURIComponent(state.call.id)}/${step}`);
    showError("call-error", "");
  } catch (error) {
    showError("call-error", error);
  }
  await refreshCall();
}

async function callBusiness() {
  if (!state.customer) {
    showError("call-error", "Pick or create a customer first.");
    return;
  }
  try {
    await api("POST", `/_sim/customers/${encodeURIComponent(state.customer)}/calls`, { phone_number_id: state.number });
    showError("call-error", "");
  } catch (error) {
    showError("call-error", error);
  }
  await refreshCall();
}

function selectCustomer(id) {
  state.customer = id;
  state.lastThread = "";
  localStorage.setItem("sim.customer", id);
  setReply(null);
  refreshCustomers();
  refreshThread(true);
  refreshCall();
}

// ------------------------------------------------------------------ wiring

// A link may name the customer and the business number (Madoguchi's flow editor links
// here when an admin tests a flow): /?customer=<phone, BSUID or @username>&number=<id>.
// A phone nobody plays yet becomes a new customer.
async function openFromLink() {
  const params = new URLSearchParams(window.location.search);
  const number = params.get("number");
  const key = (params.get("customer") || "").trim();
  if (number && [...$("number-select").options].some((o) => o.value === number)) {
    $("number-select").value = number;
    state.number = number;
    localStorage.setItem("sim.number", number);
  }
  if (!key) return;
  let customer = await api("GET", `/_sim/customers/${encodeURIComponent(key)}`).catch(() => null);
  if (!customer && /^\+?[\d\s-]{6,}$/.test(key)) {
    customer = await api("POST", "/_sim/customers", { wa_id: key }).catch((error) => {
      showError("chat-error", error);
      return null;
    });
  }
  if (customer) selectCustomer(customer.user_id);
}

function wire() {
  const numberSelect = $("number-select");
  if (state.number && [...numberSelect.options].some((o) => o.value === state.number)) numberSelect.value = state.number;
  state.number = numberSelect.value;
  numberSelect.addEventListener("change", () => {
    state.number = numberSelect.value;
    localStorage.setItem("sim.number", state.number);
    refreshThread(true);
  });

  // A chosen file waits for Send, so a caption typed after choosing it goes with it.
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.attachment) {
      if (await sendFile(state.attachment)) setAttachment(null);
      return;
    }
    const text = $("text").value.trim();
    if (!text) return;
    if (await send({ type: "text", text })) $("text").value = "";
  });
  $("attach").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) setAttachment(file);
    $("text").focus();
  });
  $("attachment-cancel").addEventListener("click", () => setAttachment(null));
  $("reply-cancel").addEventListener("click", () => setReply(null));
  $("btn-call").addEventListener("click", () => callBusiness());
  $("call-answer").addEventListener("click", () => callStep("answer"));
  $("call-reject").addEventListener("click", () => callStep("reject"));
  $("call-hangup").addEventListener("click", () => callStep("hangup"));
  $("btn-location").addEventListener("click", () => $("dlg-location").showModal());
  $("btn-contact").addEventListener("click", () => $("dlg-contact").showModal());
  $("btn-welcome").addEventListener("click", () => send({ type: "request_welcome" }));
  $("btn-ad").addEventListener("click", () => {
    const text = $("text").value.trim() || "Hi! I saw your ad.";
    send({ type: "text", text, referral: true }).then((r) => { if (r) $("text").value = ""; });
  });
  $("dlg-location").addEventListener("close", () => {
    if ($("dlg-location").returnValue !== "send") return;
    send({ type: "location", latitude: $("loc-lat").value, longitude: $("loc-lon").value,
      name: $("loc-name").value || undefined, address: $("loc-address").value || undefined });
  });
  $("dlg-contact").addEventListener("close", () => {
    if ($("dlg-contact").returnValue !== "send") return;
    send({ type: "contacts", name: $("ct-name").value, phone: $("ct-phone").value || undefined,
      email: $("ct-email").value || undefined });
  });

  $("new-customer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const usernameOnly = form.get("kind") === "username";
    const body = {};
    for (const key of ["name", "username", "user_id", "country"]) {
      const value = String(form.get(key) || "").trim();
      if (value) body[key] = value;
    }
    if (!usernameOnly) body.wa_id = String(form.get("wa_id") || "").trim();
    try {
      const customer = await api("POST", "/_sim/customers", body);
      showError("nc-error", "");
      event.target.reset();
      selectCustomer(customer.user_id);
    } catch (error) {
      showError("nc-error", error);
    }
  });

  document.querySelectorAll("#customer-list button[data-customer]").forEach((b) =>
    b.addEventListener("click", () => selectCustomer(b.dataset.customer)));
  document.addEventListener("visibilitychange", () => refreshThread());

  refreshCustomers();
  refreshThread(true);
  refreshDeliveries();
  void openFromLink();
  setInterval(refreshThread, 1000);
  setInterval(refreshCall, 1000);
  setInterval(refreshCustomers, 4000);
  setInterval(refreshDeliveries, 2000);
}

wire();
