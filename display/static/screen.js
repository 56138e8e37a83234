/* HallScreen: what the hall screen and the window screens share.
 *
 * The page's settings and texts come as JSON in #screen-config and #screen-text (rendered
 * by the server, translated by Flask-Babel). Helpers: the clock in the hall's time zone, the
 * connection badge (stale data is dimmed), the one-line notice that scrolls, a daily reload
 * at a quiet hour, and small DOM helpers. Nothing here talks to the server; HallLive does.
 */
(function (global) {
  "use strict";
  var doc = global.document;
  var STALE_GRACE_MS = 2000;       // a blip shorter than this is not worth a red badge
  var RELOAD_HOUR = 3;             // 03:00 hall time: the hall is closed, nobody is looking
  var RELOAD_MIN_UPTIME_MS = 60 * 60 * 1000;
  var RELOAD_RETRY_MS = 60 * 1000;
  var NOTICE_PX_PER_S = 110;       // slow enough to read from ten metres
  var loadedAt = Date.now();

  function json(id) {
    var node = doc.getElementById(id);
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }

  var config = json("screen-config");
  var texts = json("screen-text");

  /** A translated text with %(name)s placeholders filled in. */
  function t(key, vars) {
    var value = texts[key] != null ? String(texts[key]) : key;
    if (vars) {
      Object.keys(vars).forEach(function (name) {
        value = value.split("%(" + name + ")s").join(String(vars[name]));
      });
    }
    return value;
  }

  /** A new element with a class and a text (never HTML: the notice is typed by people). */
  function el(tag, className, text) {
    var node = doc.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  /** Replace every child of a node with the given ones (the board is the whole truth). */
  function replaceChildren(node, children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    children.forEach(function (child) { node.appendChild(child); });
  }

  function setText(id, value) {
    var node = doc.getElementById(id);
    if (node && node.textContent !== String(value)) node.textContent = String(value);
  }

  // ------------------------------------------------------------------ clock

  function formatter(options) {
    var lang = doc.documentElement.lang || "zh-CN";
    try {
      return new Intl.DateTimeFormat(lang, Object.assign({ timeZone: config.timezone }, options));
    } catch (e) {                  // unknown zone in an old browser: the screen's own zone
      return new Intl.DateTimeFormat(lang, options);
    }
  }

  var dateFormat = formatter({ year: "numeric", month: "long", day: "numeric", weekday: "long" });
  var timeFormat = formatter({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  var hourFormat = formatter({ hour: "numeric", hourCycle: "h23" });

  /** The hour (0–23) on the hall's clock now. */
  function hallHour(now) {
    return parseInt(hourFormat.format(now), 10) % 24;
  }

  function tick() {
    var now = new Date();
    setText("clock-date", dateFormat.format(now));
    setText("clock-time", timeFormat.format(now));
    var time = doc.getElementById("clock-time");
    if (time) time.setAttribute("datetime", now.toISOString());
    maybeReload(now);
  }

  // ------------------------------------------------------------------ daily reload

  var reloading = false;
  var nextReloadTry = 0;

  /** Reload once a day at 03:00 (hall time) to shed months of browser memory growth; only
   * when the server answers, so a night-time outage never leaves a browser error page. */
  function maybeReload(now) {
    if (reloading || Date.now() < nextReloadTry) return;
    if (Date.now() - loadedAt < RELOAD_MIN_UPTIME_MS || hallHour(now) !== RELOAD_HOUR) return;
    reloading = true;
    function later() {               // server down: try again in a minute (until 04:00)
      reloading = false;
      nextReloadTry = Date.now() + RELOAD_RETRY_MS;
    }
    fetch(global.location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) global.location.reload();
        else later();
      })
      .catch(later);
  }

  // ------------------------------------------------------------------ connection status

  var staleTimer = null;

  /** Show the red badge and dim the data while the connection is not live. */
  function status(state) {
    var badge = doc.getElementById("status-badge");
    if (state === "live") {
      clearTimeout(staleTimer);
      staleTimer = null;
      doc.body.classList.remove("is-stale");
      doc.body.setAttribute("data-status", "live");
      if (badge) badge.hidden = true;
      return;
    }
    doc.body.setAttribute("data-status", state);
    if (staleTimer || doc.body.classList.contains("is-stale")) return;
    staleTimer = setTimeout(function () {
      staleTimer = null;
      doc.body.classList.add("is-stale");
      if (badge) badge.hidden = false;
    }, STALE_GRACE_MS);
  }

  // ------------------------------------------------------------------ notice line

  var reducedMotion = global.matchMedia && global.matchMedia("(prefers-reduced-motion: reduce)");

  /** Show the admin's notice in one line; it scrolls (the only motion) when it is too long. */
  function notice(text) {
    var bar = doc.getElementById("notice-bar");
    var track = doc.getElementById("notice-track");
    var span = doc.getElementById("notice-text");
    if (!bar || !track || !span) return;
    text = (text || "").trim();
    bar.hidden = !text;
    if (span.textContent !== text) span.textContent = text;
    layoutNotice();
  }

  function layoutNotice() {
    var bar = doc.getElementById("notice-bar");
    var track = doc.getElementById("notice-track");
    var span = doc.getElementById("notice-text");
    if (!bar || bar.hidden || !span) return;
    span.classList.remove("is-scrolling");
    span.style.removeProperty("--notice-from");
    var room = track.clientWidth;
    var width = span.scrollWidth;
    if (width <= room || (reducedMotion && reducedMotion.matches)) {
      bar.classList.toggle("is-wrapping", width > room);
      return;
    }
    bar.classList.remove("is-wrapping");
    span.style.setProperty("--notice-from", room + "px");
    span.style.animationDuration = ((room + width) / NOTICE_PX_PER_S).toFixed(1) + "s";
    void span.offsetWidth;        // restart the animation from the right edge
    span.classList.add("is-scrolling");
  }

  var resizeTimer = null;
  global.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(layoutNotice, 300);
  });

  // ------------------------------------------------------------------ calls missed in a blip

  var DIGITS = "零一二三四五六七八九";
  var MISSED_MAX_AGE_MS = 2 * 60 * 1000;

  /** The spoken form of a call, digits one by one; mirrors hall.domain.board.utterance. */
  function utteranceOf(call) {
    if (call.utterance) return call.utterance;
    var label = String(call.number);
    var letters = label.replace(/[0-9]/g, "");
    var digits = label.replace(/[^0-9]/g, "").replace(/[0-9]/g, function (d) { return DIGITS[d]; });
    return "请，" + letters + digits + "号，到" + call.window + "号窗口办理";
  }

  /** Remembers which calls were announced from events, so that a board arriving after a
   * reconnect or a gap can tell which recent calls this screen never announced. */
  function CallTracker() {
    this.since = null;             // server time of the last board
    this.heard = {};
  }
  CallTracker.prototype.heardCall = function (data) {
    this.heard[data.number + "|" + data.window] = true;
  };
  /** The calls of `board` made after the previous board and not heard, oldest first. */
  CallTracker.prototype.missed = function (board) {
    var since = this.since ? Date.parse(this.since) : NaN;
    var now = Date.parse(board.now);
    var heard = this.heard;
    this.since = board.now;
    this.heard = {};
    if (isNaN(since) || isNaN(now)) return [];
    return (board.recent_calls || []).filter(function (call) {
      var at = Date.parse(call.at);
      return at > since && now - at < MISSED_MAX_AGE_MS && !heard[call.number + "|" + call.window];
    }).reverse().map(function (call) {
      return { number: call.number, window: call.window, utterance: utteranceOf(call), recall: false };
    });
  };

  // ------------------------------------------------------------------ start

  /** Start the clock and the live connection; `handlers` gets onBoard and onEvent. */
  function start(handlers) {
    tick();
    setInterval(tick, 1000);
    layoutNotice();
    var live = global.HallLive.connect({
      hall: config.hall,
      window: config.window,
      onRevoked: function () { global.location.reload(); },
      onBoard: handlers.onBoard,
      onEvent: handlers.onEvent,
      onStatus: status,
      onError: function () { status("offline"); },
    });
    status("connecting");
    return live;
  }

  global.HallScreen = {
    config: config,
    t: t,
    el: el,
    replaceChildren: replaceChildren,
    setText: setText,
    notice: notice,
    status: status,
    start: start,
    CallTracker: CallTracker,
  };
})(window);
