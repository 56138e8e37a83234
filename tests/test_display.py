"""Hall screen and window screens: pages, the Socket.IO feed they live on, and (with Chromium)
what a person sees and hears: calls spoken once each, the offline mark, the self-healing."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import sqlalchemy as sa

from hall import realtime
from hall.domain import tickets
from hall.extensions import db, socketio
from hall.models import Hall
from tests.conftest import open_windows


def issue_and_call(session, window: int = 1, queue: str = "A"):
    """Issue a ticket and call it at a window, publishing both like the API does."""
    ticket = tickets.issue(session, "demo", queue_prefix=queue)
    realtime.commit_and_publish(session)
    called = tickets.call_next(session, "demo", window)
    realtime.commit_and_publish(session)
    assert called is not None and called.id == ticket.id
    return called


def join(app, client, **payload):
    """A Socket.IO test client that joined the demo hall; returns (client, ack, board)."""
    sio = socketio.test_client(app, flask_test_client=client)
    ack = sio.emit("join", {"hall": "demo", **payload}, callback=True)
    boards = [m["args"][0] for m in sio.get_received() if m["name"] == "board"]
    return sio, ack, boards[-1] if boards else None


def events(sio, name: str) -> list[dict]:
    """The payloads of the events of this name the client received since last asked."""
    return [m["args"][0] for m in sio.get_received() if m["name"] == name]


# ---------------------------------------------------------------- pages


def test_hall_screen_shows_the_hall_and_loads_the_live_client(client, demo):
    response = client.get("/display/demo")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "示范区政务服务中心" in html
    assert "暂无叫号" in html
    assert "综合受理" in html  # queue A in the waiting counts
    assert "欢迎来到政务服务中心" in html  # the notice line
    for script in (
        "/static/vendor/socket.io/socket.io.min.js",
        "/static/js/live.js",
        "/static/display/voice.js",
        "/static/display/hall.js",
    ):
        assert script in html
    assert "http://" not in html and "https://" not in html  # nothing from the internet


def test_hall_screen_first_paint_shows_the_latest_call(app, client, demo, session):
    open_windows(app, 1)
    issue_and_call(session, 1)
    html = client.get("/display/demo").get_data(as_text=True)
    assert '<div class="latest-number">A001</div>' in html
    assert "请到 1 号窗口" in html


def test_window_screen_shows_number_name_and_staff_on_duty(app, client, demo):
    open_windows(app, 1)
    response = client.get("/display/demo/window/1")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 号窗口" in html
    assert "综合受理" in html
    assert "李晓梅" in html and "1001" in html  # display_name and 工号
    assert "等待叫号" in html
    assert "/static/display/window.js" in html


def test_window_screen_shows_the_current_number(app, client, demo, session):
    open_windows(app, 3)
    issue_and_call(session, 3, queue="B")
    html = client.get("/display/demo/window/3").get_data(as_text=True)
    assert '<div class="current-number">B001</div>' in html
    assert "正在呼叫" in html


def test_window_screen_says_paused_or_closed(app, client, demo, session):
    open_windows(app, 2)
    html = client.get("/display/demo/window/3").get_data(as_text=True)
    assert "未开放" in html and "state-closed" in html
    tickets.set_window_status(session, "demo", 2, "paused")
    realtime.commit_and_publish(session)
    html = client.get("/display/demo/window/2").get_data(as_text=True)
    assert "暂停服务" in html and "state-paused" in html


def test_voice_is_on_for_the_hall_screen_and_off_for_window_screens_unless_asked(client, demo):
    assert '"voice": true' in client.get("/display/demo").get_data(as_text=True)
    assert '"voice": false' in client.get("/display/demo?voice=0").get_data(as_text=True)
    assert '"voice": false' in client.get("/display/demo/window/1").get_data(as_text=True)
    assert '"voice": true' in client.get("/display/demo/window/1?voice=1").get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/display/nope", "/display/nope/window/1", "/display/demo/window/99"]
)
def test_unknown_hall_or_window_is_a_404_page(client, demo, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "没有" in response.get_data(as_text=True)


# ---------------------------------------------------------------- Socket.IO


def test_join_answers_the_board_with_its_seq(app, client, demo):
    sio, ack, board = join(app, client)
    assert ack["ok"] is True
    assert board is not None and board["seq"] == ack["seq"]
    assert board["hall"]["name"] == "示范区政务服务中心"
    assert [q["prefix"] for q in board["queues"]][:2] == ["A", "B"]
    assert len(board["windows"]) == 8
    sio.disconnect()


def test_a_call_reaches_the_hall_room_with_the_text_to_speak(app, client, demo, session):
    open_windows(app, 1)
    sio, ack, _ = join(app, client)
    issue_and_call(session, 1)
    received = sio.get_received()
    issued = [m["args"][0] for m in received if m["name"] == "ticket.issued"]
    called = [m["args"][0] for m in received if m["name"] == "ticket.called"]
    assert len(issued) == 1 and len(called) == 1
    call = called[0]
    assert issued[0]["seq"] == ack["seq"] + 1
    assert call["seq"] == issued[0]["seq"] + 1
    assert call["hall"] == "demo"
    assert call["speech"] == "请 A001 号到 1 号窗口办理"
    assert call["utterance"] == "请，A零零一号，到1号窗口办理"
    assert (call["number"], call["window"], call["window_name"]) == ("A001", 1, "综合受理")
    assert call["recall"] is False
    assert call["waiting"]["A"] == 0
    sio.disconnect()


def test_a_recall_is_published_again_as_a_call(app, client, demo, session):
    open_windows(app, 1)
    ticket = issue_and_call(session, 1)
    sio, ack, _ = join(app, client)
    tickets.recall(session, ticket.id)
    realtime.commit_and_publish(session)
    (call,) = events(sio, "ticket.called")
    assert call["recall"] is True and call["seq"] == ack["seq"] + 1
    assert call["speech"] == "请 A001 号到 1 号窗口办理"
    sio.disconnect()


def test_a_window_screen_gets_window_updated_when_its_window_is_paused(app, client, demo, session):
    open_windows(app, 1)
    sio, ack, board = join(app, client, window=1)
    assert ack["ok"] is True and board["windows"][0]["status"] == "open"
    tickets.set_window_status(session, "demo", 1, "paused")
    realtime.commit_and_publish(session)
    (update,) = events(sio, "window.updated")
    assert update["seq"] == ack["seq"] + 1
    assert update["window"]["number"] == 1
    assert update["window"]["status"] == "paused"
    assert update["window"]["staff"] == {"display_name": "李晓梅", "job_number": "1001"}
    sio.disconnect()


def test_finishing_a_ticket_reaches_the_window_screen(app, client, demo, session):
    open_windows(app, 4)
    ticket = issue_and_call(session, 4, queue="C")
    sio, ack, board = join(app, client, window=4)
    assert board["windows"][3]["current"]["number"] == "C001"
    tickets.finish(session, ticket.id)
    realtime.commit_and_publish(session)
    (update,) = events(sio, "ticket.updated")
    assert update["action"] == "finished"
    assert update["ticket"]["id"] == ticket.id and update["ticket"]["status"] == "finished"
    sio.disconnect()


def test_the_notice_reaches_the_hall_screen(app, client, demo, session):
    sio, ack, _ = join(app, client)
    tickets.set_notice(session, "demo", "今日下午 16:00 起暂停受理不动产业务")
    realtime.commit_and_publish(session)
    (update,) = events(sio, "hall.updated")
    assert update == {
        "seq": ack["seq"] + 1,
        "hall": "demo",
        "notice": "今日下午 16:00 起暂停受理不动产业务",
    }
    sio.disconnect()


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "demo",
        42,
        [],
        {},
        {"hall": None},
        {"hall": 7},
        {"hall": "nope"},
        {"hall": "demo", "window": "x"},
        {"hall": "demo", "window": True},
        {"hall": "demo", "window": [1]},
        {"hall": "demo", "window": -1},
    ],
)
def test_join_with_a_bad_payload_answers_ok_false(app, client, demo, payload):
    sio = socketio.test_client(app, flask_test_client=client)
    ack = sio.emit("join", payload, callback=True)
    assert ack["ok"] is False
    assert isinstance(ack["error"], str)
    assert sio.is_connected()
    sync = sio.emit("sync", payload, callback=True)
    if not (isinstance(payload, dict) and payload.get("hall") == "demo"):
        assert sync["ok"] is False
    sio.disconnect()


def test_a_late_joiner_gets_the_board_showing_the_current_call(app, client, demo, session):
    open_windows(app, 1, 2)
    issue_and_call(session, 1)
    issue_and_call(session, 2, queue="C")
    tickets.issue(session, "demo", queue_prefix="A")
    realtime.commit_and_publish(session)
    sio, ack, board = join(app, client, window=2)
    hall_seq = session.scalar(sa.select(Hall.seq).where(Hall.code == "demo"))
    assert board["seq"] == ack["seq"] == hall_seq
    assert [c["number"] for c in board["recent_calls"]] == ["C001", "A001"]
    assert board["recent_calls"][0]["window"] == 2
    current = {w["number"]: (w["current"] or {}).get("number") for w in board["windows"]}
    assert current[1] == "A001" and current[2] == "C001" and current[3] is None
    assert {q["prefix"]: q["waiting"] for q in board["queues"]}["A"] == 1
    sio.disconnect()


def test_sync_sends_the_board_again(app, client, demo):
    sio, ack, _ = join(app, client)
    answer = sio.emit("sync", {"hall": "demo"}, callback=True)
    assert answer == {"ok": True, "seq": ack["seq"]}
    (board,) = events(sio, "board")
    assert board["seq"] == ack["seq"]
    sio.disconnect()


# ---------------------------------------------------------------- in a browser


class Cable:
    """A TCP relay between the browser and the live server that can be cut and mended,
    like the network cable of a screen (every open connection drops when it is cut)."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connected = threading.Event()
        self.connected.set()
        self.pipes: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            if not self.connected.is_set():
                downstream.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                downstream.close()
                continue
            with self.lock:
                self.pipes += [downstream, upstream]
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        self.connected.clear()
        with self.lock:
            pipes, self.pipes = self.pipes, []
        for s in pipes:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def mend(self) -> None:
        self.connected.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def screen(context, width: int, height: int):
    """A page the size of a screen (the browser runs with autoplay allowed, like kiosk mode)."""
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    return page


