"""WSGI entry for production servers: `gunicorn -w 1 --threads 64 hall.wsgi:app`."""

import os

from hall import create_app, process, wal
from hall.domain import rollover

if not os.environ.get("HALL_SECRET_KEY"):
    raise RuntimeError("HALL_SECRET_KEY must be set in production (未设置 HALL_SECRET_KEY)")

app = create_app()
# the day rollover, every minute, in this worker (HALL_SWEEPER=0: off). Without --preload:
# a task started in gunicorn's master would not survive the fork into the worker.
rollover.start_sweeper(app)
wal.start_checkpointer(app)  # SQLite only: WAL checkpoints off the requests' path
process.settle()  # start-up's objects out of the garbage collector's full walks
