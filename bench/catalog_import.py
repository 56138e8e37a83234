"""Benchmark: importing a 2,000-row matter list (事项清单) from .xlsx, and importing it again.

Sets up a throw-away database (a SQLite file in a temporary folder, or a fresh PostgreSQL
database with --database-url), migrates it and loads the demo hall for its departments and
queues. It then writes a matter list of --rows rows (default 2,000) with a full guide each
(5 materials, 2 questions, a 4-step process, legal basis…) and measures, in this process and
in the same run:

  baseline       openpyxl alone reading that file (read-only mode, every cell's value): the
                 least any .xlsx import has to spend;
  import         reading, checking every row and writing 2,000 new matters (one commit);
  re-import      the same file again: every row checked and compared, nothing written;
  update         a file in which every row changes (name and materials): 2,000 updates;
  export         the whole catalogue written back to .xlsx.

Each measure runs --repeat times (the new matters are deleted before each import, not
timed); the table shows the median and the fastest run. Target: import under 10 s. Counts
are checked while measuring; a wrong count makes the exit status 1.

    python bench/catalog_import.py [--rows 2000] [--repeat 3]
    python bench/catalog_import.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from scratch import Postgres  # bench/scratch.py, next to this script

TARGET_SECONDS = 10.0
PREFIX = "BENCH-"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def matter_rows(count: int, departments: list[str], queues: list[str], edition: int) -> list:
    """Rows of a realistic matter list; `edition` changes every row's name and materials."""
    from hall.domain import catalog_io

    kinds = ["即办件", "承诺件", "联办件", "上报件"]
    rows = []
    for n in range(count):
        materials = "\n".join(
            f"材料{m + 1}（第{edition}版）｜{'必要' if m % 3 else '非必要'}｜"
            f"{['原件', '复印件', '原件及复印件', '电子材料'][m % 4]}｜{1 + m % 2}｜"
            f"{'加盖公章' if m % 2 else ''}"
            for m in range(5)
        )
        kind = kinds[n % 4]
        values = {
            "事项编码": f"{PREFIX}{n:05d}",
            "事项名称": f"测试事项{n}（第{edition}版）：{'居民身份证申领' if n % 2 else '社会保障卡补领'}",
            "实施部门": departments[n % len(departments)],
            "办件类型": kind,
            "承诺时限": 0 if kind == "即办件" else 5 + n % 10,
            "承诺时限单位": "工作日",
            "法定时限": 0 if kind == "即办件" else 20,
            "法定时限单位": "工作日",
            "设定依据": "《中华人民共和国行政许可法》第三十条；《优化营商环境条例》第三十五条。"
            * 2,
            "受理条件": "1. 本区户籍居民或持有本区居住证的人员；\n2. 材料齐全、符合法定形式。",
            "办理流程": "取号\n窗口受理\n审核\n办结送达",
            "收费标准": "不收费",
            "收费依据": "",
            "办理地点": "区政务服务中心一楼综合受理窗口",
            "办理时间": "周一至周五 9:00-12:00，13:30-17:00（法定节假日除外）",
            "咨询电话": f"0571-8800{n % 10000:04d}",
            "投诉渠道": "12345 政务服务便民热线",
            "办理结果": "证照或批准文书",
            "到现场次数": n % 3,
            "网上办理": "是" if n % 2 else "否",
            "预约办理": "否" if n % 3 else "是",
            "常见问题": "问：可以代办吗？\n答：可以，代办人须携带委托书和双方身份证件。\n"
            "问：多久可以拿到结果？\n答：承诺时限内办结，办结后短信通知。",
            "申请材料": materials,
            "排队业务": queues[n % len(queues)],
            "排序": n,
            "状态": "在用",
        }
        rows.append([values[c.header] for c in catalog_io.COLUMNS])
    return rows


