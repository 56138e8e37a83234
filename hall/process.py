"""What a serving process does once, before its first request.

Python's full garbage collections walk every object that is still alive, and no request
thread runs meanwhile. A serving process holds several hundred thousand objects that never
become garbage: its modules, and pypinyin's dictionaries once the guide has been searched
(190,000 objects). With those, a full collection took 120–180 ms. Full collections are rare
in a warm process (none in 3,000 issues in-process), but a long-running server meets them.
So a serving process loads the dictionaries up front and freezes everything loaded so far
(``gc.freeze``): a full collection then walks only what the requests made since (after
settling, 3,000 issues in-process left about a thousand objects to walk).
"""

from __future__ import annotations

import gc


def prepare(app) -> None:
    """Before the first request of a serving process (`hall serve`, `hall demo`, gunicorn's
    worker): its background tasks, the day rollover (HALL_SWEEPER=0: off), SQLite's WAL
    checkpoints (hall.wal) and the look for device keys revoked elsewhere (hall.devices),
    then `settle`."""
    from hall import devices, wal
    from hall.domain import rollover

    rollover.start_sweeper(app)
    wal.start_checkpointer(app)
    devices.start_revocation_watch(app)
    settle()


def settle() -> int:
    """Load what the guide search will need and freeze the process's objects so far out of
    the garbage collector's walks; how many objects were frozen in all."""
    from pypinyin import lazy_pinyin

    lazy_pinyin("办事指南")  # pypinyin loads its dictionaries on first use
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    return gc.get_freeze_count()
