"""The `hall` command: demo, serve, database, users, tokens, devices, the catalogue, the
calendar, reports, tickets and personal data; actions on accounts, devices, exports and
personal data are audited (AuditEvent, `via=cli:<system user>`)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from hall import create_app
from hall.domain.errors import DomainError


def _make_app():
    return create_app()


@click.group(
    cls=FlaskGroup,
    create_app=_make_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
)
@click.version_option(package_name="hall")
def main():
    """hall — counter system of a government service hall (政务服务中心排队叫号).

    Settings come from HALL_* environment variables: HALL_DATABASE_URL (default: a SQLite
    file in HALL_DATA_DIR, ./instance), HALL_REDIS_URL, HALL_SECRET_KEY, HALL_TIMEZONE,
    HALL_SWEEPER (0: no day rollover and report rollups in this process); the README lists
    them all, docs/production.md those of a production set-up.
    """


def _cli_audit(session, action: str, *, hall_id: int | None = None, detail: str = "") -> None:
    """Record an action done on the command line (who: the system account running it)."""
    from hall.models import AuditEvent, utcnow

    text = f"{detail} via={_via()}".strip()
    session.add(
        AuditEvent(hall_id=hall_id, user_id=None, action=action, detail=text[:500], at=utcnow())
    )


@contextmanager
def _from_cli(action: str):
    """Add `via=cli:<user>` to the audit rows of `action` a domain function writes meanwhile."""
    from sqlalchemy import event

    from hall.models import AuditEvent

    def mark(_mapper, _connection, target) -> None:
        if target.action == action and "via=" not in (target.detail or ""):
            target.detail = f"{target.detail or ''} via={_via()}".strip()[:500]

    event.listen(AuditEvent, "before_insert", mark)
    try:
        yield
    finally:
        event.remove(AuditEvent, "before_insert", mark)


def _fail(err: DomainError):
    click.echo(f"错误 / error: {err.zh} / {err.en}", err=True)
    sys.exit(2)


def _upgrade(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)


def _at_head(app) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask_migrate import Config

    from hall.extensions import db

    with app.app_context():
        config = Config()
        config.set_main_option("script_location", app.extensions["migrate"].directory)
        heads = set(ScriptDirectory.from_config(config).get_heads())
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        return current == heads


def _links(base: str, hall) -> list[tuple[str, str]]:
    links = [
        ("首页 / home", f"{base}/"),
        ("取号机 / kiosk", f"{base}/kiosk/{hall.code}"),
        ("窗口工作台 / counter", f"{base}/counter/"),
        ("综合屏 / hall screen", f"{base}/display/{hall.code}"),
    ]
    links += [
        (
            f"{w.number} 号窗口屏 / window {w.number} screen",
            f"{base}/display/{hall.code}/window/{w.number}",
        )
        for w in hall.windows
    ]
    links.append(("办事指南 / service guide", f"{base}/guide"))
    links.append(("管理 / manage", f"{base}/manage/"))
    links.append(("API", f"{base}/api/v1/openapi.json"))
    return links


def _today(app):
    """Today in the installation's time zone (HALL_TIMEZONE)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(app.config.get("HALL_TIMEZONE") or "Asia/Shanghai")
    except (ValueError, KeyError, OSError):
        zone = ZoneInfo("Asia/Shanghai")
    return datetime.now(zone).date()


def _echo_calendar_warnings(warnings) -> None:
    for zh, en in warnings:
        click.echo(f"警告 / WARNING: {zh}", err=True)
        click.echo(f"  {en}", err=True)
    if warnings:
        click.echo(
            "  录入 / enter it: 管理 → 工作日历 (manage → calendar), or "
            "`hall calendar import FILE`; check with `hall calendar status`",
            err=True,
        )


def _logs_to_stderr(log) -> bool:
    """Whether a record of this logger would be printed on stderr (e.g. the console handler
    of the migrations' logging set-up)."""
    import logging

    logger = log
    while logger is not None:
        for handler in logger.handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and handler.stream in (sys.stderr, sys.__stderr__)
            ):
                return True
        logger = logger.parent if logger.propagate else None
    return False


def _warn_calendar(app) -> None:
    """Say once at start, on stderr, that the current or the next year has no official holiday
    schedule (due dates count Monday–Friday meanwhile); also in the log when logging is set
    up to write elsewhere (a file, syslog)."""
    import logging

    from hall.domain.workdays import calendar_warnings
    from hall.extensions import db

    with app.app_context():
        warnings = calendar_warnings(db.session, _today(app))
        db.session.remove()
    _echo_calendar_warnings(warnings)
    log = logging.getLogger("hall.calendar")
    # without handlers Python's last-resort handler would print it on stderr a second time
    if log.hasHandlers() and not _logs_to_stderr(log):
        for _zh, en in warnings:
            log.warning("%s", en)