def _wait(page, expression: str, timeout: float = 15.0):
    page.wait_for_function(expression, timeout=timeout * 1000)


def _call_in_app(app, window: int, queue: str = "A"):
    with app.app_context():
        ticket = issue_and_call(db.session, window, queue)
        return ticket.id, ticket.label


@pytest.mark.browser
def test_browser_hall_screen_shows_and_announces_each_call_once(app, live_server, browser_context):
    open_windows(app, 1, 2)
    page = screen(browser_context, 1920, 1080)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live_server.url}/display/demo")
    _wait(page, "document.body.dataset.status === 'live' && window.hallScreen.live.state.seq >= 0")
    assert page.is_hidden("#enable-sound")  # autoplay allowed, as in kiosk mode
    _call_in_app(app, 1)
    _call_in_app(app, 2, "C")
    _wait(page, "document.querySelector('.latest-number')?.textContent === 'C001'")
    assert "请到 2 号窗口" in page.inner_text("#latest-call")
    assert page.inner_text("#recent-list").split()[0] == "A001"
    _wait(page, "window.hallVoice.history.length === 2")
    history = page.evaluate("window.hallVoice.history")
    assert [h["text"] for h in history] == [
        "请，A零零一号，到1号窗口办理",
        "请，C零零一号，到2号窗口办理",
    ]
    # Chromium here has no Chinese voice: the chime alone, never Chinese in a foreign voice.
    voices = page.evaluate(
        "speechSynthesis.getVoices().filter(v => v.lang.toLowerCase().startsWith('zh')).length"
    )
    assert {h["mode"] for h in history} == ({"voice"} if voices else {"chime"})
    assert errors == []


