/* HallLive: one live connection to a hall over Socket.IO, shared by every page.
 *
 * It joins the hall's rooms, keeps the last `seq` it has applied, and asks for the full
 * board whenever it sees a gap (a lost event), after every reconnect and every few minutes,
 * so a screen left alone for months shows the truth within seconds of its network coming back.
 * It reconnects by itself for ever (1 s to 5 s apart, randomised so a hall full of screens does
 * not knock at once after a server restart), and reports "live" only once a fresh board is in:
 * between a reconnect and that board the page still shows what it had, marked as not live.
 * The server says `feed.status {complete: false}` when it lost the message queue that brings
 * the other server processes' events (Redis down): the page is then marked as not live, though
 * still updated by its own server's events, until `{complete: true}` and a fresh board.
 * A paired device whose key the admin revokes gets `device.revoked` (also on connecting with
 * a key revoked meanwhile): kiosks and screens pass onRevoked to reload, so the server shows
 * the "device stopped" page at once.
 *
 *   const live = HallLive.connect({
 *     hall: "demo", window: 3, ticket: "token",      // window and ticket are optional
 *     onBoard(board) {},                             // full snapshot (on join, gap, resync)
 *     onEvent(name, data) {},                        // ticket.issued|called|updated, window.updated, hall.updated
 *     onStatus(state) {},                            // "live" | "offline" | "connecting"
 *     onRevoked(data) {},                            // this device's key was revoked
 *   });
 */
(function (global) {
  "use strict";
  var EVENTS = ["ticket.issued", "ticket.called", "ticket.updated", "window.updated", "hall.updated"];
  var RESYNC_MS = 5 * 60 * 1000;

  function connect(options) {
    var state = { seq: -1, status: "connecting", lastMessageAt: Date.now(), feed: true };
    var olderBoards = 0;
    var socket = global.io({
      transports: ["websocket", "polling"],
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      timeout: 8000,
    });
    function setStatus(value) {
      state.status = value;
      if (options.onStatus) options.onStatus(value);
    }
    function join() {
      var payload = { hall: options.hall };
      if (options.window != null) payload.window = options.window;
      if (options.ticket) payload.ticket = options.ticket;
      socket.emit("join", payload, function (ack) {
        if (ack && ack.ok === false && options.onError) options.onError(ack);
      });
    }
    function resync() {
      if (socket.connected) socket.emit("sync", { hall: options.hall });
    }
    // connected is not yet live: the page turns live when the board of this connection is in
    socket.on("connect", function () { state.feed = true; join(); });
    socket.on("disconnect", function (reason) {
      setStatus("offline");
      // the client does not retry by itself after a server-side disconnect
      if (reason === "io server disconnect") setTimeout(function () { socket.connect(); }, 1000);
    });
    socket.io.on("reconnect_attempt", function () { setStatus("connecting"); });
    socket.on("board", function (board) {
      // older than what we applied (read before an event that overtook it): ask again; when
      // that keeps happening, once a second rather than in a tight loop
      if (board.seq < state.seq) {
        olderBoards += 1;
        if (olderBoards === 1) resync(); else setTimeout(resync, 1000);
        return;
      }
      olderBoards = 0;
      state.seq = board.seq;
      state.lastMessageAt = Date.now();
      // live as the board is applied, in the same task: no frame shows the old data as live
      if (state.status !== "live" && socket.connected && state.feed) setStatus("live");
      if (options.onBoard) options.onBoard(board);
    });
    socket.on("feed.status", function (data) {
      state.feed = !(data && data.complete === false);
      if (!state.feed) { if (state.status === "live") setStatus("connecting"); }
      else resync();                                  // what it missed is in the board
    });
    EVENTS.forEach(function (name) {
      socket.on(name, function (data) {
        state.lastMessageAt = Date.now();
        if (typeof data.seq !== "number") return;
        if (data.seq <= state.seq) return;            // already in the board we hold
        var gap = state.seq >= 0 && data.seq > state.seq + 1;
        state.seq = data.seq;
        if (options.onEvent) options.onEvent(name, data); // still announce a call we got
        if (gap) resync();                            // then fetch what we missed
      });
    });
    // this device's key was revoked by the admin: a kiosk or screen reloads into the
    // "device stopped" page (onRevoked); other pages have nothing to stop
    socket.on("device.revoked", function (data) {
      if (options.onRevoked) options.onRevoked(data);
    });
    setInterval(resync, RESYNC_MS);
    setStatus("connecting");
    return { socket: socket, state: state, resync: resync };
  }

  global.HallLive = { connect: connect };
})(window);
