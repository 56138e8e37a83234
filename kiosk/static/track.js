// The phone tracking page: position and estimate kept live; when the ticket is called, the
// window number at once, with a vibration. Joins the hall and ticket rooms through HallLive
// and refetches the ticket's JSON (debounced) on every hall event.

const root = document.getElementById("track");
const T = JSON.parse(document.getElementById("t-text").textContent);
const token = root.dataset.token;
const statusUrl = root.dataset.statusUrl;
const $ = (id) => document.getElementById(id);
const baseTitle = document.title;
const POLL_LIVE_MS = 60000;
const POLL_OFFLINE_MS = 15000;

let ticket = JSON.parse($("t-ticket").textContent);
const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", {
  timeZone: root.dataset.timezone || undefined,
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});
let liveState = "connecting";
let pending = null;
let lastFetch = 0;

function fill(text, n) { return text.replace("{n}", n); }

function alertCall() {
  const panel = $("t-call");
  panel.classList.remove("is-new");
  void panel.offsetWidth; // restart the flash
  panel.classList.add("is-new");
  if (navigator.vibrate) {
    try { navigator.vibrate([500, 200, 500, 200, 500]); } catch (_) { /* not allowed */ }
  }
}

function render(next) {
  const previous = ticket;
  ticket = next;
  const status = ticket.status;
  const statusEl = $("t-status");
  statusEl.dataset.status = status;
  statusEl.textContent = T[status] || status;

  const called = status === "called" && ticket.window != null;
  $("t-call").hidden = !called;
  if (called) {
    $("t-call-text").textContent = fill(T.call, ticket.window);
    $("t-call-name").textContent = ticket.window_name || "";
    const en = fill(T.call_en, ticket.window);
    $("t-call-en").textContent = en === $("t-call-text").textContent ? "" : en;
    document.title = `【${T.title_called}】${ticket.number} → ${ticket.window} · ${baseTitle}`;
  } else {
    document.title = baseTitle;
  }

  $("t-stats").hidden = status !== "waiting";
  if (status === "waiting") {
    if (ticket.waiting_ahead != null) $("t-ahead").textContent = String(ticket.waiting_ahead);
    if (ticket.estimated_wait_minutes != null) $("t-wait").textContent = String(ticket.estimated_wait_minutes);
  }
  $("t-queue").textContent = `${ticket.queue} · ${ticket.queue_name}`;

  const note = $("t-note");
  let text = "";
  note.className = "t-note t-panel";
  if (status === "serving" && ticket.window != null) {
    text = fill(T.serving_note, ticket.window);
    note.classList.add("is-serving");
  } else if (status === "finished") {
    text = T.finished_note;
  } else if (status === "no_show") {
    text = T.no_show_note;
    note.classList.add("is-bad");
  } else if (status === "expired") {
    // still open when its service day ended: closed by the day rollover, no live position
    text = T.expired_note.replace("{day}", ticket.service_day);
    note.classList.add("is-bad");
  } else if (status === "waiting" && ticket.target_window != null) {
    text = fill(T.target_note, ticket.target_window);
  }
  note.textContent = text;
  note.hidden = !text;

  const newCall = called && (previous.status !== "called" || ticket.call_count > previous.call_count);
  if (newCall) alertCall();
  $("t-updated").textContent = timeFormat.format(new Date());
}

async function refetch() {
  pending = null;
  lastFetch = Date.now();
  try {
    const res = await fetch(statusUrl, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!res.ok) return;
    const data = await res.json();
    if (data && data.token === token) render(data);
  } catch (_) { /* offline: the live indicator says so; the next poll retries */ }
}

function schedule() {
  // debounced, with jitter so a hall full of phones does not ask in the same instant
  if (pending) return;
  pending = setTimeout(refetch, 300 + Math.random() * 700);
}

let wasLive = false;

function setLive(state) {
  liveState = state;
  const el = $("t-live");
  el.dataset.state = state;
  el.textContent = T[state] || state;
  // while the connection is lost the figures may be old: dimmed next to the mark, never as if current
  wasLive = wasLive || state === "live";
  $("t-stats").style.opacity = wasLive && state !== "live" ? "0.5" : "";
  if (state === "live") schedule();
}

function connectLive() {
  if (!window.HallLive || !window.io) { setLive("offline"); return; }
  window.HallLive.connect({
    hall: root.dataset.hall,
    ticket: token,
    onBoard: schedule,
    onEvent(name, data) {
      if (name === "ticket.called" && data.ticket && data.ticket.token === token) {
        render({ ...ticket, ...data.ticket }); // the window at once; a new call vibrates
      }
      schedule();
    },
    onStatus: setLive,
  });
}

setInterval(() => {
  const every = liveState === "live" ? POLL_LIVE_MS : POLL_OFFLINE_MS;
  if (document.visibilityState === "visible" && Date.now() - lastFetch >= every) refetch();
}, 5000);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") schedule();
});

render(ticket);
connectLive();