def _serve(app, host: str, port: int) -> None:
    """Serve HTTP and Socket.IO (threading mode) with werkzeug's threaded server."""
    from werkzeug.serving import run_simple

    from hall import process

    if "sqlalchemy" in app.extensions:  # not the benchmarks' bare app, served here too
        process.prepare(app)  # background tasks (hall.process), then a settled heap
    click.echo(f" * hall serving on http://{host}:{port}/  (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--no-serve", is_flag=True, help="Only load the demo data into the configured database."
)
@click.option(
    "--history",
    "history_days",
    type=click.IntRange(1, 3660),
    help="Also generate a past of DAYS calendar days ending yesterday (历史数据).",
)
@click.option(
    "--windows",
    type=click.IntRange(1, 200),
    help="Windows the history uses; missing ones are created (default: the demo's 8).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the history.")
def demo(
    host: str,
    port: int,
    no_serve: bool,
    history_days: int | None = None,
    windows: int | None = None,
    seed: int = 0,
):
    """Create (or reuse) the demo hall `demo` and serve it (演示大厅)."""
    from hall import demo as demo_data
    from hall.extensions import db

    app = create_app({"HALL_DEMO": True})  # the demo's app only, not this process's environment
    _upgrade(app)
    with app.app_context():
        result = demo_data.load(db.session)
        db.session.commit()
        hall = result.hall
        click.echo(
            ("已创建" if result.created else "已存在") + f"演示大厅 {hall.name} ({hall.code})"
        )
        if result.passwords:
            click.echo("\n工作人员账号（密码只显示这一次）/ staff accounts (passwords shown once):")
            for username, password in result.passwords.items():
                click.echo(f"  {username:<10} {password}")
        else:
            click.echo("账号已存在，密码在首次创建时显示过；重置：hall user password USERNAME")
        if history_days:
            _demo_history(db.session, hall, history_days, windows, seed)
        click.echo("\n链接 / links:")
        base = f"http://{host}:{port}"
        for label, url in _links(base, hall):
            click.echo(f"  {label:<28} {url}")
    _warn_calendar(app)
    if not no_serve:
        _serve(app, host, port)


