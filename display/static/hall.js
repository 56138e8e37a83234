/* The hall screen (综合屏): the latest call, the calls before it, waiting counts, the notice.
 *
 * A board snapshot replaces the whole state (so after any resync the screen shows the truth);
 * events change it step by step in between. HallLive (live.js) handles reconnects and gaps.
 */
(function (global) {
  "use strict";
  var S = global.HallScreen;
  var doc = global.document;
  var RECENT = 8;                  // like board.RECENT_CALLS: one latest + seven before it

  var state = { serviceDay: null, queues: [], calls: [] };
  var tracker = new S.CallTracker();

  // ------------------------------------------------------------------ rendering

  function renderCalls() {
    var latest = state.calls[0];
    var box = doc.getElementById("latest-call");
    if (latest) {
      S.replaceChildren(box, [
        S.el("div", "latest-number", latest.number),
        S.el("div", "latest-window", S.t("go_to_window", { n: latest.window })),
        S.el("div", "latest-window-name", latest.window_name || ""),
      ]);
    } else {
      S.replaceChildren(box, [S.el("div", "latest-empty", S.t("no_calls"))]);
    }
    S.replaceChildren(
      doc.getElementById("recent-list"),
      state.calls.slice(1).map(function (call) {
        var item = S.el("li");
        item.appendChild(S.el("span", "recent-number", call.number));
        item.appendChild(S.el("span", "recent-window", S.t("window", { n: call.window })));
        return item;
      })
    );
    fitRecent();
  }

  /** Hide the recent calls that do not fit whole (a smaller TV, a zoomed page). */
  function fitRecent() {
    var list = doc.getElementById("recent-list");
    var panel = list.parentNode;
    var bottom = panel.getBoundingClientRect().bottom;
    var stacked = global.getComputedStyle(panel).overflow === "visible";
    Array.prototype.forEach.call(list.children, function (item) {
      item.hidden = false;
    });
    if (stacked) return;
    Array.prototype.forEach.call(list.children, function (item) {
      if (item.getBoundingClientRect().bottom > bottom + 1) item.hidden = true;
    });
  }

  function renderQueues() {
    S.replaceChildren(
      doc.getElementById("queue-list"),
      state.queues.map(function (queue) {
        var item = S.el("li", "queue");
        item.setAttribute("data-prefix", queue.prefix);
        item.appendChild(S.el("span", "queue-prefix", queue.prefix));
        item.appendChild(S.el("span", "queue-name", queue.name));
        item.appendChild(S.el("span", "queue-count", queue.waiting));
        return item;
      })
    );
  }

  // ------------------------------------------------------------------ board and events

  /** The full snapshot: everything shown is rebuilt from it; calls made while this screen
   * was cut off (and never announced) are spoken now. */
  function onBoard(board) {
    tracker.missed(board).forEach(function (call) { global.hallVoice.announce(call); });
    state.serviceDay = board.service_day;
    state.queues = (board.queues || []).map(function (q) {
      return { prefix: q.prefix, name: q.name, waiting: q.waiting };
    });
    state.calls = (board.recent_calls || []).slice(0, RECENT);
    S.setText("hall-name", board.hall.name);
    S.notice(board.hall.notice);
    renderCalls();
    renderQueues();
  }

  function applyWaiting(data) {
    var ticket = data.ticket || {};
    if (!data.waiting || (state.serviceDay && ticket.service_day !== state.serviceDay)) return;
    var unknown = false;
    Object.keys(data.waiting).forEach(function (prefix) {
      var queue = state.queues.filter(function (q) { return q.prefix === prefix; })[0];
      if (queue) queue.waiting = data.waiting[prefix];
      else unknown = true;
    });
    if (unknown && live) live.resync();  // a queue was added: fetch its name with the board
    renderQueues();
  }

  function onEvent(name, data) {
    if (name === "hall.updated") {
      S.notice(data.notice);
      return;
    }
    if (name === "ticket.called") {
      state.calls.unshift({ number: data.number, window: data.window, window_name: data.window_name });
      state.calls = state.calls.slice(0, RECENT);
      renderCalls();
      tracker.heardCall(data);
      global.hallVoice.announce(data);
    }
    applyWaiting(data);
  }

  global.addEventListener("resize", fitRecent);
  if (S.config.voice) global.hallVoice.enable({ button: doc.getElementById("enable-sound") });
  var live = null;
  onBoard(S.config.board);
  live = S.start({ onBoard: onBoard, onEvent: onEvent });
  global.hallScreen = { state: state, live: live };
})(window);
