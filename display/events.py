"""Socket.IO handlers: clients join a hall (and a window or ticket) room and get the board."""

from __future__ import annotations

from flask import request
from flask_socketio import SocketIO, emit, join_room

from hall import devices
from hall.domain import board, tickets
from hall.domain.errors import DomainError, Forbidden
from hall.extensions import db


def _snapshot(hall_code: str) -> dict:
    try:
        hall = tickets.get_hall(db.session, hall_code)
        return board.snapshot(db.session, hall)
    finally:
        db.session.remove()


def register(socketio: SocketIO) -> None:
    """Attach the handlers to the Socket.IO server."""

    @socketio.on("connect")
    def on_connect(_auth=None):
        """A paired device's pages listen in its own room, to be told at once when the admin
        revokes it; a device whose key is already revoked or unknown is told on connecting.
        (The pages of a device reload into the "device stopped" page; other pages, such as
        the counter open in a browser that was once paired, ignore it.)"""
        if not request.cookies.get(devices.COOKIE):
            return True
        try:
            key = devices.current_device()
        except DomainError as err:
            emit("device.revoked", {"error": err.code})
            return True
        finally:
            db.session.remove()
        join_room(f"device:{key.id}")
        return True

    @socketio.on("join")
    def on_join(data):
        """Join the rooms of a hall (and optionally a window or a ticket); answer the board."""
        if not isinstance(data, dict) or not isinstance(data.get("hall"), str):
            return {"ok": False, "error": "bad_join", "message": "join 需要 {hall: 编码}"}
        code = data["hall"]
        window = data.get("window")
        if window is not None and (
            isinstance(window, bool)
            or not isinstance(window, int | str)
            or not str(window).isdigit()
        ):
            return {"ok": False, "error": "bad_window", "message": "窗口号应为数字"}
        try:
            hall = tickets.get_hall(db.session, code)
            key = devices.current_device() if request.cookies.get(devices.COOKIE) else None
            if key is not None and key.hall_id != hall.id:  # a paired device: its own hall only
                raise Forbidden(
                    "other_hall",
                    "本机登记在其他大厅，不能用于本大厅",
                    "This device is paired with another hall",
                )
        except DomainError as err:
            db.session.remove()
            return {"ok": False, "error": err.code, "message": err.zh, "message_en": err.en}
        # Join first, then read the board: an event published in between reaches the client
        # (and is dropped by its seq) instead of being lost behind an older snapshot.
        join_room(f"hall:{code}")
        if window is not None:
            join_room(f"window:{code}:{int(window)}")
        token = data.get("ticket")
        if isinstance(token, str) and 0 < len(token) <= 32:
            join_room(f"ticket:{token}")
        snapshot = _snapshot(code)
        emit("board", snapshot)
        return {"ok": True, "seq": snapshot["seq"]}

    @socketio.on("sync")
    def on_sync(data):
        """Send the board again (a client saw a gap in seq)."""
        if not isinstance(data, dict) or not isinstance(data.get("hall"), str):
            return {"ok": False, "error": "bad_sync"}
        try:
            snapshot = _snapshot(data["hall"])
        except DomainError as err:
            return {"ok": False, "error": err.code, "message": err.zh}
        emit("board", snapshot)
        return {"ok": True, "seq": snapshot["seq"]}