def _demo_history(session, hall, days: int, windows: int | None, seed: int) -> None:
    """Generate the demo's past (`hall demo --history`) with a progress bar and a summary."""
    from hall import history

    click.echo(f"\n生成 {days} 天的历史数据 / generating {days} days of history…")
    with click.progressbar(length=days, label="历史 / history", file=sys.stderr) as bar:
        done = 0

        def progress(count: int, total: int, day) -> None:
            nonlocal done
            bar.update(count - done)
            done = count

        try:
            result = history.generate(
                session, hall, days=days, windows=windows, seed=seed, progress=progress
            )
        except DomainError as err:
            session.rollback()
            _fail(err)
    from hall.domain import reports

    click.echo("汇总报表数据 / rolling up the report figures…")
    reports.rollup_range(session, hall.id, result["start"], result["end"])
    session.commit()
    outcomes = result["outcomes"]
    click.echo(
        f"{result['start']} – {result['end']}: {result['open_days']} 个工作日 / open days, "
        f"{result['windows']} 个窗口 / windows "
        f"({result['windows_created']} new, {result['staff_created']} new staff accounts)"
    )
    click.echo(
        f"  取号 tickets {result['tickets']:,} (办结 finished {result['finished']:,}, "
        f"过号 no-shows {result['no_show']:,}), average wait {result['average_wait_minutes']} "
        f"min, longest {result['max_wait_minutes']} min"
    )
    click.echo(
        f"  办件 cases {result['cases']:,}: 当场办结 {outcomes['on_the_spot']:,}, "
        f"受理 {outcomes['accepted']:,}, 补正 {outcomes['correction']:,}, "
        f"不予受理 {outcomes['rejected']:,}, 咨询 {outcomes['consultation']:,}; "
        f"办理中 open {result['open']:,} (逾期 overdue {result['open_overdue']:,})"
    )
    click.echo(f"  {result['seconds']} s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
def serve(host: str, port: int):
    """Serve the hall (one process; use gunicorn for production)."""
    app = create_app()
    if not os.environ.get("HALL_SECRET_KEY") and not app.config.get("HALL_DEMO"):
        raise click.ClickException(
            "HALL_SECRET_KEY is not set (未设置 HALL_SECRET_KEY). Generate one with: "
            "python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    if not _at_head(app):
        raise click.ClickException(
            "The database is not up to date: run `hall db upgrade` first (数据库需要升级)."
        )
    _warn_calendar(app)
    _serve(app, host, port)


@main.group()
def user():
    """Staff accounts (工作人员账号)."""


def _read_password(prompt: bool = True) -> str:
    if sys.stdin.isatty() and prompt:
        return click.prompt("Password / 密码", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\n")
    if not line:
        raise click.ClickException("No password on standard input (标准输入没有密码)")
    return line


@user.command("add")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(["admin", "manager", "staff"]), default="staff", show_default=True
)
@click.option("--hall", "hall_code", help="Hall the account belongs to (code).")
@click.option("--display-name", help="Name shown on window screens.")
@click.option("--job-number", default="", help="Job number (工号).")
@with_appcontext
def user_add(username, role, hall_code, display_name, job_number):
    """Add a staff account; the password is read from standard input when not a terminal."""
    from hall.auth import add_user
    from hall.domain.tickets import get_hall
    from hall.extensions import db

    try:
        hall = get_hall(db.session, hall_code) if hall_code else None
        account = add_user(
            db.session,
            username,
            _read_password(),
            role=role,
            display_name=display_name,
            job_number=job_number,
            hall=hall,
        )
    except DomainError as err:
        _fail(err)
    _cli_audit(
        db.session,
        "user.add",
        hall_id=account.hall_id,
        detail=f"username={username} role={role}",
    )
    db.session.commit()
    click.echo(f"added {role} {username}", err=True)


@user.command("password")
@click.argument("username")
@with_appcontext
def user_password(username):
    """Set a new password for an account (read from standard input when not a terminal)."""
    from hall.auth import set_password
    from hall.extensions import db
    from hall.models import User

    account = db.session.scalar(sa.select(User).where(User.username == username))
    if account is None:
        raise click.ClickException(f"No user {username} (没有该用户)")
    try:
        set_password(account, _read_password())
    except DomainError as err:
        _fail(err)
    _cli_audit(db.session, "user.password", hall_id=account.hall_id, detail=f"username={username}")
    db.session.commit()
    click.echo(f"password of {username} changed", err=True)


@main.group()
def token():
    """API bearer tokens for staff scripts."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="", help="A note to recognise the token by.")
@with_appcontext
def token_create(username, name):
    """Create an API token for a user; prints only the token."""
    from hall.auth import create_token
    from hall.extensions import db
    from hall.models import User

    account = db.session.scalar(sa.select(User).where(User.username == username))
    if account is None:
        raise click.ClickException(f"No user {username} (没有该用户)")
    value = create_token(db.session, user=account, name=name)
    _cli_audit(
        db.session,
        "token.create",
        hall_id=account.hall_id,
        detail=f"username={username} name={name}",
    )
    db.session.commit()
    click.echo(value)


@main.group()
def device():
    """Kiosk and display devices."""


def _device_options(command):
    """--kind, --hall and --name of a new device, in an app context."""
    for option in reversed(
        (
            click.option("--kind", type=click.Choice(["kiosk", "display"]), required=True),
            click.option("--hall", "hall_code", required=True, help="Hall code."),
            click.option(
                "--name", default="", help="Where the device stands, e.g. 'kiosk at the entrance'."
            ),
            with_appcontext,
        )
    ):
        command = option(command)
    return command


@device.command("add")
@_device_options
def device_add(kind, hall_code, name):
    """Register a device of a hall; prints only its token."""
    from hall.auth import create_token
    from hall.extensions import db

    hall = _hall_or_fail(hall_code)
    value = create_token(db.session, device_kind=kind, hall=hall, name=name)
    _cli_audit(db.session, "device.add", hall_id=hall.id, detail=f"kind={kind} name={name}")
    db.session.commit()
    click.echo(value)


@device.command("pair")
@_device_options
def device_pair(kind, hall_code, name):
    """Make a one-time pairing code (8 digits) to type on the device at /pair; prints the code."""
    from hall import devices
    from hall.extensions import db

    hall = _hall_or_fail(hall_code)
    key_file = Path(current_app.instance_path) / "secret_key"
    if not (os.environ.get("HALL_SECRET_KEY") or key_file.is_file()):
        # the code is keyed with the secret key: a throw-away one would make it useless
        raise click.ClickException(
            "设置与服务器相同的 HALL_SECRET_KEY 后再生成配对码 / "
            "set HALL_SECRET_KEY (the server's) to make a pairing code"
        )
    try:
        with _from_cli("device.code"):
            pairing, code = devices.create_pairing(db.session, hall, kind, name, by=None)
            db.session.commit()
    except DomainError as err:
        _fail(err)
    click.echo(code)
    minutes = current_app.config.get("HALL_PAIRING_CODE_MINUTES", 10)
    click.echo(
        f"type it at /pair on the device within {minutes} minutes "
        f"(在设备上打开 /pair，{minutes} 分钟内输入)",
        err=True,
    )


@device.command("list")
@click.option("--hall", "hall_code", required=True, help="Hall code.")
@with_appcontext
def device_list(hall_code):
    """The hall's devices: id, kind, state, name (tab-separated)."""
    from hall import devices
    from hall.extensions import db

    for key in devices.listing(db.session, _hall_or_fail(hall_code))["devices"]:
        state = "revoked" if key.revoked else "active"
        click.echo(f"{key.id}\t{key.device_kind}\t{state}\t{key.name}")


@device.command("revoke")
@click.option("--hall", "hall_code", required=True, help="Hall code.")
@click.argument("device_id", type=click.IntRange(1, 2**31 - 1))
@with_appcontext
def device_revoke(hall_code, device_id):
    """Revoke a device key (from `hall device list`): refused from its next request on;
    its open pages are told within HALL_REVOCATION_CHECK_SECONDS."""
    from hall import devices
    from hall.extensions import db

    hall = _hall_or_fail(hall_code)
    try:
        key = devices.hall_device(db.session, hall, device_id)
        with _from_cli("device.revoke"):
            changed = devices.revoke(db.session, key, by=None)
            db.session.commit()
    except DomainError as err:
        _fail(err)
    if changed:
        devices.notify_revoked(key)
    click.echo(f"device {device_id} revoked" if changed else f"device {device_id} was revoked")


@main.group()
def catalog():
    """The matter list (事项清单) as .xlsx or .csv: template, import, export.

    The format follows the file's extension. Departments are named by name or code, queues
    by the letter of the hall given with --hall (default: the only hall).
    """


class _ProgressBars:
    """Progress bars for the phases of a long import or export (large files only)."""

    LABELS = {"read": "读取 / reading", "check": "检查 / checking", "write": "写入 / writing"}

    def __init__(self, minimum: int = 200) -> None:
        self.minimum = minimum
        self.phase: str | None = None
        self.bar = None
        self.done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if total < self.minimum:
            return
        if phase != self.phase:
            self.close()
            self.phase, self.done = phase, 0
            self.bar = click.progressbar(
                length=total,
                label=self.LABELS.get(phase, phase),
                file=sys.stderr,
            )
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _catalog_hall(hall_code: str | None):
    from hall.domain import catalog_io
    from hall.extensions import db

    return catalog_io.resolve_hall(db.session, hall_code)


@catalog.command("template")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--hall", "hall_code", help="Hall whose queues the template lists (code).")
@with_appcontext
def catalog_template(file, hall_code):
    """Write an empty matter list: Chinese headers, and in .xlsx the 填写说明 sheet."""
    from pathlib import Path

    from hall.domain import catalog_io
    from hall.extensions import db

    try:
        fmt = catalog_io.format_of(file)
        data = catalog_io.template(db.session, fmt, hall=_catalog_hall(hall_code))
    except DomainError as err:
        _fail(err)
    Path(file).write_bytes(data)
    click.echo(f"模板已写入 / template written: {file}")


@catalog.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--hall", "hall_code", help="Hall whose queues the .xlsx lists (code).")
@with_appcontext
def catalog_export(file, hall_code):
    """Export every matter to FILE (.xlsx, or .csv in UTF-8 with BOM)."""
    from pathlib import Path

    from hall.domain import catalog_io
    from hall.extensions import db
    from hall.models import Matter

    bars = _ProgressBars()
    try:
        fmt = catalog_io.format_of(file)
        with _from_cli("catalog.export"):
            data = catalog_io.export_catalog(
                db.session, fmt, hall=_catalog_hall(hall_code), progress=bars
            )
    except DomainError as err:
        _fail(err)
    finally:
        bars.close()
    Path(file).write_bytes(data)
    db.session.commit()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Matter))
    click.echo(f"已导出 {count} 个事项 / exported {count} matters: {file}")


