"""The `hall` command as an admin uses it: demo data, users, tokens, devices."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hall.auth import hash_token
from hall.cli import main
from hall.extensions import db
from hall.models import ApiToken, Hall, User, Window


@pytest.fixture
def run(app, monkeypatch):
    """Invoke `hall …` against the test database."""
    monkeypatch.setenv("HALL_DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("HALL_PASSWORD_METHOD", "pbkdf2:sha256:1000")

    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def test_demo_no_serve_loads_the_demo_once_and_prints_passwords_once(app, run, monkeypatch):
    monkeypatch.delenv("HALL_DEMO", raising=False)
    first = run("demo", "--no-serve")
    assert first.exit_code == 0, first.output
    assert "HALL_DEMO" not in os.environ  # demo mode is the demo's app's, not the process's
    assert "staff1" in first.output and "/display/demo/window/8" in first.output
    second = run("demo", "--no-serve")
    assert second.exit_code == 0 and "staff1 " not in second.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Hall)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Window)) >= 6


def test_user_add_reads_the_password_from_stdin_and_hashes_it(app, run, demo):
    result = run(
        "user",
        "add",
        "clerk",
        "--role",
        "staff",
        "--hall",
        "demo",
        "--display-name",
        "孙丽",
        "--job-number",
        "2001",
        input="s3cret-pass\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "clerk"))
        assert user.display_name == "孙丽" and user.job_number == "2001"
        assert "s3cret-pass" not in user.password_hash
    duplicate = run("user", "add", "clerk", input="another-pass\n")
    assert duplicate.exit_code == 2 and "已存在" in duplicate.output


def test_user_add_refuses_a_short_password_and_an_unknown_hall(run, demo):
    assert run("user", "add", "x1", input="short\n").exit_code == 2
    assert run("user", "add", "x2", "--hall", "nowhere", input="long-enough\n").exit_code == 2


def test_token_and_device_print_only_the_token(app, run, demo):
    token = run("token", "create", "staff1").output.strip()
    device = run("device", "add", "--kind", "kiosk", "--hall", "demo").output.strip()
    for value in (token, device):
        assert value.startswith("hall_") and "\n" not in value
    with app.app_context():
        row = db.session.scalar(
            sa.select(ApiToken).where(ApiToken.token_hash == hash_token(device))
        )
        assert row.device_kind == "kiosk" and row.hall.code == "demo"
    assert run("token", "create", "nobody").exit_code != 0


def test_help_lists_the_commands():
    out = subprocess.run(
        [sys.executable, "-m", "hall.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("demo", "serve", "db", "user", "token", "device"):
        assert command in out


def test_serve_refuses_to_start_without_a_secret_key(tmp_path):
    env = {"HALL_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "hall.cli", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0 and "HALL_SECRET_KEY" in result.stderr
