// The touch kiosk (取号机): department → matter → ticket, or a queue directly; 绿色通道 toggle;
// the service guide (guide.js); live waiting counts; back to the start screen after
// HALL_KIOSK_IDLE_SECONDS without a touch, from every screen.

import { initGuide } from "./guide.js";

const root = document.getElementById("kiosk");
const T = JSON.parse(document.getElementById("k-text").textContent);
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const hall = root.dataset.hall;
const issueUrl = root.dataset.issueUrl;
const homeUrl = root.dataset.homeUrl;
const resetUrl = root.dataset.resetUrl; // back in Chinese (the language is kept in a cookie)
const idleSeconds = Math.max(5, parseInt(root.dataset.idleSeconds, 10) || 30);
const loadedAt = Date.now();
const RELOAD_AFTER_MS = 6 * 60 * 60 * 1000; // pick up catalogue changes when idle
const REQUEST_TIMEOUT_MS = 15000;
// the last seconds before the idle reset are announced on screens people read (guide, lists)
const IDLE_NOTE_SECONDS = Math.min(10, Math.floor(idleSeconds / 2));

const $ = (id) => document.getElementById(id);
const screens = new Map(
  [...document.querySelectorAll("[data-screen]")].map((el) => [el.dataset.screen, el]),
);
const backButton = $("k-back");
const greenButton = $("k-green");
const footer = document.querySelector(".k-foot");
const main = $("k-main");

let current = "start";
let history = [];
let green = false;
let busy = false;
let lastTouch = Date.now();
let reloadOnErrorClose = false;

// ---------------------------------------------------------------- screens

function show(name, { remember = true } = {}) {
  if (!screens.has(name)) return;
  if (remember && name !== current) history.push(current);
  screens.forEach((el, key) => { el.hidden = key !== name; });
  current = name;
  backButton.hidden = name === "start" || name === "result";
  footer.hidden = name === "result";
  main.scrollTop = 0;
  const heading = screens.get(name).querySelector("h1");
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

function back() {
  show(history.pop() || "start", { remember: false });
}

function setGreen(on) {
  green = on;
  greenButton.setAttribute("aria-pressed", String(on));
  $("k-green-state").textContent = on ? T.green_on : T.green_off;
  $("k-green-banner").hidden = !on;
  root.classList.toggle("is-green", on);
}

function reset() {
  closeError();
  closeSlip();
  setGreen(false);
  guide.reset();
  history = [];
  show("start", { remember: false });
  // opened on a matter's own address: the start screen's address is the one to reload
  if (location.pathname !== new URL(homeUrl, location.href).pathname) {
    window.history.replaceState(null, "", homeUrl);
  }
  if (document.documentElement.lang === "en") { location.replace(resetUrl); return; }
  maybeReload();
}

async function maybeReload() {
  if (Date.now() - loadedAt < RELOAD_AFTER_MS) return;
  try {
    const res = await fetch(homeUrl, { method: "HEAD", cache: "no-store" });
    if (res.ok) location.reload();   // only when the server answers: never a dead error page
  } catch (_) { /* stay on the page we have */ }
}

// ---------------------------------------------------------------- idle timer

function touched() { lastTouch = Date.now(); }
["pointerdown", "touchstart", "click", "keydown"].forEach((type) =>
  document.addEventListener(type, touched, { capture: true, passive: true }),
);

function tick() {
  const left = Math.ceil(idleSeconds - (Date.now() - lastTouch) / 1000);
  const countdown = $("r-countdown");
  countdown.textContent = current === "result" && left > 0 ? T.countdown.replace("{n}", left) : "";
  const atStart = current === "start" && !green && $("k-error").hidden && $("k-slip").hidden
    && document.documentElement.lang !== "en";
  const note = $("k-idle-note");
  const warn = !atStart && current !== "result" && !busy && left > 0 && left <= IDLE_NOTE_SECONDS;
  note.textContent = warn ? T.idle_note.replace("{n}", left) : "";
  note.hidden = !warn;
  if (left <= 0 && !busy && !atStart) reset();
  updateClock();
}

// ---------------------------------------------------------------- clock and live counts

const clockFormat = new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", {
  timeZone: root.dataset.timezone || undefined,
  month: "long", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit",
  hour12: false,
});
function updateClock() { $("k-clock").textContent = clockFormat.format(new Date()); }

function setWaiting(counts) {
  for (const [prefix, count] of Object.entries(counts || {})) {
    document.querySelectorAll(`[data-waiting="${CSS.escape(prefix)}"]`).forEach((el) => {
      el.textContent = String(count);
    });
  }
}

function setLive(state) {
  const el = $("k-live");
  el.dataset.state = state;
  el.textContent = T[state] || state;
  root.classList.toggle("k-stale", state !== "live");
}