@catalog.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--hall", "hall_code", help="Hall whose queue letters the file uses (code).")
@click.option("--dry-run", is_flag=True, help="Check the file and list the changes; write nothing.")
@with_appcontext
def catalog_import(file, hall_code, dry_run):
    """Import FILE: every row is checked; with any problem nothing is imported (exit 1)."""
    from pathlib import Path

    from hall.domain import catalog_io
    from hall.extensions import db

    path = Path(file)
    bars = _ProgressBars()
    try:
        size = path.stat().st_size
        if size > catalog_io.MAX_FILE_BYTES:
            raise catalog_io.file_too_large(size)
        data = path.read_bytes()
        table = catalog_io.read_table(data, path.name, progress=bars)  # before the transaction
        hall = _catalog_hall(hall_code)
        report = catalog_io.import_catalog(
            db.session, table, hall=hall, filename=path.name, dry_run=dry_run, progress=bars
        )
    except DomainError as err:
        bars.close()
        db.session.rollback()
        _fail(err)
    bars.close()
    summary = " / ".join(report.summary())
    if not report.ok:
        db.session.rollback()
        shown = report.problems[:1000]
        for problem in shown:
            click.echo(f"  {problem}", err=True)
        if len(report.problems) > len(shown):
            click.echo(f"  … 另有 {len(report.problems) - len(shown)} 处 / more", err=True)
        click.echo(
            f"错误 / error: {len(report.problems)} 处问题，没有导入任何事项 / "
            f"{len(report.problems)} problem(s), nothing imported",
            err=True,
        )
        sys.exit(1)
    changes = [c for c in report.changes if c.action != "unchanged"]
    for change in changes[:200]:
        columns = f" ({'、'.join(change.columns)})" if change.columns else ""
        action = "新增 / create" if change.action == "create" else "更新 / update"
        click.echo(
            f"  第 {change.row} 行 / row {change.row}: {action} {change.code} "
            f"{change.name}{columns}"
        )
    if len(changes) > 200:
        click.echo(f"  … 另有 {len(changes) - 200} 行 / more rows")
    if dry_run:
        db.session.rollback()
        click.echo(f"检查通过，未写入 / check passed, nothing written: {summary}")
    else:
        db.session.commit()
        click.echo(f"已导入 / imported: {summary}")


