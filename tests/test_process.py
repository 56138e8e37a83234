"""A serving process settles before its first request: pypinyin's dictionaries loaded, and
everything loaded so far frozen out of the garbage collector's full collections."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import dispose, make_app


def test_settle_loads_the_dictionaries_and_freezes_what_is_loaded():
    script = (
        "import gc, sys\n"
        "from hall import create_app, process\n"
        "create_app({'TESTING': True, 'SQLALCHEMY_DATABASE_URI': 'sqlite://'})\n"
        "assert 'pypinyin' not in sys.modules, 'imported at start again'\n"
        "before = gc.get_freeze_count()\n"
        "frozen = process.settle()\n"
        "assert 'pypinyin.phrases_dict' in sys.modules\n"
        "assert frozen == gc.get_freeze_count() > before + 150_000, (before, frozen)\n"
        "assert len(gc.get_objects()) < 5_000\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_serve_starts_the_tasks_and_settles_before_serving(monkeypatch, sqlite_url):
    from flask import Flask

    import hall.cli
    from hall import devices, process, wal
    from hall.domain import rollover

    done = []
    monkeypatch.setattr(rollover, "start_sweeper", lambda app: done.append("sweeper"))
    monkeypatch.setattr(wal, "start_checkpointer", lambda app: done.append("checkpoints"))
    monkeypatch.setattr(devices, "start_revocation_watch", lambda app: done.append("revocations"))
    monkeypatch.setattr(process, "settle", lambda: done.append("settled") or 0)
    monkeypatch.setattr("werkzeug.serving.run_simple", lambda *a, **k: done.append("served"))
    application = make_app(sqlite_url)
    hall.cli._serve(application, "127.0.0.1", 0)
    assert done == ["sweeper", "checkpoints", "revocations", "settled", "served"]
    dispose(application)
    done.clear()
    hall.cli._serve(Flask("bare"), "127.0.0.1", 0)  # the benchmarks' bare app: served only
    assert done == ["served"]
