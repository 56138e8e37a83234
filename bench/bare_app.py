"""The baseline of the benchmarks: a bare Flask app with one JSON POST endpoint.

It is served exactly the way `hall serve` serves the hall: through ``hall.cli._serve`` itself
(today werkzeug's ``run_simple(..., threaded=True)``: one thread per connection, a request log
line per request), and with the same Flask-SocketIO middleware (``async_mode="threading"``)
wrapped around the app. The ratio hall/bare then measures what the hall adds (auth, database,
domain, realtime), not the server.

    python bench/bare_app.py --port 5001
"""

from __future__ import annotations

import argparse
import itertools

from flask import Flask, jsonify, request
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app, async_mode="threading")
_ids = itertools.count(1)


@app.get("/ping")
def ping():
    """Readiness probe."""
    return jsonify({"ok": True})


@app.post("/api/v1/tickets")
def issue():
    """Parse the JSON body and answer a small JSON object with 201, like issuing a ticket."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify({"error": "bad_json"}), 400
    return jsonify({"id": next(_ids), "queue": data.get("queue"), "status": "waiting"}), 201


def serve(host: str, port: int) -> None:
    """Serve with the hall's own serving function, so both servers are the same."""
    try:
        from hall.cli import _serve
    except ImportError:  # the hall is not installed: werkzeug threaded, as `hall serve` does
        from werkzeug.serving import run_simple

        def _serve(app, host, port):
            run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)

    _serve(app, host, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args()
    print(f" * bare app (baseline) on http://{args.host}:{args.port}/", flush=True)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
