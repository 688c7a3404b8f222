// The chatd chat page. It speaks the chatd.v1 subprotocol: JSON envelopes
// whose `from` the server set from the sender's token, presence (who is in
// the room, on every node) and join/leave events. Everything a peer sends is
// rendered with textContent, never as markup.
// Room: /?room=<name> (the default room without it); token: /?token=<JWT>
// for a server started with --auth-jwt-key (the name then comes from it).
// It joins with the room's recent history (?history=) and, after a dropped
// connection, resumes from the last message it showed (?since=epoch:offset).
"use strict";

const $ = (id) => document.getElementById(id);
const ROOM_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const NICK_KEY = "chatd.nick";
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;
const MAX_ITEMS = 500; // older messages are dropped from the list
const HISTORY = 50; // messages asked for when joining a room

let socket = null;
let room = "default";
let delay = FIRST_DELAY_MS;
let attempt = 0;
let timer = null;
let generation = 0; // bumped on every (re)connect; stale callbacks check it
let lost = false; // a connection dropped and has not come back yet
let resuming = false; // this connection asked to resume: its first "resumed" answers that
const token = new URLSearchParams(location.search).get("token") || "";
// The room's members as the server told them: user id -> {name, connections}.
let members = new Map();
let anonymous = 0;
let large = null; // counts only, for a room over the server's presence limit
// The room's last message shown: {epoch, offset}, null before the first one
// (or from a server that does not order messages).
let position = null;

// --- storage (localStorage may be unavailable, e.g. in private modes) ---

function loadNick() {
  try {
    const nick = localStorage.getItem(NICK_KEY);
    if (nick) return nick;
  } catch (_) { /* fall through */ }
  return "guest-" + Math.floor(1000 + Math.random() * 9000);
}

function saveNick(nick) {
  try { localStorage.setItem(NICK_KEY, nick); } catch (_) { /* not remembered */ }
}

// --- rendering ---

function setState(state, text) {
  $("state").dataset.state = state;
  $("state-text").textContent = text;
  $("send-button").disabled = state !== "connected";
}

function clock() {
  const now = new Date();
  const el = document.createElement("time");
  el.dateTime = now.toISOString();
  el.textContent = now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return el;
}

function span(cls, text) {
  const el = document.createElement("span");
  el.className = cls;
  el.textContent = text; // text, never markup
  return el;
}