HOLD_CALLS = """late => {
  // let the page see the next two calls in reverse order, the older one `late` ms later
  const socket = window.hallScreen.live.socket;
  const deliver = socket.onevent.bind(socket);
  const held = [];
  socket.onevent = function (packet) {
    if (packet.data[0] !== "ticket.called" || held.length >= 2) return deliver(packet);
    held.push(packet);
    if (held.length === 2) {
      deliver(held[1]);
      setTimeout(() => deliver(held[0]), late);
    }
  };
}"""


@pytest.mark.browser
@pytest.mark.parametrize("late_ms", [50, 1500])
def test_browser_hall_screen_announces_calls_that_arrive_out_of_order(
    app, live_server, browser_context, late_ms
):
    """Two calls committed at the same moment may reach a screen in the wrong order: each is
    announced once, whether the older one comes before the board is fetched again (50 ms)
    or after it (1.5 s), and the screen ends on the true latest call."""
    open_windows(app, 1, 2)
    page = screen(browser_context, 1920, 1080)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live_server.url}/display/demo")
    _wait(page, "document.body.dataset.status === 'live' && window.hallScreen.live.state.seq >= 0")
    page.evaluate(HOLD_CALLS, late_ms)
    _call_in_app(app, 1)
    _call_in_app(app, 2, "C")
    _wait(page, "window.hallVoice.history.length >= 2")
    page.wait_for_timeout(late_ms + 1500)  # a second announcement would have come by now
    texts = sorted(h["text"] for h in page.evaluate("window.hallVoice.history"))
    assert texts == ["请，A零零一号，到1号窗口办理", "请，C零零一号，到2号窗口办理"]
    _wait(page, "document.querySelector('.latest-number')?.textContent === 'C001'")
    assert errors == []


