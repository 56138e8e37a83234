"""Benchmark: what one ticket issue costs in-process as the queues grow.

Sets up a throw-away hall (a SQLite file in a temporary HALL_DATA_DIR, `hall demo --no-serve`,
a staff token), then issues tickets through the hall's whole WSGI application, called
directly in this process on one thread (no HTTP server, rate limits off, the WAL checkpoint
thread running as in `hall serve`), round robin over the queues A–G and never calling one,
so every queue grows by --per-block / 7 tickets a block. Each block's CPU time per issue
(`time.process_time`, so other programs on the machine matter less) is printed against the
number waiting per queue, with its ratio to the first block's, the baseline of the run.

What it shows: which part of an issue grows with the queue (the waiting counts) against the
fixed cost of a request. `issue_and_call.py` measures a served hall instead; its issue runs
also leave the queues growing.

    python bench/issue_growth.py [--blocks 12] [--per-block 700]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from issue_and_call import run_hall  # bench/issue_and_call.py, next to this script

QUEUES = "ABCDEFG"


def environ(token: str, queue: str) -> dict:
    body = json.dumps({"hall": "demo", "queue": queue}).encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/tickets",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:5000",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=12, help="blocks of issues (default 12)")
    parser.add_argument("--per-block", type=int, default=700, help="issues per block (default 700)")
    args = parser.parse_args(argv)
    if args.blocks < 1 or args.per_block < len(QUEUES):
        parser.error(f"--blocks must be at least 1 and --per-block at least {len(QUEUES)}")

    folder = Path(tempfile.mkdtemp(prefix="hall-bench-"))
    for key in [k for k in os.environ if k.startswith("HALL_")]:
        del os.environ[key]
    os.environ.update(HALL_DATA_DIR=str(folder), HALL_RATE_LIMITS="0", HALL_SECRET_KEY="b" * 64)
    checkpointer = None
    try:
        env = dict(os.environ)
        run_hall(["demo", "--no-serve"], env)
        token = run_hall(["token", "create", "staff1", "--name", "bench"], env).strip()
        from hall import create_app, wal

        app = create_app()
        checkpointer = wal.start_checkpointer(app)
        answers = []

        def issue(queue: str) -> None:
            chunks = app(environ(token, queue), lambda status, *_: answers.append(status))
            b"".join(chunks)
            status = answers.pop()
            if not status.startswith("201"):
                raise SystemExit(f"bench: an issue was answered {status}")

        for i in range(len(QUEUES) * 20):  # warm up: imports, caches, statements prepared
            issue(QUEUES[i % len(QUEUES)])
        rows, first = [], None
        for block in range(args.blocks):
            waiting = (len(QUEUES) * 20 + block * args.per_block) // len(QUEUES)
            started = time.process_time()
            for i in range(args.per_block):
                issue(QUEUES[i % len(QUEUES)])
            micros = (time.process_time() - started) / args.per_block * 1e6
            first = first or micros
            rows.append((waiting, waiting + args.per_block // len(QUEUES), micros, micros / first))
        print("## hall bench: one issue in-process as the queues grow — SQLite (embedded, WAL)\n")
        print(
            f"{args.blocks} blocks × {args.per_block} issues · Python {platform.python_version()}"
            " · WSGI called directly, one thread, rate limits off, checkpoints running\n"
        )
        print("| waiting per queue | CPU per issue (µs) | to the first block |")
        print("|---|---:|---:|")
        for start, end, micros, ratio in rows:
            print(f"| {start}–{end} | {micros:.0f} | {ratio:.2f} |")
        return 0
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
