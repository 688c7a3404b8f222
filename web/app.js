"use strict";
const $ = (id) => document.getElementById(id);
let socket = null;
let retry = 500;

function show(line) {
  const li = document.createElement("li");
  li.textContent = line; // text, never markup
  $("log").appendChild(li);
  li.scrollIntoView();
}

function connect() {
  const room = $("room").value;
  const path = room === "default" ? "/" : "/rooms/" + encodeURIComponent(room);
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + path);
  socket.onopen = () => { retry = 500; $("state").textContent = "connected to " + room; };
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") { show("(binary message)"); return; }
    try {
      const m = JSON.parse(event.data);
      if (m && typeof m.nick === "string" && typeof m.text === "string") { show(m.nick + ": " + m.text); return; }
    } catch (_) { /* not JSON: show as sent */ }
    show(event.data);
  };
  socket.onclose = () => {
    $("state").textContent = "reconnecting in " + retry + " ms";
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
}

$("send").addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket && socket.readyState === WebSocket.OPEN && $("text").value) {
    socket.send(JSON.stringify({ nick: $("nick").value, text: $("text").value }));
    $("text").value = "";
  }
});
$("room").addEventListener("change", () => { if (socket) socket.close(); });
connect();
