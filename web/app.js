// The chatd chat page. Everything a peer sends is rendered with textContent,
// never as markup. Room: /?room=<name> (the default room without it).
"use strict";

const $ = (id) => document.getElementById(id);
const ROOM_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const NICK_KEY = "chatd.nick";
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;
const MAX_ITEMS = 500; // older messages are dropped from the list

let socket = null;
let room = "default";
let delay = FIRST_DELAY_MS;
let attempt = 0;
let timer = null;
let generation = 0; // bumped on every (re)connect; stale callbacks check it
let lost = false; // a connection dropped and has not come back yet

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

function showFrame(data) {
  if (typeof data !== "string") {
    const size = data instanceof ArrayBuffer ? data.byteLength : data.size;
    append("note", [span("text", "binary message, " + size + " bytes")]);
    return;
  }
  let m = null;
  try { m = JSON.parse(data); } catch (_) { /* not JSON: shown as sent */ }
  if (m && typeof m === "object" && typeof m.nick === "string" && typeof m.text === "string") {
    append("chat", [span("nick", m.nick), span("text", m.text)]);
  } else {
    append("plain", [span("text", data)]);
  }
}

// --- connection ---

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const path = room === "default" ? "/" : "/rooms/" + encodeURIComponent(room);
  return scheme + location.host + path;
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
  const ws = new WebSocket(socketUrl());
  ws.binaryType = "arraybuffer";
  socket = ws;
  ws.onopen = () => {
    if (gen !== generation) return;
    delay = FIRST_DELAY_MS;
    attempt = 0;
    setState("connected", "Connected to room " + room);
    if (lost) append("note", [span("text", "Reconnected.")]);
    lost = false;
    showNode(gen);
  };
  ws.onmessage = (event) => { if (gen === generation) showFrame(event.data); };
  ws.onclose = () => {
    if (gen !== generation) return;
    if (attempt === 0) { // it was open
      append("note", [span("text", "Connection lost; messages sent until it is back will be missed.")]);
      lost = true;
    }
    socket = null;
    $("node").textContent = "–";
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
  socket.send(JSON.stringify({ nick: nick, text: text }));
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
connect();
