/* The window screen (窗口屏): window number and name, staff on duty, the current number, and
 * 暂停服务 / 未开放 when the window is paused or closed.
 *
 * A board snapshot replaces the whole state; window.updated replaces this window's part;
 * ticket.* events move the current number. Speaks the calls of this window only, and only
 * with ?voice=1 (the hall screen speaks by default).
 */
(function (global) {
  "use strict";
  var S = global.HallScreen;
  var doc = global.document;
  var NUMBER = Number(S.config.window);

  var state = { serviceDay: null, window: null, queueNames: {}, waiting: {} };
  var tracker = new S.CallTracker();

  // ------------------------------------------------------------------ rendering

  function render() {
    var w = state.window;
    if (!w) return;
    doc.body.classList.remove("state-open", "state-paused", "state-closed");
    doc.body.classList.add("state-" + w.status);
    S.setText("window-number", S.t("window", { n: w.number }));
    S.setText("window-name", w.name);

    var main = doc.getElementById("window-main");
    if (w.status === "closed") {
      S.replaceChildren(main, [S.el("div", "window-sign", S.t("closed"))]);
    } else if (w.status === "paused") {
      S.replaceChildren(main, [S.el("div", "window-sign", S.t("paused"))]);
    } else if (w.current) {
      S.replaceChildren(main, [
        S.el("div", "current-label", S.t(w.current.status === "serving" ? "serving" : "calling")),
        S.el("div", "current-number", w.current.number),
      ]);
    } else {
      S.replaceChildren(main, [S.el("div", "current-idle", S.t("wait_call"))]);
    }

    var staff = doc.getElementById("staff");
    if (w.staff) {
      S.replaceChildren(staff, [
        S.el("span", "staff-label", S.t("staff")),
        S.el("span", "staff-name", w.staff.display_name),
        S.el("span", "staff-job", S.t("job_number") + " " + (w.staff.job_number || "—")),
      ]);
    } else {
      S.replaceChildren(staff, [S.el("span", "staff-none", S.t("no_staff"))]);
    }

    var names = (w.queues || []).map(function (p) { return state.queueNames[p] || p; });
    var queues = doc.getElementById("window-queues");
    S.replaceChildren(queues, [S.el("span", "staff-label", S.t("queues"))]);
    queues.appendChild(doc.createTextNode(" " + names.join("、")));
    var waiting = (w.queues || []).reduce(function (sum, p) { return sum + (state.waiting[p] || 0); }, 0);
    S.setText("window-waiting", S.t("waiting_people", { n: waiting }));
  }

  // ------------------------------------------------------------------ board and events

  /** The full snapshot: this window's state is rebuilt from it; a call of this window made
   * while the screen was cut off is spoken now. */
  function onBoard(board) {
    tracker.missed(board).forEach(function (call) {
      if (call.window === NUMBER) global.hallVoice.announce(call);
    });
    state.serviceDay = board.service_day;
    state.queueNames = {};
    state.waiting = {};
    (board.queues || []).forEach(function (q) {
      state.queueNames[q.prefix] = q.name;
      state.waiting[q.prefix] = q.waiting;
    });
    state.window = (board.windows || []).filter(function (w) { return w.number === NUMBER; })[0] || null;
    S.setText("hall-name", board.hall.name);
    render();
  }

  function onTicket(name, data) {
    var ticket = data.ticket || {};
    var w = state.window;
    if (data.waiting && (!state.serviceDay || ticket.service_day === state.serviceDay)) {
      Object.keys(data.waiting).forEach(function (p) { state.waiting[p] = data.waiting[p]; });
    }
    if (!w) return;
    var here = ticket.window === NUMBER && (ticket.status === "called" || ticket.status === "serving");
    if (here) {
      w.current = { id: ticket.id, number: ticket.number, status: ticket.status, queue: ticket.queue };
    } else if (w.current && w.current.id === ticket.id) {
      w.current = null;            // finished, no-show or transferred away
    }
    if (name === "ticket.called" && data.window === NUMBER) {
      tracker.heardCall(data);
      global.hallVoice.announce(data);
    }
  }

  function onEvent(name, data) {
    if (name === "window.updated") {
      if (data.window && data.window.number === NUMBER) state.window = data.window;
    } else if (name.indexOf("ticket.") === 0) {
      onTicket(name, data);
    } else {
      return;
    }
    render();
  }

  if (S.config.voice) global.hallVoice.enable({ button: doc.getElementById("enable-sound") });
  onBoard(S.config.board);
  var live = S.start({ onBoard: onBoard, onEvent: onEvent });
  global.windowScreen = { state: state, live: live };
})(window);