def write_xlsx(rows: list) -> bytes:
    """The matter list as an .xlsx, the way a spreadsheet program writes it."""
    from openpyxl import Workbook

    from hall.domain import catalog_io

    book = Workbook()
    sheet = book.active
    sheet.title = catalog_io.DATA_SHEET
    sheet.append([c.header for c in catalog_io.COLUMNS])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def openpyxl_read(data: bytes) -> int:
    """The baseline: openpyxl reading every cell value of the file (read-only mode)."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    cells = 0
    for row in book.worksheets[0].iter_rows(values_only=True):
        cells += len(row)
    book.close()
    return cells


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000, help="rows of the file (2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure (3)")
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of SQLite")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="hall-bench-catalog-"))
    os.environ["HALL_DATA_DIR"] = str(folder)
    postgres = Postgres(args.database_url) if args.database_url else None
    try:
        url = postgres.create() if postgres else f"sqlite:///{folder / 'hall.sqlite3'}"
        return run(args, url)
    finally:
        if postgres:
            postgres.drop()
        shutil.rmtree(folder, ignore_errors=True)


def run(args, url: str) -> int:
    from flask_migrate import upgrade

    from hall import create_app
    from hall import demo as demo_data
    from hall.domain import catalog_io
    from hall.extensions import db
    from hall.models import Department, Material, Matter, Queue

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    failures: list[str] = []
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        demo_data.load(db.session)
        db.session.commit()
        session = db.session
        hall = catalog_io.resolve_hall(session, "demo")
        departments = list(session.scalars(sa.select(Department.name).order_by(Department.code)))
        queues = list(
            session.scalars(
                sa.select(Queue.prefix).where(Queue.hall_id == hall.id).order_by(Queue.prefix)
            )
        )
        log(
            f"writing a {args.rows}-row matter list ({len(departments)} departments, "
            f"{len(queues)} queues)"
        )
        first = write_xlsx(matter_rows(args.rows, departments, queues, edition=1))
        second = write_xlsx(matter_rows(args.rows, departments, queues, edition=2))

        def bench_matters() -> sa.Select:
            return sa.select(Matter.id).where(Matter.code.like(f"{PREFIX}%"))

        def clear() -> None:
            ids = bench_matters().scalar_subquery()
            session.execute(sa.delete(Material).where(Material.matter_id.in_(ids)))
            session.execute(sa.delete(Matter).where(Matter.code.like(f"{PREFIX}%")))
            session.commit()

        def import_file(data: bytes, dry_run: bool = False):
            table = catalog_io.read_table(data, "bench.xlsx")
            report = catalog_io.import_catalog(
                session, table, hall=hall, filename="bench.xlsx", dry_run=dry_run
            )
            if report.applied:
                session.commit()
            else:
                session.rollback()
            return report

        def expect(label: str, report, created: int, updated: int, unchanged: int) -> None:
            got = (report.created, report.updated, report.unchanged)
            if report.problems or got != (created, updated, unchanged):
                problems = "; ".join(str(p) for p in report.problems[:3])
                failures.append(f"{label}: got {got} {problems}")

        times: dict[str, list[float]] = {
            k: [] for k in ("baseline", "read", "create", "unchanged", "update", "dry", "export")
        }
        for attempt in range(args.repeat):
            log(f"run {attempt + 1} of {args.repeat}")
            clear()
            seconds, cells = timed(openpyxl_read, first)
            times["baseline"].append(seconds)
            seconds, _table = timed(catalog_io.read_table, first, "bench.xlsx")
            times["read"].append(seconds)
            seconds, report = timed(import_file, first)
            times["create"].append(seconds)
            expect("import", report, args.rows, 0, 0)
            seconds, report = timed(import_file, first)
            times["unchanged"].append(seconds)
            expect("re-import", report, 0, 0, args.rows)
            seconds, report = timed(import_file, second, True)
            times["dry"].append(seconds)
            expect("dry run", report, 0, args.rows, 0)
            seconds, report = timed(import_file, second)
            times["update"].append(seconds)
            expect("update", report, 0, args.rows, 0)
            seconds, data = timed(catalog_io.export_catalog, session, "xlsx")
            session.commit()
            times["export"].append(seconds)
        count = session.scalar(sa.select(sa.func.count()).select_from(bench_matters().subquery()))
        materials = session.scalar(
            sa.select(sa.func.count(Material.id)).where(Material.matter_id.in_(bench_matters()))
        )
        if count != args.rows or materials != args.rows * 5:
            failures.append(f"after the runs: {count} matters, {materials} materials")
        total = session.scalar(sa.select(sa.func.count()).select_from(Matter))
        clear()
    print(report_table(args, url, times, len(first), cells, total))
    for failure in failures:
        log(f"WRONG: {failure}")
    return 1 if failures else 0


def report_table(args, url: str, times: dict[str, list[float]], size: int, cells: int, total):
    def cell(key: str) -> str:
        values = times[key]
        return f"{statistics.median(values):.2f} (best {min(values):.2f})"

    base = statistics.median(times["baseline"])

    def ratio(key: str) -> str:
        return f"{statistics.median(times[key]) / base:.1f}×" if base else "–"

    create = statistics.median(times["create"])
    met = "met" if create < TARGET_SECONDS else "NOT met"
    dialect = sa.engine.make_url(url).get_backend_name()
    try:
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    rows = [
        f"Matter list import — {args.rows} rows, {size / 1024:.0f} KB .xlsx ({cells} cells), "
        f"{dialect}, Python {platform.python_version()}, load average {load}, "
        f"median of {args.repeat} runs",
        "",
        "| measure | seconds (median, best) | × openpyxl read | target |",
        "|---|---|---|---|",
        f"| baseline: openpyxl alone reads the file | {cell('baseline')} | 1.0× | |",
        f"| hall: read the file into rows (`read_table`) | {cell('read')} | {ratio('read')} | |",
        f"| **import: {args.rows} new matters** (read, check, write, commit) | {cell('create')} | "
        f"{ratio('create')} | < {TARGET_SECONDS:.0f} s: {met} |",
        f"| re-import the same file ({args.rows} unchanged, nothing written) | "
        f"{cell('unchanged')} | {ratio('unchanged')} | |",
        f"| dry run of a changed file ({args.rows} would update) | {cell('dry')} | "
        f"{ratio('dry')} | |",
        f"| re-import a changed file ({args.rows} updated, materials replaced) | "
        f"{cell('update')} | {ratio('update')} | |",
        f"| export the catalogue ({total} matters) to .xlsx | {cell('export')} | "
        f"{ratio('export')} | |",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