# ---------------------------------------------------------------- hall calendar


@main.group("calendar")
def calendar_cli():
    """The working-day calendar (工作日历): holidays, make-up working days, closures.

    The holiday library knows the State Council's schedule of past years and the current
    one; enter next year's as soon as it is published (lines like `2027-01-01 holiday 元旦`,
    `2027-02-20 workday 春节调休`). Without --hall an entry applies to every hall.
    """


def _day_param(_ctx, _param, value):
    from hall.domain.workdays import parse_day

    if value is None:
        return None
    try:
        return parse_day(value)
    except DomainError as err:
        raise click.BadParameter(f"{err.zh} / {err.en}") from None


def _kind_param(_ctx, _param, value):
    from hall.domain.workdays import parse_kind

    try:
        return parse_kind(value)
    except DomainError as err:
        raise click.BadParameter(f"{err.zh} / {err.en}") from None


def _year_param(_ctx, _param, value):
    from hall.domain.workdays import parse_year

    if value is None:
        return None
    try:
        return parse_year(value)
    except DomainError as err:
        raise click.BadParameter(f"{err.zh} / {err.en}") from None


def _hall_or_fail(hall_code: str | None):
    """The hall of --hall (None when not given); an unknown code ends the command (exit 2)."""
    from hall.domain.tickets import get_hall
    from hall.extensions import db

    if hall_code is None:
        return None
    try:
        return get_hall(db.session, hall_code)
    except DomainError as err:
        _fail(err)


def _via() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:40]
    except (KeyError, OSError):
        return "cli"


def _refused(err) -> None:
    """Print the problems of refused entries (stderr) and exit 1."""
    for problem in err.problems:
        click.echo(f"  {problem}", err=True)
    if err.more:
        click.echo(f"  … 另有 {err.more} 处 / {err.more} more", err=True)
    click.echo(f"错误 / error: {err.zh} / {err.en}", err=True)
    sys.exit(1)


def _scope_label(hall) -> str:
    return f"大厅 {hall.code} / hall {hall.code}" if hall else "全区 / every hall"


@calendar_cli.command("status")
@click.option(
    "--today", "today", callback=_day_param, help="Check as of this day (default: today)."
)
@with_appcontext
def calendar_status(today):
    """The years the holiday library knows, the entries per year, and the warnings."""
    from hall.domain import workdays
    from hall.extensions import db

    today = today or _today(current_app)
    known = workdays.library_years()
    click.echo(
        f"节假日库 / holiday library: chinesecalendar {workdays.library_version()}, "
        f"{known.start}–{known.stop - 1}"
    )
    click.echo(f"今天 / today: {today.isoformat()}")
    click.echo(
        "年份 / year   国务院安排 / official schedule        条目 / entries (全区 all, 大厅 halls)"
    )
    years = range(today.year - 1, today.year + 2)
    for status in workdays.year_statuses(db.session, years):
        if status.library:
            source = "节假日库 / library"
        elif status.holidays_entered:
            source = "已录入 / entered"
        else:
            source = "无，按周一至周五 / NONE: Mon–Fri"
        click.echo(f"{status.year:<12} {source:<34} {status.everywhere}, {status.halls}")
    warnings = workdays.calendar_warnings(db.session, today)
    _echo_calendar_warnings(warnings)
    if not warnings:
        click.echo(f"{today.year}–{today.year + 1}: 安排齐全 / schedules complete")


