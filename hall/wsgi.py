"""WSGI entry for production servers: `gunicorn -w 1 --threads 64 hall.wsgi:app`."""

import os

from hall import create_app, process

if not os.environ.get("HALL_SECRET_KEY"):
    raise RuntimeError("HALL_SECRET_KEY must be set in production (未设置 HALL_SECRET_KEY)")

app = create_app()
# this worker's background tasks (hall.process.prepare), then a settled heap. Without
# --preload: a task started in gunicorn's master would not survive the fork into the worker.
process.prepare(app)