@pytest.mark.browser
def test_browser_window_screen_follows_its_window_and_stays_silent(
    app, live_server, browser_context
):
    open_windows(app, 1, 3)
    page = screen(browser_context, 1366, 768)
    page.goto(f"{live_server.url}/display/demo/window/3")
    _wait(
        page, "document.body.dataset.status === 'live' && window.windowScreen.live.state.seq >= 0"
    )
    assert "李晓梅" in page.inner_text("#staff")  # open_windows signs staff1 in
    _call_in_app(app, 1)  # another window: not shown here
    ticket_id, label = _call_in_app(app, 3, "B")
    _wait(page, f"document.querySelector('.current-number')?.textContent === '{label}'")
    with app.app_context():
        tickets.set_window_status(db.session, "demo", 3, "paused")
        realtime.commit_and_publish(db.session)
    _wait(page, "document.body.classList.contains('state-paused')")
    assert page.inner_text("#window-main") == "暂停服务"
    with app.app_context():
        tickets.set_window_status(db.session, "demo", 3, "open")
        tickets.finish(db.session, ticket_id)
        realtime.commit_and_publish(db.session)
    _wait(page, "document.querySelector('.current-idle') !== null")
    assert page.evaluate("window.hallVoice.history.length") == 0  # only with ?voice=1


@pytest.mark.browser
def test_browser_screen_marks_a_lost_connection_and_heals_by_itself(
    app, live_server, browser_context
):
    open_windows(app, 1)
    cable = Cable(live_server.port)
    try:
        page = screen(browser_context, 1920, 1080)
        page.goto(f"{cable.url}/display/demo")
        _wait(
            page, "document.body.dataset.status === 'live' && window.hallScreen.live.state.seq >= 0"
        )
        assert page.is_hidden("#status-badge")
        cable.cut()
        _wait(page, "document.body.classList.contains('is-stale')")
        assert page.is_visible("#status-badge")
        assert "连接中断" in page.inner_text("#status-badge")
        _, label = _call_in_app(app, 1)  # called while the screen is cut off
        time.sleep(0.5)
        assert page.query_selector(".latest-number") is None
        cable.mend()
        _wait(page, "!document.body.classList.contains('is-stale')", timeout=20)
        _wait(page, f"document.querySelector('.latest-number')?.textContent === '{label}'")
        assert page.is_hidden("#status-badge")
        # the call it missed is announced once it is back
        _wait(page, "window.hallVoice.history.length === 1")
        assert page.evaluate("window.hallVoice.history[0].text") == "请，A零零一号，到1号窗口办理"
    finally:
        cable.close()


# ---------------------------------------------------------------- voice.js with a fake engine

