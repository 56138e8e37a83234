"""The one place that publishes: emits the events queued by domain workflows, after commit.

With a message queue (``HALL_REDIS_URL``) python-socketio's pub/sub manager delivers every emit
to this process's own clients first and then publishes it to Redis for the other processes; its
listener skips what this process published, so nothing arrives twice. When Redis is down the
publish is logged ("Cannot publish to redis... giving up") and dropped, never raised: this
process's screens still get the call and the API still answers; the other processes' screens
miss the event, see a gap in ``seq`` on the next one and fetch the board (live.js).
``RedisQueue`` shortens how long a listener waits before it subscribes again once Redis is back
(the stock manager doubles its pause up to a minute), bounds connecting to Redis, and tells this
process's clients when their feed is incomplete: ``feed.status`` ``{"complete": false}`` when
the listener loses Redis (live.js marks the page as not live), ``{"complete": true}`` once it
listens again (live.js fetches the board: what it missed meanwhile is in it).
"""

from __future__ import annotations

import logging
import time

import socketio as python_socketio
from sqlalchemy.orm import Session

from hall.domain import tickets
from hall.extensions import socketio

log = logging.getLogger(__name__)

# a listener that lost Redis tries again after 0.5, 1, 2, 2, 2… seconds
LISTEN_RETRY_MAX_S = 2.0


class RedisQueue(python_socketio.RedisManager):
    """The Redis message queue of Socket.IO, back within two seconds of Redis coming back.

    Use it as ``client_manager=RedisQueue(url)`` instead of ``message_queue=url`` (the channel
    stays Flask-SocketIO's, so processes of either kind share events). Options in the URL's
    query string (``?socket_connect_timeout=5``) win over the defaults here.
    """

    def __init__(self, url: str, channel: str = "flask-socketio", **kwargs):
        options = {"socket_connect_timeout": 2, "socket_keepalive": True}
        options.update(kwargs.pop("redis_options", None) or {})
        super().__init__(url, channel=channel, redis_options=options, **kwargs)

    def _redis_listen_with_retries(self):  # pragma: no cover - exercised by tests/test_faults
        retry_sleep = LISTEN_RETRY_MAX_S / 4
        complete = True
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                retry_sleep = LISTEN_RETRY_MAX_S / 4
                if not complete:
                    self._feed_status(complete := True)
                yield from self.pubsub.listen()
            except Exception as exc:  # Redis down, restarted or unreachable: try again soon
                log.warning("Socket.IO queue: cannot receive from Redis (%s), retrying", exc)
            if complete:
                self._feed_status(complete := False)
            time.sleep(retry_sleep)
            retry_sleep = min(retry_sleep * 2, LISTEN_RETRY_MAX_S)

    def _feed_status(self, complete: bool) -> None:
        """Tell this process's own clients (not through Redis) whether they get every event."""
        try:
            self.emit("feed.status", {"complete": complete}, namespace="/", ignore_queue=True)
        except Exception:
            log.exception("could not send feed.status")


def client_manager(redis_url: str | None):
    """The Socket.IO client manager for a Redis URL (None: the in-process default)."""
    return RedisQueue(redis_url) if redis_url else None


def publish(session: Session) -> list[dict]:
    """Emit every event the committed transaction queued, once to the union of its rooms
    (a client in both the hall and the window room receives it once)."""
    events = tickets.take_events(session)
    for event in events:
        try:
            socketio.emit(event["name"], event["data"], to=event["rooms"])
        except Exception:  # never expected (a queue outage is logged, not raised); the call stays
            log.exception("could not publish %s to %s", event["name"], event["rooms"])
    return events


def discard(session: Session) -> None:
    """Forget the events of a transaction that was rolled back."""
    tickets.take_events(session)


def commit_and_publish(session: Session) -> list[dict]:
    """Commit the transaction, then publish what it changed (never before the commit)."""
    try:
        session.commit()
    except Exception:
        discard(session)
        raise
    return publish(session)
