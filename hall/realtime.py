"""The one place that publishes: emits the events queued by domain workflows, after commit."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from hall.domain import tickets
from hall.extensions import socketio

log = logging.getLogger(__name__)


def publish(session: Session) -> list[dict]:
    """Emit every event the committed transaction queued, once to the union of its rooms
    (a client in both the hall and the window room receives it once)."""
    events = tickets.take_events(session)
    for event in events:
        try:
            socketio.emit(event["name"], event["data"], to=event["rooms"])
        except Exception:  # a broken message queue must not undo a committed call
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