FAKE_ENGINE = """
(options) => {
  const log = [];
  let speaking = null;
  class Utterance {
    constructor(text) { this.text = text; this.onend = null; this.onerror = null; }
    set voice(v) { if (options.rejectVoice) throw new TypeError("no"); this._voice = v; }
    get voice() { return this._voice; }
  }
  const engine = {
    cancels: 0,
    getVoices: () => options.voices,
    addEventListener() {},
    resume() {},
    cancel() { this.cancels += 1; speaking = null; },
    speak(u) {
      if (!u.text.trim()) return;                      // the unlock primer
      if (speaking) log.push({overlap: u.text});
      speaking = u;
      const entry = {text: u.text, voice: u._voice ? u._voice.name : null, start: Date.now()};
      log.push(entry);
      if (options.stuck) return;                       // never ends: only the timeout helps
      setTimeout(() => { entry.end = Date.now(); speaking = null; u.onend && u.onend(); }, 2000);
    },
  };
  Object.defineProperty(window, "speechSynthesis", {value: engine, configurable: true});
  window.SpeechSynthesisUtterance = Utterance;
  window.fakeSpeech = log;
}
"""

ZH = {"name": "Ting-Ting", "lang": "zh-CN", "localService": True, "voiceURI": "zh"}
HK = {"name": "Sin-ji", "lang": "zh-HK", "localService": True, "voiceURI": "hk"}
EN = {"name": "Samantha", "lang": "en-US", "localService": True, "voiceURI": "en"}


def voice_page(context, **options):
    """A blank page with a fake speech engine and voice.js, on a fake clock."""
    from pathlib import Path

    import display

    page = context.new_page()
    page.clock.install()
    page.set_content("<!doctype html><title>voice</title><button id='sound' hidden></button>")
    page.evaluate(FAKE_ENGINE, {"voices": [], "stuck": False, "rejectVoice": False, **options})
    source = (Path(display.__file__).parent / "static" / "voice.js").read_text(encoding="utf-8")
    page.add_script_tag(content=source)
    page.evaluate("hallVoice.enable({button: document.getElementById('sound')})")
    return page


def announce(page, *texts: str) -> None:
    for text in texts:
        page.evaluate("t => hallVoice.announce({utterance: t, recall: false})", text)


@pytest.mark.browser
def test_voice_says_each_call_twice_and_never_two_at_once(browser_context):
    page = voice_page(browser_context, voices=[EN, HK, ZH])
    announce(page, "请，A零零一号，到1号窗口办理", "请，B零零一号，到3号窗口办理")
    page.clock.run_for(30_000)
    spoken = page.evaluate("window.fakeSpeech")
    assert [s.get("text") for s in spoken] == [
        "请，A零零一号，到1号窗口办理",
        "请，A零零一号，到1号窗口办理",
        "请，B零零一号，到3号窗口办理",
        "请，B零零一号，到3号窗口办理",
    ]
    assert {s["voice"] for s in spoken} == {"Ting-Ting"}  # zh-CN before Cantonese zh-HK
    for before, after in zip(spoken, spoken[1:], strict=False):
        assert after["start"] >= before["end"]  # one voice at a time
    history = page.evaluate("hallVoice.history")
    assert [(h["text"][2:6], h["mode"]) for h in history] == [
        ("A零零一", "voice"),
        ("B零零一", "voice"),
    ]


@pytest.mark.browser
def test_voice_plays_only_the_chime_without_a_chinese_voice(browser_context):
    page = voice_page(browser_context, voices=[EN])
    announce(page, "请，A零零一号，到1号窗口办理")
    page.clock.run_for(10_000)
    assert page.evaluate("window.fakeSpeech") == []  # no Chinese text in an English voice
    assert page.evaluate("hallVoice.history.map(h => h.mode)") == ["chime"]


@pytest.mark.browser
def test_voice_queue_survives_a_stuck_engine_and_a_voice_it_cannot_set(browser_context):
    page = voice_page(browser_context, voices=[ZH], stuck=True, rejectVoice=True)
    announce(page, "请，A零零一号，到1号窗口办理", "请，A零零二号，到2号窗口办理")
    page.clock.run_for(60_000)
    spoken = [s["text"][2:6] for s in page.evaluate("window.fakeSpeech")]
    assert spoken == ["A零零一", "A零零一", "A零零二", "A零零二"]
    assert page.evaluate("speechSynthesis.cancels") >= 4  # each stuck repetition was cut off
    assert page.evaluate("hallVoice.pending") == 0
