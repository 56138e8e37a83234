"""WSGI entry for production servers: `gunicorn -w 1 --threads 64 hall.wsgi:app`."""

import os

from hall import create_app

if not os.environ.get("HALL_SECRET_KEY"):
    raise RuntimeError("HALL_SECRET_KEY must be set in production (未设置 HALL_SECRET_KEY)")

app = create_app()