// Appends one item; keeps the view at the bottom only if it was there already.
function append(kind, parts) {
  const log = $("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const li = document.createElement("li");
  li.className = kind;
  const body = document.createElement("div");
  body.className = "body";
  body.append(...parts);
  li.append(clock(), body);
  log.appendChild(li);
  while (log.childElementCount > MAX_ITEMS) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function memberName(m) {
  return m && typeof m.name === "string" && m.name ? m.name : m && typeof m.user === "string" ? m.user : "?";
}

function renderMembers() {
  const list = $("member-list");
  const items = [];
  if (large) {
    $("member-count").textContent = large.users + " users, " + large.connections + " connections";
  } else {
    const sorted = Array.from(members.entries()).sort((a, b) => memberName(a[1]).localeCompare(memberName(b[1])));
    for (const [user, m] of sorted) {
      const li = document.createElement("li");
      li.dataset.user = user;
      li.append(span("member-name", memberName(m)));
      if (m.name && m.name !== user) li.append(span("member-id", user));
      if (m.connections > 1) li.append(span("member-connections", "×" + m.connections));
      items.push(li);
    }
    $("member-count").textContent = members.size + (members.size === 1 ? " user" : " users");
  }
  list.replaceChildren(...items);
  const anon = large ? large.anonymous : anonymous;
  $("anonymous").textContent = anon ? "+ " + anon + " anonymous" : "";
}

function takePresence(m) {
  members = new Map();
  large = null;
  if (Array.isArray(m.members)) {
    for (const member of m.members) {
      if (member && typeof member.user === "string") members.set(member.user, member);
    }
  } else {
    large = { users: m.users | 0, connections: m.connections | 0, anonymous: m.anonymous | 0 };
  }
  anonymous = m.anonymous | 0;
  renderMembers();
}

function base64Length(text) {
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor(text.length * 3 / 4) - pad);
}

// One chatd.v1 envelope from the server.
function showEnvelope(m) {
  switch (m.type) {
    case "message": return showMessage(m);
    case "presence": return takePresence(m);
    case "join":
      if (!large && typeof m.user === "string") {
        members.set(m.user, { user: m.user, name: m.name, connections: 1 });
        renderMembers();
      }
      return append("presence", [span("text", memberName(m) + " joined")]);
    case "leave":
      if (!large && typeof m.user === "string") {
        members.delete(m.user);
        renderMembers();
      }
      return append("presence", [span("text", memberName(m) + " left")]);
    case "error":
      return append("note", [span("text", "The server refused a message: " + (m.message || m.code))]);
    case "resumed":
      if (!resuming) { // mid-connection: the server's node had lost the room for a while and is filling it in
        if (m.recovered) return append("note", [span("text", "The server lost touch with the room for a while; what it missed follows.")]);
        return append("note", [span("text", "The server lost touch with the room for a while, and some messages could not be recovered; the most recent follow.")]);
      }
      resuming = false;
      if (m.recovered) return append("note", [span("text", "Reconnected; nothing was missed.")]);
      return append("note", [span("text", "Reconnected, but some messages could not be recovered; the most recent follow.")]);
    default:
      return; // a newer server's frame this page does not know
  }
}

// Whether the message was shown already (a resume's history overlaps what
// the page has); otherwise it becomes the position to resume from.
function seenBefore(m) {
  if (typeof m.epoch !== "string" || typeof m.offset !== "number") return false;
  if (position && position.epoch === m.epoch && m.offset <= position.offset) return true;
  position = { epoch: m.epoch, offset: m.offset };
  return false;
}

function showMessage(m) {
  if (seenBefore(m)) return;
  const data = m.data;
  if (m.encoding === "base64" && typeof data === "string") {
    append("note", [span("text", "binary message, " + base64Length(data) + " bytes")]);
    return;
  }
  if (data && typeof data === "object" && typeof data.text === "string") {
    // The name is the server's (from the token); a guest's nick is its own claim.
    const verified = m.from && typeof m.from.user === "string";
    const nick = verified ? memberName(m.from) : typeof data.nick === "string" && data.nick ? data.nick : "guest";
    const who = span(verified ? "nick" : "nick guest", nick);
    if (verified) who.title = "signed in as " + m.from.user;
    append("chat", [who, span("text", data.text)]);
    return;
  }
  // From a client that does not speak chatd.v1, or any other value.
  append("plain", [span("text", typeof data === "string" ? data : JSON.stringify(data))]);
}

function showFrame(data) {
  if (typeof data !== "string") {
    const size = data instanceof ArrayBuffer ? data.byteLength : data.size;
    append("note", [span("text", "binary message, " + size + " bytes")]);
    return;
  }
  let m = null;
  try { m = JSON.parse(data); } catch (_) { /* not an envelope */ }
  if (m && typeof m === "object" && typeof m.type === "string") showEnvelope(m);
  else append("plain", [span("text", data)]);
}

// --- connection ---

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const path = room === "default" ? "/" : "/rooms/" + encodeURIComponent(room);
  const query = new URLSearchParams();
  if (token) query.set("token", token);
  // A resume that cannot be seamless still brings the recent history.
  if (position) query.set("since", position.epoch + ":" + position.offset);
  query.set("history", String(HISTORY));
  return scheme + location.host + path + "?" + query.toString();
}

async function showNode(gen) {
  $("node").textContent = "…";
  try {
    const res = await fetch("/api/info", { cache: "no-store" });
    const info = await res.json();
    if (gen === generation && typeof info.node === "string") $("node").textContent = info.node;
  } catch (_) {
    if (gen === generation) $("node").textContent = "unknown";
  }
}