function connectLive() {
  if (!window.HallLive || !window.io) { setLive("offline"); return; }
  window.HallLive.connect({
    hall,
    onRevoked() { location.reload(); },  // the admin stopped this kiosk: show why, at once
    onBoard(board) {
      const counts = {};
      (board.queues || []).forEach((q) => { counts[q.prefix] = q.waiting; });
      setWaiting(counts);
    },
    onEvent(_name, data) { if (data.waiting) setWaiting(data.waiting); },
    onStatus: setLive,
  });
}

// ---------------------------------------------------------------- taking a ticket

function showError(zh, en, { reload = false } = {}) {
  $("k-error-zh").textContent = zh;
  const enLine = $("k-error-en");
  enLine.textContent = en && en !== zh ? en : "";
  enLine.hidden = !enLine.textContent;
  reloadOnErrorClose = reload;
  $("k-error").hidden = false;
  $("k-error-ok").focus();
}

function closeError() {
  $("k-error").hidden = true;
  if (reloadOnErrorClose) location.reload();
}

function showResult(ticket) {
  $("r-number").textContent = ticket.number;
  $("r-priority").hidden = !ticket.priority;
  $("r-queue").textContent = `${ticket.queue} · ${ticket.queue_name}`;
  $("r-matter").textContent = ticket.matter_name || "";
  $("r-matter").hidden = !ticket.matter_name;
  $("r-ahead").textContent = String(ticket.waiting_ahead);
  $("r-wait").textContent = String(ticket.estimated_wait_minutes);
  $("r-qr").innerHTML = ticket.qr_svg || ""; // an SVG our own server drew
  $("r-print").href = ticket.slip_url;
  setGreen(false);
  history = [];
  show("result", { remember: false });
  touched();
  tick();
}

const DEVICE_ERRORS = new Set(["device_revoked", "bad_device_key", "device_required"]);

async function take(body) {
  if (busy) return;
  busy = true;
  $("k-busy").hidden = false;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const res = await fetch(issueUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken,
      },
      body: JSON.stringify({ ...body, priority: green }),
      signal: controller.signal,
    });
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (res.ok && data && data.number) {
      showResult(data);
    } else if (data && DEVICE_ERRORS.has(data.error)) {
      location.reload();  // a stopped or unpaired kiosk: the page that says so and why
    } else if (data && data.message) {
      showError(data.message, data.message_en, { reload: data.error === "csrf" });
    } else {
      showError(T.error_unknown, `${T.error_unknown_en} (HTTP ${res.status})`);
    }
  } catch (_) {
    showError(T.error_network, T.error_network_en);
  } finally {
    clearTimeout(timer);
    busy = false;
    $("k-busy").hidden = true;
    touched();
  }
}

// ---------------------------------------------------------------- the slip

// The slip opens over the kiosk page (never in a tab without a way back) and is sent to the
// printer; with Chromium's --kiosk-printing it prints without a dialog.
function printSlip() {
  const frame = $("k-slip-frame");
  try {
    frame.contentWindow.focus();
    frame.contentWindow.print();
  } catch (_) {
    window.open(frame.src, "_blank", "noopener");
  }
}

function openSlip(url) {
  const frame = $("k-slip-frame");
  frame.onload = () => { if (!$("k-slip").hidden) printSlip(); };
  frame.src = url;
  $("k-slip").hidden = false;
  $("k-slip-close").focus();
}

function closeSlip() {
  $("k-slip").hidden = true;
  $("k-slip-frame").onload = null;  // the next slip replaces this one
}

// ---------------------------------------------------------------- wiring

document.addEventListener("click", (event) => {
  const target = event.target.closest("button[data-go], button[data-matter], button[data-queue]");
  if (!target) return;
  if (target.dataset.go) show(target.dataset.go);
  else if (target.dataset.matter) take({ matter: target.dataset.matter });
  else if (target.dataset.queue) take({ queue: target.dataset.queue });
});
backButton.addEventListener("click", back);
greenButton.addEventListener("click", () => setGreen(!green));
$("r-done").addEventListener("click", reset);
$("k-error-ok").addEventListener("click", closeError);
$("r-print").addEventListener("click", (event) => {
  event.preventDefault();  // without script the link still opens the PDF
  openSlip($("r-print").href);
});
$("k-slip-print").addEventListener("click", printSlip);
$("k-slip-close").addEventListener("click", closeSlip);
document.addEventListener("contextmenu", (event) => event.preventDefault()); // long press

const guide = initGuide({ root, show, T });

// a matter's own address (/kiosk/<hall>/guide/matters/<code>) opens on its guide screen
const initial = root.dataset.initialScreen;
if (initial && screens.has(initial)) {
  history = screens.has("guide") ? ["start", "guide"] : ["start"];
  show(initial, { remember: false });
}

setGreen(false);
updateClock();
setInterval(tick, 1000);
connectLive();
