"""PostgreSQL's pooled connections: pinged at checkout only when their socket has news.

A connection killed by a restart or an outage of the server must be replaced before a
request uses it. SQLAlchemy's ``pool_pre_ping`` does that with a ``SELECT 1`` round trip at
every checkout: on a request of ten statements, one round trip in ten (about 0.35 ms on the
2-core test machine, bench/README.md). But an idle, healthy connection has nothing to read:
PostgreSQL sends nothing unasked between transactions. A server that ends the connection,
whether a restart, ``pg_terminate_backend`` or a proxy cutting it, leaves the socket readable
(an error message, then the end of the stream). So the checkout looks at the socket without
waiting (``poll`` with a zero timeout, a few microseconds) and pings only a connection that
has something to read (which may also be a harmless notice); a ping that fails as a
disconnect makes the pool replace the connection, as ``pool_pre_ping`` would.

What this does not see, pre-ping would only see after its own timeout: a server gone without
closing the connection (a machine powered off, a network cut on the way).
"""

from __future__ import annotations

import select

import sqlalchemy as sa
from sqlalchemy import event


def has_news(dbapi_connection) -> bool:
    """True when the connection's socket has something to read (or cannot be asked)."""
    try:
        fd = dbapi_connection.fileno()
    except Exception:  # noqa: BLE001 - a closed connection: let the ping tell
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def ping_when_told(engine: sa.engine.Engine) -> None:
    """Replace pooled connections whose socket tells of a closed connection (checkout)."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, _record, _proxy):
        if not has_news(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_connection, None):
                # the pool discards this connection and checks out another (3 tries)
                raise sa.exc.DisconnectionError(str(err)) from err
            raise
