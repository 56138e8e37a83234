"""The database goes away and comes back: a real server on PostgreSQL, reached through a TCP
proxy the test can cut. While cut, requests answer a clear 503 and write nothing; once
restored, the very next requests succeed without restarting the app, numbering unbroken."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import _token, _truncate_pg, free_port, open_windows, serving_demo

pytestmark = pytest.mark.timeout(60)

DB_DOWN = {
    "error": "database_unavailable",
    "message": "数据库暂时无法连接，请稍后重试",
    "message_en": "The database is unavailable; try again shortly",
}


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to the database server. `cut()` closes every forwarded
    connection and stops listening (new connections are refused); `restore()` listens again
    on the same port."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.listener: socket.socket | None = None
        self.acceptor: threading.Thread | None = None
        self.stopped = threading.Event()

    def restore(self) -> CuttableProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.stopped = threading.Event()
        self.listener = listener
        self.acceptor = threading.Thread(
            target=self._accept, args=(listener, self.stopped), daemon=True
        )
        self.acceptor.start()
        return self

    def cut(self) -> None:
        with self.lock:
            self.stopped.set()
            if self.listener is not None:
                _close(self.listener)  # shutdown wakes the accepting thread at once
                self.listener = None
            for sock in self.sockets:
                _close(sock)
            self.sockets.clear()
        if self.acceptor is not None:
            self.acceptor.join(5)  # the port is free again only once accept() returned
            self.acceptor = None

    def _accept(self, listener: socket.socket, stopped: threading.Event) -> None:
        while not stopped.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self.lock:
                if stopped.is_set():
                    _close(client)
                    _close(upstream)
                    return
                self.sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.sockets.discard(src)
                self.sockets.discard(dst)
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _numbers(engine) -> list[tuple[int, str]]:
    """(number, status) of every ticket, read directly on PostgreSQL."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT number, status FROM tickets ORDER BY number"))
        return [tuple(row) for row in rows]


@pytest.mark.slow
def test_a_database_outage_answers_503_and_recovers_without_a_restart(pg_database):
    _truncate_pg(pg_database)
    real = sa.engine.make_url(pg_database)
    proxy = CuttableProxy(real.host or "127.0.0.1", real.port or 5432).restore()
    through_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    direct = sa.create_engine(pg_database)
    try:
        with serving_demo(through_proxy) as server:
            app = server.app
            staff = {"Authorization": f"Bearer {_token(app, username='staff1')}"}
            kiosk = {
                "Authorization": f"Bearer {_token(app, device_kind='kiosk', hall_code='demo')}"
            }
            open_windows(app, 4)
            issue = f"{server.url}/api/v1/tickets"
            call = f"{server.url}/api/v1/halls/demo/windows/4/call-next"
            ticket = {"hall": "demo", "queue": "C"}

            first = requests.post(issue, json=ticket, headers=kiosk, timeout=10)
            assert first.status_code == 201 and first.json()["number"] == "C001"
            assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
            before = _numbers(direct)
            assert before == [(1, "waiting")]

            proxy.cut()
            for response in (
                requests.post(issue, json=ticket, headers=kiosk, timeout=10),
                requests.post(call, headers=staff, timeout=10),
            ):
                assert response.status_code == 503
                assert response.json() == DB_DOWN
                assert response.headers["Retry-After"] == "5"
            page = requests.get(f"{server.url}/", timeout=10)
            assert page.status_code == 503 and DB_DOWN["message"] in page.text
            health = requests.get(f"{server.url}/healthz", timeout=10)
            assert health.status_code == 503
            assert health.json()["database"] == "unavailable"
            assert health.json()["reasons"]["database"].startswith("OperationalError")
            assert _numbers(direct) == before  # nothing half-written, nothing called

            proxy.restore()
            second = requests.post(issue, json=ticket, headers=kiosk, timeout=10)
            assert second.status_code == 201, second.text
            assert second.json()["number"] == "C002"
            called = requests.post(call, headers=staff, timeout=10)
            assert called.status_code == 200, called.text
            assert called.json()["ticket"]["number"] == "C001"
            assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
            assert _numbers(direct) == [(1, "called"), (2, "waiting")]

            # a blip between two requests (a database restart): the pooled connections are
            # dead, and the next request still succeeds (they are pinged and replaced)
            proxy.cut()
            proxy.restore()
            third = requests.post(issue, json=ticket, headers=kiosk, timeout=10)
            assert third.status_code == 201, third.text
            assert third.json()["number"] == "C003"
            assert _numbers(direct) == [(1, "called"), (2, "waiting"), (3, "waiting")]
    finally:
        proxy.cut()
        direct.dispose()