function connect() {
  clearTimeout(timer);
  timer = null;
  const gen = ++generation;
  attempt += 1;
  setState("connecting", attempt > 1 ? "Connecting… (attempt " + attempt + ")" : "Connecting…");
  resuming = position !== null; // socketUrl() asks for since=
  const ws = new WebSocket(socketUrl(), ["chatd.v1"]);
  ws.binaryType = "arraybuffer";
  socket = ws;
  ws.onopen = () => {
    if (gen !== generation) return;
    delay = FIRST_DELAY_MS;
    attempt = 0;
    setState("connected", "Connected to room " + room);
    members = new Map(); // the server's presence frame comes next
    anonymous = 0;
    large = null;
    renderMembers();
    if (lost && !position) append("note", [span("text", "Reconnected.")]); // else the server's "resumed" says how
    lost = false;
    showNode(gen);
  };
  ws.onmessage = (event) => { if (gen === generation) showFrame(event.data); };
  ws.onclose = (event) => {
    if (gen !== generation) return;
    if (attempt === 0) { // it was open
      append("note", [span("text", position ? "Connection lost; reconnecting, missed messages will follow."
                                            : "Connection lost; messages sent until it is back will be missed.")]);
      lost = true;
    }
    socket = null;
    $("node").textContent = "–";
    if (event.code === 4001) append("note", [span("text", "Your token has expired: open the page with a new one.")]);
    else if (event.code === 4003) append("note", [span("text", "You were removed from this room.")]);
    scheduleReconnect();
  };
}

// Waits `delay` (with ±20% jitter so a restarted node is not hit by every
// page at once), then dials again; the delay doubles up to MAX_DELAY_MS and
// resets once a connection opens.
function scheduleReconnect() {
  const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
  delay = Math.min(delay * 2, MAX_DELAY_MS);
  setState("reconnecting", "Disconnected. Reconnecting in " + (wait / 1000).toFixed(1) + " s");
  timer = setTimeout(connect, wait);
}

function switchRoom(name) {
  room = name;
  const url = new URL(location.href);
  if (name === "default") url.searchParams.delete("room"); else url.searchParams.set("room", name);
  history.replaceState(null, "", url);
  document.title = name === "default" ? "chatd" : name + " · chatd";
  generation += 1; // the old socket's callbacks are now ignored
  if (socket) socket.close(1000);
  socket = null;
  $("log").replaceChildren();
  position = null;
  members = new Map();
  anonymous = 0;
  large = null;
  renderMembers();
  lost = false;
  delay = FIRST_DELAY_MS;
  attempt = 0;
  connect();
}

// --- wiring ---

const nickInput = $("nick");
nickInput.value = loadNick();
nickInput.addEventListener("input", () => { if (nickInput.value.trim()) saveNick(nickInput.value.trim()); });

$("settings").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("room").value.trim();
  if (!ROOM_NAME.test(name)) { $("room").reportValidity(); return; }
  if (name !== room || !socket) switchRoom(name);
  $("text").focus();
});

$("send").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  const nick = nickInput.value.trim() || "guest";
  if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
  // With a token the server says who sent it; a guest's nick travels in the data.
  socket.send(JSON.stringify({ type: "publish", data: token ? { text: text } : { nick: nick, text: text } }));
  $("text").value = "";
  $("text").focus();
});

// Leaving the page (it may stay in the back/forward cache): hang up, so the
// server does not keep broadcasting to a page no one sees; dial again if the
// page is shown from that cache.
window.addEventListener("pagehide", () => {
  generation += 1;
  clearTimeout(timer);
  if (socket) socket.close(1000);
  socket = null;
});
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  delay = FIRST_DELAY_MS;
  attempt = 0;
  connect();
});

const asked = new URLSearchParams(location.search).get("room");
room = asked && ROOM_NAME.test(asked) ? asked : "default";
if (asked !== null && room !== asked) {
  append("note", [span("text", "“" + asked + "” is not a room name (1–64 of A-Z a-z 0-9 . _ -); joined the default room.")]);
}
$("room").value = room;
if (room !== "default") document.title = room + " · chatd";
// Signed in: the token names the user, so there is no nickname to choose.
if (token) $("nick-field").hidden = true;
connect();
