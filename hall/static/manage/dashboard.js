/* 实时看板: the managers' live dashboard of a hall.
 *
 * Two sources, as on the screens: the board (windows, their current tickets, waiting per
 * queue) comes over Socket.IO through HallLive (live.js) — a snapshot on join, on a gap and
 * after every reconnect, events in between; the slower figures (served today, the oldest
 * waiting tickets, today's rates) come from dashboard.json, fetched again after ticket and
 * window events (at most every few seconds) and every minute.
 *
 * While the connection is down the numbers are dimmed and 「连接中断，正在重连…」 shows; they
 * count as current again only once a fresh board (and fresh figures) arrived. Timers tick
 * on the server's clock (the offset is taken from each board's and figures' `now`).
 */
(function (global) {
  "use strict";
  var doc = global.document;
  var STALE_GRACE_MS = 2000;       // a blip shorter than this is not worth the mark
  var RATE_KEYS = ["on_the_spot_rate", "promised_rate", "strict_rate", "early_rate"];

  function json(id) {
    var node = doc.getElementById(id);
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }

  var config = json("dashboard-config");
  var texts = json("dashboard-text");
  var root = doc.getElementById("dashboard");

  function t(key, vars) {
    var value = texts[key] != null ? String(texts[key]) : key;
    Object.keys(vars || {}).forEach(function (name) {
      value = value.split("%(" + name + ")s").join(String(vars[name]));
    });
    return value;
  }

  function el(tag, className, text) {
    var node = doc.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function replaceChildren(node, children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    children.forEach(function (child) { node.appendChild(child); });
  }

  function setText(id, value) {
    var node = doc.getElementById(id);
    if (node && node.textContent !== String(value)) node.textContent = String(value);
  }

  // ------------------------------------------------------------------ state

  var state = {
    serviceDay: null,
    windows: [],                   // board windows (number, name, status, staff, current)
    queues: [],                    // {prefix, name, waiting}
    figures: null,                 // the last dashboard.json
    offset: 0,                     // server clock − this browser's clock, in ms
    live: false,                   // a board arrived since the last (re)connect
    figuresFresh: false,           // figures fetched since the last (re)connect
  };

  function syncClock(serverNow) {
    var at = Date.parse(serverNow || "");
    if (!isNaN(at)) state.offset = at - Date.now();
  }

  function now() { return Date.now() + state.offset; }

  /** Seconds since an ISO instant as 「m:ss」 or 「h:mm:ss」 (empty without an instant). */
  function elapsed(iso) {
    var from = Date.parse(iso || "");
    if (isNaN(from)) return "";
    var seconds = Math.max(0, Math.floor((now() - from) / 1000));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }

  // ------------------------------------------------------------------ rendering

  function timer(iso, className) {
    var node = el("span", "db-timer" + (className ? " " + className : ""), elapsed(iso));
    if (iso) node.setAttribute("data-since", iso);
    return node;
  }

  function rateCell(rates, key) {
    var cell = el("td", "db-num db-slow");
    if (!rates) { cell.textContent = "—"; return cell; }
    cell.appendChild(el("span", "db-rate-pct", rates.percent[key]));
    if (key === "promised_rate" && rates.open_overdue) {
      cell.appendChild(el("span", "db-overdue", t("open_overdue", { n: rates.open_overdue })));
    }
    return cell;
  }

  function renderWindows() {
    var figures = (state.figures && state.figures.windows) || {};
    var rows = state.windows.map(function (w) {
      var row = el("tr", "db-window db-window-" + w.status);
      row.setAttribute("data-window", w.number);
      var head = el("th", "db-window-name");
      head.setAttribute("scope", "row");
      head.appendChild(el("span", "db-window-number", t("window", { n: w.number })));
      head.appendChild(el("span", "db-window-label", w.name || ""));
      row.appendChild(head);
      var status = el("td");
      status.appendChild(el("span", "db-pill db-pill-" + w.status, t(w.status)));
      row.appendChild(status);
      var staff = el("td", "db-staff");
      if (w.staff) {
        staff.appendChild(el("span", "db-staff-name", w.staff.display_name));
        if (w.staff.job_number) {
          staff.appendChild(el("span", "db-job", t("job_number") + " " + w.staff.job_number));
        }
      } else {
        staff.textContent = "—";
      }
      row.appendChild(staff);
      var current = el("td", "db-current");
      var since = el("td", "db-since");
      if (w.current) {
        current.appendChild(el("span", "db-ticket", w.current.number));
        current.appendChild(el("span", "db-ticket-state db-ticket-" + w.current.status, t(w.current.status)));
        since.appendChild(timer(w.current.started_at || w.current.called_at));
      } else {
        current.appendChild(el("span", "db-idle", w.status === "open" ? t("idle") : "—"));
      }
      row.appendChild(current);
      row.appendChild(since);
      var mine = figures[String(w.number)] || {};
      row.appendChild(el("td", "db-num db-slow db-served", mine.served != null ? mine.served : "—"));
      RATE_KEYS.forEach(function (key) { row.appendChild(rateCell(mine.rates, key)); });
      return row;
    });
    if (!rows.length) {
      var empty = el("tr");
      var cell = el("td", "db-empty", t("no_windows"));
      cell.setAttribute("colspan", "10");
      empty.appendChild(cell);
      rows.push(empty);
    }
    replaceChildren(doc.getElementById("window-rows"), rows);
    var open = state.windows.filter(function (w) { return w.status === "open"; }).length;
    setText("kpi-open", t("open_windows", { a: open, b: state.windows.length }));
  }

  function renderQueues() {
    var oldest = (state.figures && state.figures.oldest_waiting) || {};
    var total = 0;
    replaceChildren(
      doc.getElementById("queue-list"),
      state.queues.map(function (q) {
        total += q.waiting;
        var item = el("li", "db-queue");
        item.setAttribute("data-prefix", q.prefix);
        item.appendChild(el("span", "db-queue-prefix", q.prefix));
        item.appendChild(el("span", "db-queue-name", q.name));
        item.appendChild(el("span", "db-queue-count", q.waiting));
        var wait = el("span", "db-queue-wait db-slow");
        if (q.waiting > 0 && oldest[q.prefix]) wait.appendChild(timer(oldest[q.prefix]));
        else if (q.waiting === 0) wait.textContent = t("no_wait");
        item.appendChild(wait);
        return item;
      })
    );
    setText("kpi-waiting", total);
  }

  function renderFigures() {
    var f = state.figures;
    if (!f) return;
    setText("kpi-served", f.served);
    var longest = doc.getElementById("kpi-longest");
    var anyWaiting = state.queues.some(function (q) { return q.waiting > 0; });
    if (f.longest_wait && anyWaiting) {
      longest.setAttribute("data-since", f.longest_wait.issued_at);
      longest.classList.add("db-timer");
      longest.textContent = elapsed(f.longest_wait.issued_at);
      setText("kpi-longest-ticket", t("longest_ticket", { n: f.longest_wait.number }));
    } else {
      longest.removeAttribute("data-since");
      longest.classList.remove("db-timer");
      longest.textContent = "—";
      setText("kpi-longest-ticket", t("no_wait"));
    }
    RATE_KEYS.forEach(function (key) {
      var rates = f.rates || {};
      var formula = (f.formulas || {})[key] || {};
      setText("rate-name-" + key, formula.name || key);
      setText("formula-" + key, formula.formula || "");
      setText("rate-" + key, rates.percent ? rates.percent[key] : "—");
      var counts = "";
      if (key === "on_the_spot_rate") counts = t("counts", { a: rates.on_the_spot, b: rates.handled });
      else if (key === "promised_rate") {
        counts = t("counts", { a: rates.promised_on_time, b: rates.promised_completed }) +
          " · " + t("open_overdue", { n: rates.open_overdue });
      } else if (key === "strict_rate") {
        counts = t("counts", { a: rates.promised_on_time, b: rates.promised_completed + rates.open_overdue });
      } else if (key === "early_rate") counts = t("counts", { a: rates.early, b: rates.promised_completed });
      setText("rate-counts-" + key, counts);
    });
  }

  function renderAll() {
    renderWindows();
    renderQueues();
    renderFigures();
  }

  /** Move every ticking timer on (once a second); the clock too. */
  function tick() {
    Array.prototype.forEach.call(doc.querySelectorAll("[data-since]"), function (node) {
      var value = elapsed(node.getAttribute("data-since"));
      if (node.textContent !== value) node.textContent = value;
    });
    var time = new Date(now());
    try {
      setText("db-clock", time.toLocaleTimeString(doc.documentElement.lang || "zh-CN", {
        timeZone: config.timezone, hour12: false,
      }));
    } catch (e) {
      setText("db-clock", time.toLocaleTimeString());
    }
  }

  // ------------------------------------------------------------------ freshness

  var staleTimer = null;

  function updateMark() {
    var fresh = state.live && state.figuresFresh;
    if (fresh) {
      clearTimeout(staleTimer);
      staleTimer = null;
      root.classList.remove("is-stale");
      doc.getElementById("db-offline").hidden = true;
      return;
    }
    if (staleTimer || root.classList.contains("is-stale")) return;
    staleTimer = setTimeout(function () {
      staleTimer = null;
      if (state.live && state.figuresFresh) return;
      root.classList.add("is-stale");
      doc.getElementById("db-offline").hidden = false;
    }, STALE_GRACE_MS);
  }

  function onStatus(value) {
    root.setAttribute("data-status", value);
    if (value !== "live") {
      state.live = false;
      state.figuresFresh = false;
    }
    updateMark();
  }

  // ------------------------------------------------------------------ figures

  var lastFetch = 0;
  var pending = null;
  var inFlight = false;
  var again = false;
  var debounceMs = (config.debounce_seconds || 2.5) * 1000;

  function fetchFigures() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    lastFetch = Date.now();
    var asked = state.live;
    fetch(config.figures_url, { cache: "no-store", credentials: "same-origin",
      headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (figures) {
        syncClock(figures.now);
        state.figures = figures;
        state.figuresFresh = asked && state.live;  // read while the board was live
        if (state.serviceDay && figures.service_day !== state.serviceDay && live) live.resync();
        renderAll();
        updateMark();
      })
      .catch(function () {
        state.figuresFresh = false;
        updateMark();
      })
      .then(function () {
        inFlight = false;
        if (again) { again = false; refresh(); }
      });
  }

  /** Fetch the figures soon: now if the last fetch is old enough, else once, later. */
  function refresh() {
    if (pending) return;
    var wait = Math.max(0, lastFetch + debounceMs - Date.now());
    pending = setTimeout(function () { pending = null; fetchFigures(); }, wait);
  }

  // ------------------------------------------------------------------ board and events

  function onBoard(board) {
    syncClock(board.now);
    state.serviceDay = board.service_day;
    state.windows = board.windows || [];
    state.queues = (board.queues || []).map(function (q) {
      return { prefix: q.prefix, name: q.name, waiting: q.waiting };
    });
    if (board.hall && board.hall.name) setText("db-hall-name", board.hall.name);
    var wasLive = state.live;
    state.live = root.getAttribute("data-status") === "live";
    renderAll();
    if (state.live && (!wasLive || !state.figuresFresh)) refresh();
    updateMark();
  }

  function applyTicket(data) {
    var ticket = data.ticket || {};
    if (state.serviceDay && ticket.service_day && ticket.service_day !== state.serviceDay) {
      if (live) live.resync();     // a new day began: start from a fresh board
      return;
    }
    if (data.waiting) {
      var unknown = false;
      Object.keys(data.waiting).forEach(function (prefix) {
        var queue = state.queues.filter(function (q) { return q.prefix === prefix; })[0];
        if (queue) queue.waiting = data.waiting[prefix];
        else unknown = true;
      });
      if (unknown && live) live.resync();
    }
    var active = ticket.status === "called" || ticket.status === "serving";
    state.windows.forEach(function (w) {
      if (w.current && w.current.id === ticket.id && !(active && ticket.window === w.number)) {
        w.current = null;          // finished, no-show, returned or moved elsewhere
      }
      if (active && ticket.window === w.number) {
        w.current = {
          id: ticket.id, number: ticket.number, status: ticket.status, queue: ticket.queue,
          priority: ticket.priority, matter_name: ticket.matter_name,
          call_count: ticket.call_count, called_at: ticket.called_at,
          last_called_at: ticket.last_called_at, started_at: ticket.started_at,
        };
      }
    });
  }

  function onEvent(name, data) {
    if (name === "hall.updated") return;
    if (name === "window.updated" && data.window) {
      var found = false;
      state.windows = state.windows.map(function (w) {
        if (w.number !== data.window.number) return w;
        found = true;
        return data.window;
      });
      if (!found && live) live.resync();
    } else if (name.indexOf("ticket.") === 0) {
      applyTicket(data);
    }
    renderWindows();
    renderQueues();
    renderFigures();
    refresh();
  }

  // ------------------------------------------------------------------ start

  var live = null;
  state.figures = config.figures || null;
  if (config.board) onBoard(config.board);
  if (state.figures) syncClock(state.figures.now);
  renderAll();
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, (config.refresh_seconds || 60) * 1000);
  live = global.HallLive.connect({ hall: config.hall, onBoard: onBoard, onEvent: onEvent, onStatus: onStatus });
  global.hallDashboard = { state: state, live: live, refresh: refresh };
})(window);