@calendar_cli.command("list")
@click.option("--year", callback=_year_param, help="Year to list (default: this year).")
@click.option(
    "--hall", "hall_code", help="Also this hall's own entries, and what each day means for it."
)
@with_appcontext
def calendar_list(year, hall_code):
    """The special days of a year: the library's schedule and the entries."""
    from hall.domain import workdays
    from hall.extensions import db

    hall = _hall_or_fail(hall_code)
    year = year or _today(current_app).year
    library = {day: (kind, name) for day, kind, name in workdays.library_days(year)}
    entries = workdays.list_entries(
        db.session, year, hall_id=hall.id if hall else None, every_hall=hall is None
    )
    rows: list[tuple] = [
        (day, kind, name, "节假日库 / library") for day, (kind, name) in library.items()
    ]
    for e in entries:
        scope = f"大厅 {e.hall_code} / hall {e.hall_code}" if e.hall_code else "全区 / every hall"
        by = f" ({e.created_by})" if e.created_by else ""
        rows.append((e.day, e.kind, e.name, f"录入 / entry: {scope}{by}"))
    rows.sort(key=lambda r: (r[0], r[3]))
    calendar = workdays.Calendar(db.session, hall.id if hall else None)
    click.echo(f"{year} 年 / year {year}" + (f" — {hall.name} ({hall.code})" if hall else ""))
    for day, kind, name, source in rows:
        zh, en = workdays.weekday_text(day)
        line = f"{day.isoformat()}  {zh} {en}  {kind:<8} {name or '-':<14} {source}"
        if hall:
            line += "  → " + ("上班 / working" if calendar.is_working_day(day) else "休息 / off")
        click.echo(line)
    if not rows:
        click.echo("没有特殊日期 / no special days")
    if workdays.years_without_data(db.session, [year]):
        click.echo(
            f"警告 / WARNING: {year} 年没有国务院安排，按周一至周五计算 / "
            f"no official schedule for {year}: Monday–Friday are counted",
            err=True,
        )


@calendar_cli.command("add")
@click.argument("day", callback=_day_param)
@click.argument("kind", callback=_kind_param)
@click.option("--name", default="", help="What the day is, e.g. 春节 or 台风停止办公.")
@click.option("--hall", "hall_code", help="Only this hall (default: every hall).")
@with_appcontext
def calendar_add(day, kind, name, hall_code):
    """Add an entry: DAY (2027-01-01) KIND (holiday, workday or closure)."""
    from hall.domain import workdays
    from hall.extensions import db

    hall = _hall_or_fail(hall_code)
    try:
        entry = workdays.Entry(day, kind, workdays.parse_name(name))
        saved = workdays.save_entries(db.session, [entry], hall=hall, user_id=None, via=_via())
    except workdays.ScheduleRefused as err:
        db.session.rollback()
        _refused(err)
    except DomainError as err:
        db.session.rollback()
        _fail(err)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        click.echo(f"错误 / error: {day} 刚刚被录入 / was just entered by someone else", err=True)
        sys.exit(1)
    action = "已添加 / added" if saved.added else "已有相同条目 / unchanged"
    click.echo(f"{action}: {day.isoformat()} {kind} {entry.name} ({_scope_label(hall)})")


@calendar_cli.command("remove")
@click.argument("day", callback=_day_param)
@click.option("--hall", "hall_code", help="The entry of this hall (default: the every-hall one).")
@with_appcontext
def calendar_remove(day, hall_code):
    """Remove the entry of DAY; the holiday library (or Monday–Friday) applies again."""
    from hall.domain import workdays
    from hall.extensions import db

    hall = _hall_or_fail(hall_code)
    try:
        row = workdays.find_entry(db.session, day, hall)
        kind, name = row.kind, row.name
        workdays.remove_entry(db.session, row, user_id=None, via=_via())
    except DomainError as err:
        db.session.rollback()
        _fail(err)
    db.session.commit()
    click.echo(f"已删除 / removed: {day.isoformat()} {kind} {name} ({_scope_label(hall)})")


