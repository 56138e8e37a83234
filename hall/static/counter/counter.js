/* The counter working page (窗口工作台): one window, its current ticket, its queues.
 *
 * The page starts from the state the view prepared (#counter-state), keeps it right from the
 * hall's live events (HallLive: board snapshots and ticket/window events) and acts through
 * the JSON API with the session cookie and the X-CSRFToken header.
 * Keys: N call · R recall · X no-show · S start · F finish · T transfer · B return a no-show
 *       · P pause/resume · O sign in · Q sign off. Disabled buttons are not allowed now.
 * F opens the finish panel of outcomes.js (HallOutcomes): an outcome for each matter handled.
 */
(function () {
  "use strict";

  var root = document.getElementById("counter");
  if (!root) return;
  var state = JSON.parse(document.getElementById("counter-state").textContent);
  var T = JSON.parse(document.getElementById("counter-texts").textContent);
  var csrfToken = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var hallCode = root.dataset.hall;
  var windowNumber = parseInt(root.dataset.window, 10);
  var RECENT_MAX = 12;
  var ACTIVE = { called: true, serving: true };
  var KEYS = {
    n: "call", r: "recall", x: "no-show", s: "start", f: "finish",
    t: "transfer", b: "return", p: "pause", o: "open", q: "close",
  };

  var clockOffset = state.now ? Date.parse(state.now) - Date.now() : 0;
  var busy = false;
  var pending = null;             // a key pressed while a request was running: done after it
  var lastActionAt = 0;           // server time (ms) of our last answered request
  var live = null;
  var lastNoShow = null;          // {id, number, returned}
  var returnedIds = {};           // tickets known to have come back once already
  var calledAt = {};              // ticket id → when this page saw it called (or recalled)
  var timeFormat = new Intl.DateTimeFormat("zh-CN", {
    hour: "2-digit", minute: "2-digit", hour12: false, timeZone: state.timezone || undefined,
  });

  var el = function (id) { return document.getElementById(id); };
  var buttons = {};
  Array.prototype.forEach.call(root.querySelectorAll("[data-action]"), function (button) {
    buttons[button.dataset.action] = button;
    button.addEventListener("click", function () { act(button.dataset.action); });
  });
  var dialog = el("transfer-dialog");
  var outcomes = window.HallOutcomes;

  // ------------------------------------------------------------ helpers

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, key) {
      return values && values[key] != null ? String(values[key]) : whole;
    });
  }

  function ticketUrl(id, action) {
    return root.dataset.urlTicket.replace("999999999", String(id)) + (action ? "/" + action : "");
  }

  function queueName(prefix) {
    for (var i = 0; i < state.queues.length; i++) {
      if (state.queues[i].prefix === prefix) return state.queues[i].name;
    }
    return "";
  }

  function isMine() {
    var staff = state.window.staff;
    return !!staff && staff.display_name === state.me.display_name &&
      (staff.job_number || "") === (state.me.job_number || "");
  }

  function elapsed(since) {
    var seconds = Math.max(0, Math.floor((Date.now() + clockOffset - Date.parse(since)) / 1000));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    var mm = (m < 10 ? "0" : "") + m, ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  function say(kind, zh, en) {
    var box = el("messages");
    box.textContent = "";
    box.className = "ct-messages ct-messages-" + kind;
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    var main = document.createElement("p");
    main.textContent = zh;
    box.appendChild(main);
    if (en) {
      var second = document.createElement("p");
      second.lang = "en";
      second.className = "ct-en";
      second.textContent = en;
      box.appendChild(second);
    }
    return box;
  }

  // ------------------------------------------------------------ state changes

  function allowed(action) {
    var status = state.window.status, current = state.current;
    switch (action) {
      case "call": return status === "open" && !current;
      case "recall": case "no-show": case "start": return !!current && current.status === "called";
      case "finish": case "transfer": return !!current && !!ACTIVE[current.status];
      case "pause": return status !== "closed";
      case "open": return status === "closed" || !isMine();
      case "close": return status !== "closed" && !current;
      case "return": return !!lastNoShow && !lastNoShow.returned;
      default: return false;
    }
  }

  function rememberRecent(ticket, calledNow) {
    var list = state.recent, found = -1;
    for (var i = 0; i < list.length; i++) if (list[i].id === ticket.id) found = i;
    if (found >= 0) {
      list[found].status = ticket.status;
      list[found].window = ticket.window;
      if (calledNow) {
        var moved = list.splice(found, 1)[0];
        moved.at = new Date(Date.now() + clockOffset).toISOString();
        list.unshift(moved);
      }
    } else if (calledNow) {
      list.unshift({
        id: ticket.id, number: ticket.number, queue: ticket.queue, status: ticket.status,
        window: ticket.window, returned: false, at: new Date(Date.now() + clockOffset).toISOString(),
      });
      list.length = Math.min(list.length, RECENT_MAX);
    }
  }

  /* A ticket as the API or an event gives it: is it (still) this window's current one? */
  function applyTicket(ticket, action) {
    if (action === "returned") returnedIds[ticket.id] = true;
    var here = ticket.window === windowNumber && ACTIVE[ticket.status];
    if (here) {
      if (state.current && state.current.id === ticket.id && !ticket.last_called_at) {
        ticket.last_called_at = state.current.last_called_at;
      }
      state.current = ticket;
      state.window.current = { id: ticket.id, number: ticket.number, status: ticket.status };
    } else if (state.current && state.current.id === ticket.id) {
      state.current = null;
      state.window.current = null;
      if (dialog.open) dialog.close();  // the ticket has gone: nothing left to transfer
      outcomes.ticketGone(ticket.id);  // nor to record outcomes for
      if (ticket.status === "no_show") {
        lastNoShow = { id: ticket.id, number: ticket.number, returned: !!returnedIds[ticket.id] };
      }
    }
    if (lastNoShow && lastNoShow.id === ticket.id && ticket.status !== "no_show") lastNoShow = null;
    rememberRecent(ticket, false);
  }

  /* The board or a window event says what this window holds; keep details we already have. */
  function applyWindow(win) {
    state.window = win;
    var summary = win.current;
    if (!summary) {
      state.current = null;
      if (dialog.open) dialog.close();
      outcomes.ticketGone(null);
    } else if (!state.current || state.current.id !== summary.id) {
      state.current = {
        id: summary.id, number: summary.number, status: summary.status, queue: summary.queue,
        queue_name: queueName(summary.queue), called_at: summary.called_at,
        started_at: summary.started_at, priority: false, matter_name: null, call_count: null,
      };
      loadDetails(summary.id);
    } else {
      state.current.status = summary.status;
      state.current.started_at = summary.started_at;
    }
  }

  function loadDetails(id) {
    fetch(ticketUrl(id), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (ticket) {
        if (ticket && state.current && state.current.id === ticket.id) {
          applyTicket(ticket);
          render();
        }
      })
      .catch(function () { /* the summary stays; the next event or resync fills it */ });
  }

  function setCounts(waiting) {
    if (!waiting) return;
    state.queues.forEach(function (q) {
      if (waiting[q.prefix] != null) q.waiting = waiting[q.prefix];
    });
  }

  function onBoard(board) {
    // A snapshot taken before our last answered request is older than what we show (the join
    // can race an action): ask for a fresh one instead of stepping back.
    if (board.now && Date.parse(board.now) < lastActionAt && live) {
      lastActionAt = 0;
      live.resync();
      return;
    }
    if (board.now) clockOffset = Date.parse(board.now) - Date.now();
    root.dataset.seq = board.seq;  // the snapshot this page shows (tests wait on it)
    state.queues = board.queues;
    state.windows = board.windows.map(function (w) {
      return { number: w.number, name: w.name, status: w.status };
    });
    board.windows.forEach(function (w) { if (w.number === windowNumber) applyWindow(w); });
    render();
  }

  function onEvent(name, data) {
    if (data.waiting) setCounts(data.waiting);
    if (name === "ticket.called" && data.ticket.window === windowNumber) {
      sawCall(data.ticket);
      applyTicket(data.ticket);
      rememberRecent(data.ticket, true);
    } else if (name === "ticket.called" || name === "ticket.updated") {
      applyTicket(data.ticket, data.action);
    } else if (name === "window.updated") {
      state.windows.forEach(function (w) {
        if (w.number === data.window.number) w.status = data.window.status;
      });
      if (data.window.number === windowNumber) applyWindow(data.window);
    }
    render();
  }

  // ------------------------------------------------------------ drawing

  function render() {
    var w = state.window, c = state.current;
    var pill = el("window-status");
    pill.textContent = T["window_" + w.status];
    pill.className = "ct-pill ct-pill-" + w.status;
    el("window-staff").textContent = w.staff
      ? w.staff.display_name + (w.staff.job_number ? "（" + w.staff.job_number + "）" : "")
      : "—";
    var warning = el("duty-warning");
    if (w.staff && w.status !== "closed" && !isMine()) {
      warning.hidden = false;
      warning.textContent = fmt(T.other_staff, { name: w.staff.display_name });
    } else {
      warning.hidden = true;
    }

    el("current-card").className = "ct-current" + (c ? " ct-current-" + c.status : "");
    el("current-number").textContent = c ? c.number : "—";
    el("current-number").className = "ct-number" + (c ? "" : " ct-number-none");
    var status = el("current-status");
    status.textContent = c ? T["status_" + c.status] : "";
    status.className = "ct-badge ct-badge-" + (c ? c.status : "none");
    el("current-priority").hidden = !(c && c.priority);
    el("current-queue").textContent = c ? c.queue + " " + (c.queue_name || queueName(c.queue)) : "";
    el("current-matter").textContent = c && c.matter_name ? c.matter_name : "";
    el("current-since").textContent = c ? T.since_call : "";
    el("current-calls").textContent = c && c.call_count ? fmt(T.call_count, { count: c.call_count }) : "";
    var idle = el("current-idle");
    idle.hidden = !!c;
    idle.textContent = w.status === "open" ? T.idle : w.status === "paused" ? T.idle_paused : T.idle_closed;
    tick();

    var total = 0;
    Array.prototype.forEach.call(el("waiting").querySelectorAll("li[data-queue]"), function (li) {
      var q = null;
      state.queues.forEach(function (x) { if (x.prefix === li.dataset.queue) q = x; });
      var count = q ? q.waiting : 0;
      total += count;
      li.querySelector("[data-count]").textContent = count;
      li.classList.toggle("ct-has-waiting", count > 0);
    });
    el("waiting-total").textContent = total;

    renderRecent();
    var noshow = el("noshow");
    noshow.hidden = !lastNoShow;
    if (lastNoShow) el("noshow-number").textContent = lastNoShow.number;

    el("pause-label").textContent = w.status === "paused" ? T.resume : T.pause;
    el("open-label").textContent = w.status !== "closed" && !isMine() ? T.take_over : T.sign_in;
    Object.keys(buttons).forEach(function (action) {
      buttons[action].disabled = !allowed(action);
    });
  }

  function renderRecent() {
    var body = el("recent");
    body.textContent = "";
    if (!state.recent.length) {
      var empty = document.createElement("tr");
      empty.className = "ct-empty";
      var cell = document.createElement("td");
      cell.colSpan = 3;
      cell.textContent = T.no_recent;
      empty.appendChild(cell);
      body.appendChild(empty);
      return;
    }
    state.recent.forEach(function (r) {
      var row = document.createElement("tr");
      row.dataset.id = r.id;
      if (state.current && state.current.id === r.id) row.className = "ct-row-current";
      var where = ACTIVE[r.status] && r.window && r.window !== windowNumber
        ? fmt(T.at_window, { n: r.window }) : T["status_" + r.status] || r.status;
      [r.at ? timeFormat.format(new Date(r.at)) : "", r.number, where]
        .forEach(function (text) {
          var td = document.createElement("td");
          td.textContent = text;
          row.appendChild(td);
        });
      body.appendChild(row);
    });
  }

  /* The time of this call: seen here, else last_called_at, else the first call anywhere. */
  function callTime(c) {
    return calledAt[c.id] || c.last_called_at || c.called_at;
  }

  function sawCall(ticket) {
    calledAt[ticket.id] = new Date(Date.now() + clockOffset).toISOString();
  }

  function tick() {
    var c = state.current;
    var since = c && callTime(c);
    el("current-elapsed").textContent = since ? elapsed(since) : "";
  }

  // ------------------------------------------------------------ talking to the API

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken,
      },
      body: JSON.stringify(data || {}),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var err = new Error(body.message_en || "HTTP " + response.status);
          err.body = body;
          err.status = response.status;
          throw err;
        }
        return body;
      });
    });
  }

  function showError(err) {
    if (err && err.body && err.body.message) {
      var box = say("error", err.body.message, err.body.message_en);
      if (err.status === 401) {
        var link = document.createElement("a");
        link.href = root.dataset.urlLogin;
        link.textContent = T.login_again;
        box.appendChild(link);
      }
    } else {
      say("error", T.network_error, "Network error; the action may not have been done. Try again.");
    }
  }

  function run(promise, done) {
    busy = true;
    root.setAttribute("aria-busy", "true");
    return promise
      .then(done)
      .catch(showError)
      .then(function () {
        lastActionAt = Date.now() + clockOffset;
        busy = false;
        root.removeAttribute("aria-busy");
        render();
        var next = pending;
        pending = null;
        if (next && allowed(next)) act(next);  // a second press of a done action: no noise
      });
  }

  function act(action) {
    if (busy) {
      pending = action;  // the screen may already show the result (events come first)
      return;
    }
    if (!allowed(action)) {
      var label = buttons[action].querySelector("span:last-child").textContent;
      say("info", fmt(T.not_now, { action: label }), "Not possible in the current state.");
      return;
    }
    var c = state.current;
    switch (action) {
      case "call":
        return run(post(root.dataset.urlCall, { window: windowNumber }), function (body) {
          if (!body.ticket) return say("info", T.nobody_waiting, "Nobody is waiting.");
          sawCall(body.ticket);
          applyTicket(body.ticket);
          rememberRecent(body.ticket, true);
          outcomes.clearResult();  // the print buttons of the last visit stay until now
          say("ok", fmt(T.called_msg, { number: body.ticket.number }));
        });
      case "finish":
        return outcomes.open(c);
      case "recall": case "no-show": case "start":
        return run(post(ticketUrl(c.id, action), { window: windowNumber }), function (body) {
          var t = body.ticket;
          if (action === "recall") sawCall(t);
          applyTicket(t);
          if (action === "no-show") {
            lastNoShow = { id: t.id, number: t.number, returned: !!returnedIds[t.id] };
          }
          var key = { recall: "recalled_msg", "no-show": "no_show_msg", start: "started_msg" }[action];
          say("ok", fmt(T[key], { number: t.number, count: t.call_count }));
        });
      case "return":
        var back = lastNoShow;
        return run(post(ticketUrl(back.id, "return"), {}), function (body) {
          returnedIds[body.ticket.id] = true;
          applyTicket(body.ticket, "returned");
          lastNoShow = null;
          say("ok", fmt(T.returned_msg, { number: body.ticket.number }));
        });
      case "transfer":
        return openTransfer();
      case "pause":
        var paused = state.window.status === "paused";
        return setStatus(paused ? "open" : "paused", paused ? T.resumed_msg : T.paused_msg);
      case "open":
        return setStatus("open", T.opened_msg);
      case "close":
        if (!window.confirm(T.confirm_close)) return;
        return setStatus("closed", T.closed_msg).then(function () {
          if (state.window.status === "closed") window.location.assign(root.dataset.urlIndex);
        });
    }
  }

  function setStatus(status, message) {
    return run(post(root.dataset.urlStatus, { status: status }), function (body) {
      applyWindow(body.window);
      say("ok", message);
    });
  }

  // ------------------------------------------------------------ transfer dialog (转移)

  function option(container, name, value, key, text) {
    var label = document.createElement("label");
    label.className = "ct-option";
    var input = document.createElement("input");
    input.type = "radio";
    input.name = "target";
    input.value = name + ":" + value;
    if (key) input.dataset.key = key.toLowerCase();
    var kbd = document.createElement("kbd");
    kbd.textContent = key || "·";
    label.appendChild(input);
    label.appendChild(kbd);
    label.appendChild(document.createTextNode(" " + text));
    container.appendChild(label);
    return input;
  }

  function openTransfer() {
    var c = state.current;
    var queues = el("transfer-queues"), windows = el("transfer-windows");
    queues.textContent = "";
    windows.textContent = "";
    el("transfer-error").hidden = true;
    el("transfer-number").textContent = c.number;
    var first = null;
    state.queues.forEach(function (q) {
      if (q.prefix === c.queue) return;
      var input = option(queues, "queue", q.prefix, q.prefix, q.name + " (" + q.waiting + ")");
      first = first || input;
    });
    var any = false;
    state.windows.forEach(function (w) {
      if (w.number === windowNumber || w.status === "closed") return;
      any = true;
      var text = fmt(T.window_n, { n: w.number }) + " " + w.name +
        (w.status === "paused" ? " · " + T.window_paused : "");
      var input = option(windows, "window", w.number, w.number < 10 ? String(w.number) : "", text);
      first = first || input;
    });
    if (!any) {
      var none = document.createElement("p");
      none.className = "ct-muted";
      none.textContent = T.no_windows;
      windows.appendChild(none);
    }
    dialog.showModal();
    if (first) first.focus();
  }

  function submitTransfer() {
    var picked = dialog.querySelector('input[name="target"]:checked');
    var error = el("transfer-error");
    if (!picked) {
      error.textContent = T.pick_target;
      error.hidden = false;
      return;
    }
    if (busy || !state.current) return;
    var parts = picked.value.split(":");
    var data = { window: windowNumber };
    if (parts[0] === "queue") data.to_queue = parts[1];
    else data.to_window = parseInt(parts[1], 10);
    var c = state.current;
    run(post(ticketUrl(c.id, "transfer"), data), function (body) {
      applyTicket(body.ticket, "transferred");
      dialog.close();
      var key = data.to_queue ? "transferred_queue_msg" : "transferred_window_msg";
      say("ok", fmt(T[key], { number: body.ticket.number, target: data.to_queue || data.to_window }));
    }).then(function () {
      if (dialog.open) {
        var lines = el("messages").querySelectorAll("p");
        error.textContent = Array.prototype.map.call(lines, function (p) {
          return p.textContent;
        }).join(" / ");
        error.hidden = false;
      }
    });
  }

  el("transfer-form").addEventListener("submit", function (event) {
    event.preventDefault();
    submitTransfer();
  });
  el("transfer-cancel").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () {
    // focus must not stay on a control of the closed dialog
    if (dialog.contains(document.activeElement)) document.activeElement.blur();
  });
  dialog.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey) return;
    if (event.key === "Enter") {
      event.preventDefault();
      submitTransfer();
      return;
    }
    var match = dialog.querySelector('input[data-key="' + CSS.escape(event.key.toLowerCase()) + '"]');
    if (match) {
      event.preventDefault();
      match.checked = true;
      match.focus();
    }
  });

  // ------------------------------------------------------------ keyboard

  /* Text fields keep their letters; a radio or a button does not stop a shortcut. */
  function isTyping(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") {
      return true;
    }
    return target.tagName === "INPUT" && !/^(radio|checkbox|button|submit|reset)$/.test(target.type);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.repeat) return;
    if (document.querySelector("dialog[open]")) return;  // a dialog has its own keys
    if (isTyping(event.target)) return;
    var action = KEYS[(event.key || "").toLowerCase()];
    if (!action) return;
    event.preventDefault();
    act(action);
  });

  // ------------------------------------------------------------ start

  state.recent.forEach(function (r) { if (r.returned) returnedIds[r.id] = true; });
  var latest = state.recent[0];
  if (latest && latest.status === "no_show" && !state.current) {
    lastNoShow = { id: latest.id, number: latest.number, returned: !!latest.returned };
  }
  outcomes.connect({
    ticketUrl: ticketUrl,
    windowNumber: windowNumber,
    onFinished: function (body) {
      lastActionAt = Date.now() + clockOffset;
      if (body.ticket) applyTicket(body.ticket);
      say("ok", fmt(T.finished_msg, { number: body.ticket ? body.ticket.number : "" }));
      render();
    },
  });
  render();
  setInterval(tick, 1000);

  if (window.HallLive && window.io) {
    live = window.HallLive.connect({
      hall: hallCode,
      window: windowNumber,
      onBoard: onBoard,
      onEvent: onEvent,
      onStatus: function (status) {
        var live = el("live-status");
        live.className = "ct-live ct-live-" + status;
        live.textContent = T[status] || status;
      },
      onError: function (ack) { say("error", ack.message || T.network_error, ack.message_en); },
    });
  }
})();
