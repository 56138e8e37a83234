"""The `hall` command: demo, serve, database, users, tokens, devices and the catalogue."""

from __future__ import annotations

import os
import sys

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
    file in HALL_DATA_DIR, ./instance), HALL_REDIS_URL, HALL_SECRET_KEY, HALL_TIMEZONE.
    """


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
    links.append(("管理 / manage", f"{base}/manage/"))
    links.append(("API", f"{base}/api/v1/openapi.json"))
    return links


def _serve(app, host: str, port: int) -> None:
    """Serve HTTP and Socket.IO (threading mode) with werkzeug's threaded server."""
    from werkzeug.serving import run_simple

    click.echo(f" * hall serving on http://{host}:{port}/  (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--no-serve", is_flag=True, help="Only load the demo data into the configured database."
)
def demo(host: str, port: int, no_serve: bool):
    """Create (or reuse) the demo hall `demo` and serve it (演示大厅)."""
    from hall import demo as demo_data
    from hall.extensions import db

    os.environ.setdefault("HALL_DEMO", "1")
    app = create_app({"HALL_DEMO": True})
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
        click.echo("\n链接 / links:")
        base = f"http://{host}:{port}"
        for label, url in _links(base, hall):
            click.echo(f"  {label:<28} {url}")
    if not no_serve:
        _serve(app, host, port)


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
        add_user(
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
    db.session.commit()
    click.echo(value)


@main.group()
def device():
    """Kiosk and display devices."""


@device.command("add")
@click.option("--kind", type=click.Choice(["kiosk", "display"]), required=True)
@click.option("--hall", "hall_code", required=True, help="Hall code.")
@click.option("--name", default="", help="Where the device stands, e.g. 'kiosk at the entrance'.")
@with_appcontext
def device_add(kind, hall_code, name):
    """Register a device of a hall; prints only its token."""
    from hall.auth import create_token
    from hall.domain.tickets import get_hall
    from hall.extensions import db

    try:
        hall = get_hall(db.session, hall_code)
    except DomainError as err:
        _fail(err)
    value = create_token(db.session, device_kind=kind, hall=hall, name=name)
    db.session.commit()
    click.echo(value)


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