@calendar_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--hall", "hall_code", help="Only this hall (default: every hall).")
@click.option("--dry-run", is_flag=True, help="Check the file; write nothing.")
@with_appcontext
def calendar_import(file, hall_code, dry_run):
    """Import FILE ('-': standard input), one day a line: `2027-01-01 holiday 元旦`.

    Every line is checked; with any problem nothing is imported (exit 1). UTF-8 (or GB18030).
    """
    from pathlib import Path

    from hall.domain import workdays
    from hall.extensions import db

    limit = workdays.MAX_TEXT * 4
    if file == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        with Path(file).open("rb") as handle:
            data = handle.read(limit + 1)
    if len(data) > limit:
        click.echo(f"错误 / error: 文件太大 / the file is larger than {limit} bytes", err=True)
        sys.exit(1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            click.echo("错误 / error: 文件应为 UTF-8 文本 / the file is not UTF-8 text", err=True)
            sys.exit(1)
    hall = _hall_or_fail(hall_code)
    try:
        entries = workdays.read_schedule(text)
        saved = workdays.save_entries(db.session, entries, hall=hall, user_id=None, via=_via())
    except workdays.ScheduleRefused as err:
        db.session.rollback()
        _refused(err)
    if dry_run:
        db.session.rollback()
        click.echo(
            f"检查通过，未写入 / check passed, nothing written: {len(saved.added)} new, "
            f"{len(saved.unchanged)} unchanged ({_scope_label(hall)})"
        )
        return
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        click.echo(
            "错误 / error: 有日期刚刚被录入 / a day was just entered by someone else", err=True
        )
        sys.exit(1)
    click.echo(
        f"已导入 / imported: {len(saved.added)} 新增 / new, {len(saved.unchanged)} "
        f"未变 / unchanged ({_scope_label(hall)})"
    )


@calendar_cli.command("due")
@click.argument("day", callback=_day_param)
@click.argument("days", type=click.IntRange(0, 3650))
@click.option(
    "--unit", type=click.Choice(["working", "natural"]), default="working", show_default=True
)
@click.option("--hall", "hall_code", help="Count with this hall's own closures too.")
@with_appcontext
def calendar_due(day, days, unit, hall_code):
    """The due date of a limit of DAYS counted after DAY (the acceptance day, not counted)."""
    from hall.domain import workdays
    from hall.extensions import db

    hall = _hall_or_fail(hall_code)
    calendar = workdays.Calendar(db.session, hall.id if hall else None)
    try:
        due = calendar.due_date(day, days, unit)
    except ValueError as err:
        click.echo(f"错误 / error: {err}", err=True)
        sys.exit(2)
    zh, en = workdays.weekday_text(due)
    click.echo(f"{due.isoformat()} {zh} {en}")
    missing = workdays.years_without_data(db.session, range(day.year, due.year + 1))
    for year in missing:
        click.echo(
            f"警告 / WARNING: {year} 年没有国务院安排，按周一至周五计算 / "
            f"no official schedule for {year}: Monday–Friday were counted",
            err=True,
        )


@main.command("report")
@click.option("--from", "start", required=True, metavar="DAY", help="First day (2026-11-01).")
@click.option("--to", "end", required=True, metavar="DAY", help="Last day (2026-11-30).")
@click.option("--hall", "hall_code", help="Hall code (default: the only hall).")
@click.option(
    "--group",
    default="window",
    show_default=True,
    type=click.Choice(["window", "department", "matter", "staff", "day", "week", "month"]),
)
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "pdf", "csv"]), help="Default: the extension."
)
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--window", help="Only this window (number).")
@click.option("--department", help="Only this department (code).")
@click.option("--matter", help="Only this matter (code).")
@click.option("--staff", help="Only this staff member (username).")
@with_appcontext
def report_command(start, end, hall_code, group, fmt, output, window, department, matter, staff):
    """Write the manager report (统计报表) of a period as .xlsx, PDF or .csv (UTF-8 with BOM):
    the numbers of the report page and the API, grouped and filtered the same way."""
    from pathlib import Path

    from hall.domain import board
    from hall.domain import report_export as files
    from hall.domain.catalog_io import resolve_hall
    from hall.extensions import db

    try:
        fmt = files.check_format(fmt or Path(output).suffix or "")
        first = files.parse_day(start, "开始")
        last = files.parse_day(end, "结束")
        hall = resolve_hall(db.session, hall_code)
        if hall is None:
            raise DomainError(
                "hall_required",
                "请用 --hall 指定大厅（没有大厅或有多个大厅）",
                "Name the hall with --hall (there is none, or more than one)",
            )
        data = files.report_for(
            db.session,
            hall,
            start=first,
            end=last,
            group=group,
            window=window,
            department=department,
            matter=matter,
            staff=staff,
            today=board.service_day(hall),
        )
        content = files.export(data, fmt)
    except DomainError as err:
        _fail(err)
    try:  # keep the rollup of the past days the report computed (a cache)
        db.session.commit()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
    Path(output).write_bytes(content)
    chosen = {"window": window, "department": department, "matter": matter, "staff": staff}
    detail = " ".join(
        [f"format={fmt}", f"from={first}", f"to={last}", f"group={group}"]
        + [f"{name}={value}" for name, value in chosen.items() if value]
    )
    _cli_audit(db.session, "report.export", hall_id=hall.id, detail=detail)
    db.session.commit()
    rows = len(data.get("rows") or [])
    click.echo(f"报表已写入 / report written: {output} ({fmt}, {rows} 行 / rows)")


