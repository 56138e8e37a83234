"""Benchmark: the manager report over one year of one hall with 40 windows (~1.5 M tickets).

Sets up a throw-away database (a SQLite file in a temporary folder, or a fresh PostgreSQL
database with --database-url), migrates it, loads the demo hall and generates its past with
hall.history (--days calendar days ending yesterday, --windows windows; default 365 and 40).
It then measures, for ranges of 1, 3, 6 and 12 months ending on the last generated day:

  report     hall.domain.reports.build(session, hall_id=…, start=…, end=…, group="window")
             (hall.domain.rates.compute(…, group="window") when reports is not there): the
             first call, with the stored daily rollups of the range cleared before it (so it
             includes rolling the range up), then the p50 of --repeat further calls;
  baseline   SELECT count(*) FROM tickets WHERE hall_id = ? AND service_day BETWEEN ? AND ?
             over the same range, in the same run (p50 of --repeat calls).

Target: the 1-year report under 2 s on SQLite, under 1 s on PostgreSQL (shown, not asserted).

    python bench/reports.py                               # SQLite, a year, 40 windows
    python bench/reports.py --days 60 --windows 40        # smaller
    python bench/reports.py --keep                        # keep the generated database
    python bench/reports.py --reuse /tmp/hall-bench-reports-x/hall.sqlite3
    python bench/reports.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from scratch import Postgres  # bench/scratch.py, next to this script

TARGETS = {"sqlite": 2.0, "postgresql": 1.0}  # seconds, the 1-year report
RANGES = (("1 month", 30), ("3 months", 91), ("6 months", 182), ("1 year", 365))
ROLLUP_TABLES = ("report_ticket_stats", "report_periods")  # hall.domain.reports rollups


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def report_function():
    """(name, callable(session, hall_id, start, end)) of the report to time."""
    try:
        from hall.domain import reports

        build = reports.build
    except (ImportError, AttributeError):
        from hall.domain import rates

        def compute(session, hall_id, start, end):
            return rates.compute(session, hall_id=hall_id, start=start, end=end, group="window")

        return "rates.compute(group=window)", compute

    def run(session, hall_id, start, end):
        return build(session, hall_id=hall_id, start=start, end=end, group="window")

    return "reports.build(group=window)", run


def timed(function, *args) -> tuple[float, object]:
    began = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - began, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365, help="calendar days of history (365)")
    parser.add_argument("--windows", type=int, default=40, help="windows of the hall (40)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the history (0)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls after the first (5)")
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    parser.add_argument(
        "--reuse", metavar="PATH", help="a database kept by --keep (SQLite file or URL)"
    )
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="hall-bench-reports-"))
    os.environ["HALL_DATA_DIR"] = str(folder)
    postgres = None
    keep = args.keep
    try:
        if args.reuse:
            reuse = args.reuse
            url = reuse if "://" in reuse else f"sqlite:///{Path(reuse).resolve()}"
            return run(args, url, generate=False)
        postgres = Postgres(args.database_url) if args.database_url else None
        url = postgres.create() if postgres else f"sqlite:///{folder / 'hall.sqlite3'}"
        return run(args, url, generate=True)
    except KeyboardInterrupt:
        log("interrupted")
        keep = False
        return 130
    finally:
        if keep and not args.reuse:
            log(f"kept: --reuse {postgres.url if postgres else folder / 'hall.sqlite3'}")
        else:
            if postgres:
                postgres.drop()
            shutil.rmtree(folder, ignore_errors=True)


def run(args, url: str, *, generate: bool) -> int:
    from flask_migrate import upgrade

    from hall import create_app, history
    from hall import demo as demo_data
    from hall.extensions import db
    from hall.models import Case, Hall, Ticket

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    name, report = report_function()
    with app.app_context():
        session = db.session
        summary = None
        # a database kept by an earlier version of the code is brought up to date too
        upgrade(directory=app.extensions["migrate"].directory)
        if generate:
            hall = demo_data.load(session).hall
            session.commit()
            log(f"generating {args.days} days of history, {args.windows} windows")
            step = max(1, args.days // 20)

            def progress(done: int, total: int, day) -> None:
                if done % step == 0 or done == total:
                    log(f"  {done}/{total} days ({day})")

            summary = history.generate(
                session,
                hall,
                days=args.days,
                windows=args.windows,
                seed=args.seed,
                progress=progress,
            )
            log(
                f"generated {summary['tickets']:,} tickets and {summary['cases']:,} cases in "
                f"{summary['seconds']} s"
            )
        hall = session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        first, last = session.execute(
            sa.select(sa.func.min(Ticket.service_day), sa.func.max(Ticket.service_day)).where(
                Ticket.hall_id == hall.id
            )
        ).one()
        if first is None:
            log("no tickets in the database")
            return 1
        inspector = sa.inspect(session.connection())  # the session holds the SQLite lock
        has_rollup = all(inspector.has_table(t) for t in ROLLUP_TABLES)
        count_tickets = sa.select(sa.func.count()).where(
            Ticket.hall_id == hall.id,
            Ticket.service_day.between(sa.bindparam("start"), sa.bindparam("end")),
        )
        count_cases = sa.select(sa.func.count()).where(
            Case.hall_id == hall.id,
            Case.accepted_on.between(sa.bindparam("start"), sa.bindparam("end")),
        )
        results = []
        for label, days in RANGES:
            start = max(first, last - timedelta(days=days - 1))
            params = {"start": start, "end": last}
            if has_rollup:  # a cold start: the range's rollup is built by the first call
                for rollup_table in ROLLUP_TABLES:
                    session.execute(
                        sa.text(f"DELETE FROM {rollup_table} WHERE hall_id = :hall"),
                        {"hall": hall.id},
                    )
                session.commit()
            cold, _ = timed(report, session, hall.id, start, last)
            session.commit()  # keep the rollup
            warm, base = [], []
            for _ in range(args.repeat):
                seconds, _ = timed(report, session, hall.id, start, last)
                session.commit()
                warm.append(seconds)
                seconds, tickets = timed(session.scalar, count_tickets, params)
                session.commit()
                base.append(seconds)
            cases = session.scalar(count_cases, params)
            results.append((label, start, last, tickets, cases, cold, warm, base))
            log(f"{label}: first {cold:.3f} s, p50 {statistics.median(warm):.3f} s")
    print(table(args, url, name, summary, results))
    return 0


def table(args, url: str, name: str, summary, results) -> str:
    dialect = sa.engine.make_url(url).get_backend_name()
    target = TARGETS.get(dialect, 2.0)
    try:
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    lines = [
        f"Manager report, {name} — {dialect}, Python {platform.python_version()}, "
        f"load average {load}, p50 of {args.repeat} calls after the first",
    ]
    if summary:
        lines.append(
            f"History: {summary['days']} days ({summary['open_days']} open), "
            f"{summary['windows']} windows, {summary['tickets']:,} tickets, "
            f"{summary['cases']:,} cases, generated in {summary['seconds']} s "
            f"({summary['tickets'] / max(summary['seconds'], 0.001):,.0f} tickets/s)"
        )
    lines += [
        "",
        "| range | days | tickets | cases | report, first call (s) | report p50 (s) | "
        "baseline count(*) p50 (s) | report ÷ baseline | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, start, end, tickets, cases, cold, warm, base in results:
        p50, b50 = statistics.median(warm), statistics.median(base)
        ratio = f"{p50 / b50:.1f}×" if b50 else "–"
        goal = ""
        if label == "1 year":
            full = (end - start).days + 1 >= 365
            met = "met" if p50 < target else "NOT met"
            first = "met" if cold < target else "not met"
            goal = f"< {target:g} s: {met} (first call: {first})"
            if not full:
                goal += f"; only {(end - start).days + 1} days generated"
        lines.append(
            f"| {label} | {start} – {end} | {tickets:,} | {cases:,} | {cold:.3f} | {p50:.3f} | "
            f"{b50:.4f} | {ratio} | {goal} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