# ---------------------------------------------------------------- hall tickets


@main.group("tickets")
def tickets_cli():
    """Queue tickets (排队票号)."""


@tickets_cli.command("expire")
@click.option("--hall", "hall_code", help="Only this hall (code); default: every hall.")
@with_appcontext
def tickets_expire(hall_code):
    """Close the tickets of past service days still waiting, called or serving as expired
    (已过期): counted and logged, never deleted. The server does this by itself every minute
    (the day rollover, 日切); this command does it now."""
    from hall.domain import rollover
    from hall.extensions import db

    try:
        result = rollover.sweep(db.session, hall=hall_code)
    except DomainError as err:
        _fail(err)
    for code, counts in result.items():
        closed = sum(counts.values())
        click.echo(
            f"{code}: 已过期 / expired {closed} "
            f"(等候中 waiting {counts['waiting']}, 已叫号 called {counts['called']}, "
            f"办理中 serving {counts['serving']})"
        )
    if not rollover.total(result):
        click.echo("没有往日未结束的票 / no open tickets of past days")


# ---------------------------------------------------------------- hall data


@main.group("data")
def data_cli():
    """Residents' personal data (个人信息): retention.

    HALL_RETENTION_DAYS (0 = keep forever) makes the server erase, once a day, the applicant
    names and phones of cases completed or closed longer ago than that; the statistics stay
    the same. `hall data erase-personal` does it now, for any day."""


def _positive_days(_ctx, _param, value):
    if value is not None and value < 1:
        raise click.BadParameter("must be at least 1 (至少 1 天)")
    return value


@data_cli.command("erase-personal")
@click.option(
    "--before", "before", metavar="DAY", help="Erase records closed before this day (2024-01-01)."
)
@click.option(
    "--older-than-days",
    "days",
    type=int,
    callback=_positive_days,
    help="Erase records closed more than N days ago (default: HALL_RETENTION_DAYS).",
)
@click.option("--hall", "hall_code", help="Only this hall (code); default: every hall.")
@click.option("--dry-run", is_flag=True, help="Count what would be erased; change nothing.")
@with_appcontext
def data_erase_personal(before, days, hall_code, dry_run):
    """Blank the applicant name and phone of cases completed or closed before a day (open and
    paused cases are kept); reports and rates keep their numbers. Audited (retention.erase)."""
    from datetime import date

    from hall.domain import retention
    from hall.domain.tickets import get_hall
    from hall.extensions import db

    if before and days:
        raise click.UsageError("give --before or --older-than-days, not both (二选一)")
    if before:
        try:
            day = date.fromisoformat(before.strip())
        except ValueError:
            raise click.BadParameter(
                f"{before} is not a day like 2024-01-01", param_hint="--before"
            ) from None
    else:
        days = days or int(current_app.config.get("HALL_RETENTION_DAYS") or 0)
        if days <= 0:
            raise click.UsageError(
                "give --before DAY or --older-than-days N (HALL_RETENTION_DAYS is 0: keep forever)"
            )
        day = retention.cutoff(days, timezone=current_app.config.get("HALL_TIMEZONE"))
    hall_id = None
    if hall_code:
        try:
            hall_id = get_hall(db.session, hall_code).id
        except DomainError as err:
            _fail(err)
    result = retention.erase_personal_data(
        db.session, day, dry_run=dry_run, hall_id=hall_id, via=_via()
    )
    if dry_run:
        db.session.rollback()
        click.echo(
            f"检查，未修改 / dry run, nothing changed: {result['cases']} 个办件的申请人信息"
            f"将被清除 / cases would be erased (closed before {day.isoformat()})"
        )
    else:
        db.session.commit()
        click.echo(
            f"已清除 {result['cases']} 个办件的申请人姓名和电话 / erased the applicant name "
            f"and phone of {result['cases']} cases (closed before {day.isoformat()})"
        )


@main.command("config")
@with_appcontext
def show_config():
    """Print the effective settings (the secret and passwords masked)."""
    for key in ("SQLALCHEMY_DATABASE_URI", "HALL_REDIS_URL", "HALL_TIMEZONE"):
        value = current_app.config.get(key)
        if value and "@" in str(value):
            scheme, _, rest = str(value).partition("://")
            value = f"{scheme}://***@{rest.rpartition('@')[2]}"
        click.echo(f"{key}={value}")


if __name__ == "__main__":
    main()
