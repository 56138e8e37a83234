"""The role-by-endpoint matrix: every route of the app × every identity → its outcome.

TABLE below IS the security policy, written from each view's decorators and checks. Each
route gets requests whose path parameters are real demo values (hall `demo`, windows, a ticket
and its tracking token, case numbers, matter and department ids), so the request reaches the
view; POST forms carry their CSRF token, so the outcome is the role check, not CSRF. Bodies are
chosen to change little (an empty form, a wrong window, an unknown id for deletions): "allowed"
means the role check let the request through (any answer but 401/403 or the login redirect).

Identities: anonymous, a kiosk device token and a display device token (demo), a staff member
of another hall (east), staff2 of demo (not on duty at the windows used here), staff1 of demo
(on duty at windows 1–3), the demo manager and the admin. Users browse pages with a session
cookie (signed in through the login form) and call /api/v1 with their bearer token; devices send
their bearer token everywhere and keep it as their paired key in the `hall_device` cookie (the
kiosk and screen pages go by the cookie; other pages need a signed-in session). Device pairing
is required here, as outside the demo.

A new route without an entry in TABLE fails test_every_route_is_in_the_matrix.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from hall.extensions import db
from tests.conftest import _token, auth, dispose, load_demo, make_app, open_windows

OK, LOGIN, E401, E403 = "allowed", "login required", "401", "403"
PAIR = "pairing required"  # sent to /pair: the kiosk and the screens need a paired device
IDENTITIES = (
    "anonymous",
    "kiosk",
    "display",
    "other_hall",
    "colleague",
    "staff",
    "manager",
    "admin",
)
USERS = {
    "other_hall": "eastie",
    "colleague": "staff2",
    "staff": "staff1",
    "manager": "manager",
    "admin": "admin",
}
DEVICES = {"kiosk", "display"}
EAST_PASSWORD = "east-password-1"

# Routes outside the matrix, each with its reason. Socket.IO (/socket.io/) is not a Flask
# route (the middleware answers it) and is covered by tests/test_realtime.py.
EXCLUDED = {
    "static": "static files (CSS, JS, fonts), public by design",
    "kiosk.static": "static files of the kiosk blueprint, public by design",
    "display.static": "static files of the display blueprint, public by design",
}


def profile(**outcomes: str) -> dict[str, str]:
    """An outcome per identity; identities not named are allowed."""
    return {who: outcomes.get(who, OK) for who in IDENTITIES}


PUBLIC = profile()
# the kiosk and the screens (HALL_REQUIRE_PAIRING, as outside the demo): a paired device of
# that kind and hall, or a signed-in account of the hall
KIOSK_PAGE = profile(anonymous=PAIR, display=E403, other_hall=E403)
SCREEN_PAGE = profile(anonymous=PAIR, kiosk=E403, other_hall=E403)
KIOSK_ISSUE = profile(anonymous=E401, display=E403, other_hall=E403)
# pages for staff of the hall (login_required, then role and hall checks)
STAFF_PAGE = profile(anonymous=LOGIN, kiosk=LOGIN, display=LOGIN, other_hall=E403)
# the counter's window chooser lists the user's own hall: any staff account may open it
ANY_STAFF_PAGE = profile(anonymous=LOGIN, kiosk=LOGIN, display=LOGIN)
MANAGER_PAGE = profile(
    anonymous=LOGIN, kiosk=LOGIN, display=LOGIN, other_hall=E403, colleague=E403, staff=E403
)
ADMIN_PAGE = {**MANAGER_PAGE, "manager": E403}
# a staff document (PDF): a browser without a session is sent to sign in; tokens of devices 403
PRINT = profile(anonymous=LOGIN, kiosk=E403, display=E403, other_hall=E403)
# JSON API
API_STAFF = profile(anonymous=E401, kiosk=E403, display=E403, other_hall=E403)
# without ?hall= these answer for the caller's own hall: staff of another hall see theirs
API_STAFF_OWN_HALL = profile(anonymous=E401, kiosk=E403, display=E403)
API_MANAGER = profile(
    anonymous=E401, kiosk=E403, display=E403, other_hall=E403, colleague=E403, staff=E403
)
API_ISSUE = profile(anonymous=E401, display=E403, other_hall=E403)
# counter actions: only the person on duty at the window, never someone in their name
API_ON_DUTY = profile(
    anonymous=E401,
    kiosk=E403,
    display=E403,
    other_hall=E403,
    colleague=E403,
    manager=E403,
    admin=E403,
)
# pausing or closing a window, putting a no-show back: the person on duty, or management
API_ON_DUTY_OR_MANAGER = {**API_ON_DUTY, "manager": OK, "admin": OK}
# a case recorded by staff1 at window 3: staff1, the managers; not another staff member
API_CASE_OWNER = profile(anonymous=E401, kiosk=E403, display=E403, other_hall=E403, colleague=E403)
EVERYONE_LOGIN = profile(**dict.fromkeys(IDENTITIES, LOGIN))
EVERYONE_401 = profile(**dict.fromkeys(IDENTITIES, E401))


@dataclass
class Req:
    """One request of the matrix: method, URL (str.format'ed with the demo values)."""

    method: str
    url: str
    expect: dict[str, str]
    form: dict | None = None
    json: dict | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def G(url: str, expect: dict[str, str], **kw) -> Req:
    return Req("GET", url, expect, **kw)


def P(url: str, expect: dict[str, str], **kw) -> Req:
    return Req("POST", url, expect, **kw)


M = "/manage/demo"
TABLE: dict[str, list[Req]] = {
    # ------------------------------------------------------------ public pages and screens
    "kiosk.home": [G("/", PUBLIC)],
    "kiosk.kiosk": [G("/kiosk/demo", KIOSK_PAGE)],
    "kiosk.issue": [P("/kiosk/demo/tickets", KIOSK_ISSUE, json={"queue": "A"})],
    "kiosk.guide_search": [G("/kiosk/demo/guide/search.json?q=hk", PUBLIC)],
    "kiosk.guide_department": [G("/kiosk/demo/guide/departments/{dept_code}.json", PUBLIC)],
    "kiosk.guide_matter": [
        G("/kiosk/demo/guide/matters/GA-003", KIOSK_PAGE, note="the kiosk page on a matter"),
        G("/kiosk/demo/guide/matters/GA-003?part=matter", PUBLIC, note="the guide part alone"),
    ],
    "kiosk.track": [G("/t/{ticket_token}", PUBLIC)],
    "kiosk.track_json": [G("/t/{ticket_token}.json", PUBLIC)],
    "kiosk.slip": [G("/t/{ticket_token}/slip.pdf", PUBLIC)],
    "kiosk.qr": [G("/t/{ticket_token}/qr.svg", PUBLIC)],
    "display.hall_screen": [G("/display/demo", SCREEN_PAGE)],
    "display.window_screen": [G("/display/demo/window/3", SCREEN_PAGE)],
    "devices.pair": [G("/pair", PUBLIC)],
    "devices.pair_submit": [P("/pair", PUBLIC, form={"code": "00000000"}, note="wrong: 400")],
    "guide.index": [G("/guide", PUBLIC)],
    "guide.matter": [G("/guide/GA-003", PUBLIC)],
    "guide.matter_pdf": [G("/guide/GA-003.pdf", PUBLIC)],
    "guide.department": [G("/guide/departments/{dept_code}", PUBLIC)],
    "guide.department_pdf": [G("/guide/departments/{dept_code}.pdf", PUBLIC)],
    "casedocs.verify": [G("/v/{verify_token}", PUBLIC)],
    "health.healthz": [G("/healthz", PUBLIC)],
    "favicon": [G("/favicon.ico", PUBLIC)],
    # ------------------------------------------------------------ sign in / out, counter
    "counter.login": [
        G("/counter/login", PUBLIC),
        P(
            "/counter/login",
            EVERYONE_401,
            form={"username": "nobody-{who}", "password": "wrong-password"},
            note="a wrong password is 401 for everybody (one unknown name each: lockouts)",
        ),
    ],
    "counter.logout": [P("/counter/logout", EVERYONE_LOGIN, note="back to the login page")],
    "counter.index": [G("/counter/", ANY_STAFF_PAGE)],
    "counter.window": [G("/counter/demo/3", STAFF_PAGE)],
    "counter.panels": [G("/counter/demo/3/panels", STAFF_PAGE)],
    "counter.open_window": [P("/counter/demo/8/open", STAFF_PAGE, form={})],
    "casedocs.document": [G("/cases/{case_print}/receipt.pdf", PRINT)],
    # ------------------------------------------------------------ management pages
    "manage.index": [G("/manage/", MANAGER_PAGE)],
    "manage.set_notice": [P(f"{M}/notice", MANAGER_PAGE, form={"notice": "今日正常办公"})],
    "manage.dashboard": [G(f"{M}/dashboard", MANAGER_PAGE)],
    "manage.dashboard_json": [G(f"{M}/dashboard.json", MANAGER_PAGE)],
    "manage.cases": [G(f"{M}/cases", MANAGER_PAGE)],
    "manage.case_action": [
        P(f"{M}/cases/{{case_print}}/resume", MANAGER_PAGE, form={}, note="open: 409")
    ],
    "manage.reports": [G(f"{M}/reports", MANAGER_PAGE)],
    "manage.staff_report": [G(f"{M}/reports/staff", MANAGER_PAGE)],
    "manage.report_export": [G(f"{M}/reports/export?format=csv", MANAGER_PAGE)],
    "manage.audit_log": [G(f"{M}/audit", ADMIN_PAGE)],
    "manage.devices_page": [G(f"{M}/devices", ADMIN_PAGE)],
    "manage.device_pair": [P(f"{M}/devices/pair", ADMIN_PAGE, form={"kind": "kiosk"})],
    "manage.device_revoke": [
        P(f"{M}/devices/999999/revoke", ADMIN_PAGE, form={}, note="unknown device: 404")
    ],
    "manage.device_code_cancel": [
        P(f"{M}/devices/codes/999999/cancel", ADMIN_PAGE, form={}, note="unknown code: 404")
    ],
    "manage.audit_export": [G(f"{M}/audit/export?format=csv", ADMIN_PAGE)],
    "manage.calendar": [G(f"{M}/calendar", MANAGER_PAGE)],
    "manage.calendar_add": [P(f"{M}/calendar/add", ADMIN_PAGE, form={})],
    "manage.calendar_import": [P(f"{M}/calendar/import", ADMIN_PAGE, form={"lines": ""})],
    "manage.calendar_remove": [
        P(f"{M}/calendar/999999/delete", ADMIN_PAGE, form={}, note="unknown entry: 404")
    ],
    "manage.departments": [G(f"{M}/departments", MANAGER_PAGE)],
    "manage.department_new": [
        G(f"{M}/departments/new", MANAGER_PAGE),
        P(f"{M}/departments/new", MANAGER_PAGE, form={}, note="empty form: 400"),
    ],
    "manage.department_edit": [
        G(f"{M}/departments/{{dept_id}}", MANAGER_PAGE),
        P(f"{M}/departments/{{dept_id}}", MANAGER_PAGE, form={}, note="empty form: 400"),
    ],
    "manage.department_delete": [
        P(f"{M}/departments/999999/delete", MANAGER_PAGE, form={}, note="unknown: 404")
    ],
    "manage.matters": [G(f"{M}/matters", MANAGER_PAGE)],
    "manage.matter_new": [
        G(f"{M}/matters/new", MANAGER_PAGE),
        P(f"{M}/matters/new", MANAGER_PAGE, form={}, note="empty form: 400"),
    ],
    "manage.matter_edit": [
        G(f"{M}/matters/{{matter_id}}", MANAGER_PAGE),
        P(f"{M}/matters/{{matter_id}}", MANAGER_PAGE, form={}, note="empty form: 400"),
    ],
    "manage.matter_active": [
        P(f"{M}/matters/{{spare_matter_id}}/active", MANAGER_PAGE, form={"active": "1"})
    ],
    "manage.material_new": [
        G(f"{M}/matters/{{matter_id}}/materials/new", MANAGER_PAGE),
        P(f"{M}/matters/{{matter_id}}/materials/new", MANAGER_PAGE, form={}),
    ],
    "manage.material_edit": [
        G(f"{M}/matters/{{matter_id}}/materials/{{material_id}}", MANAGER_PAGE),
        P(f"{M}/matters/{{matter_id}}/materials/{{material_id}}", MANAGER_PAGE, form={}),
    ],
    "manage.material_delete": [
        P(f"{M}/matters/{{matter_id}}/materials/999999/delete", MANAGER_PAGE, form={})
    ],
    "manage.material_move": [
        P(
            f"{M}/matters/{{matter_id}}/materials/{{material_id}}/move",
            MANAGER_PAGE,
            form={"direction": "sideways"},
            note="no such direction: nothing moves",
        )
    ],
    "manage.queues": [G(f"{M}/queues", MANAGER_PAGE)],
    "manage.queue_new": [
        G(f"{M}/queues/new", MANAGER_PAGE),
        P(f"{M}/queues/new", MANAGER_PAGE, form={}),
    ],
    "manage.queue_edit": [
        G(f"{M}/queues/{{queue_id}}", MANAGER_PAGE),
        P(f"{M}/queues/{{queue_id}}", MANAGER_PAGE, form={}),
    ],
    "manage.windows": [G(f"{M}/windows", MANAGER_PAGE)],
    "manage.window_edit": [
        G(f"{M}/windows/3", MANAGER_PAGE),
        P(f"{M}/windows/3", MANAGER_PAGE, form={}),
    ],
    "manage.spreadsheet": [G("/manage/catalog/spreadsheet", MANAGER_PAGE)],
    "manage.spreadsheet_template": [G("/manage/catalog/spreadsheet/template.csv", MANAGER_PAGE)],
    "manage.spreadsheet_export": [
        P("/manage/catalog/spreadsheet/export", MANAGER_PAGE, form={"format": "csv"})
    ],
    "manage.spreadsheet_import": [
        P("/manage/catalog/spreadsheet/import", MANAGER_PAGE, form={}, note="no file: 400")
    ],
    # ------------------------------------------------------------ JSON API v1
    "api.openapi": [G("/api/v1/openapi.json", PUBLIC)],
    "api.halls": [G("/api/v1/halls", PUBLIC)],
    "api.hall_board": [G("/api/v1/halls/demo/board", PUBLIC)],
    "api.list_matters": [G("/api/v1/matters?q=hk", PUBLIC)],
    "api.show_matter": [G("/api/v1/matters/GA-003", PUBLIC)],
    "api.issue_ticket": [
        P("/api/v1/tickets", API_ISSUE, json={"hall": "demo", "queue": "A"}),
        P(
            "/api/v1/tickets",
            {**API_ISSUE, **dict.fromkeys(("kiosk", "colleague", "staff", "manager"), E403)}
            | {"other_hall": OK, "admin": E403},
            json={"hall": "east", "queue": "A"},
            note="a demo kiosk or account issuing in east: 403; east's own staff: 404 no queue",
        ),
    ],
    "api.show_ticket": [G("/api/v1/tickets/{ticket_called}", API_STAFF)],
    "api.call_next": [
        P(
            "/api/v1/halls/demo/windows/3/call-next",
            API_ON_DUTY,
            note="window 3 is busy: 409 for staff1",
        )
    ],
    "api.window_status": [
        P(
            "/api/v1/halls/demo/windows/3/status",
            API_ON_DUTY_OR_MANAGER,
            json={"status": "bogus"},
            note="an unknown status: 400 once allowed",
        ),
        P(
            "/api/v1/halls/demo/windows/7/status",
            API_STAFF,
            json={"status": "bogus"},
            note="nobody on duty at window 7: any staff of the hall may sign in there",
        ),
    ],
    "api.ticket_action": [
        P("/api/v1/tickets/{ticket_called}/recall", API_ON_DUTY, json={"window": 3}),
        P("/api/v1/tickets/{ticket_called}/no-show", API_ON_DUTY, json={"window": 2}),
        P("/api/v1/tickets/{ticket_called}/start", API_ON_DUTY, json={"window": 2}),
        P(
            "/api/v1/tickets/{ticket_called}/finish",
            API_ON_DUTY,
            json={"window": 3, "outcomes": "none"},
        ),
    ],
    "api.transfer": [
        P("/api/v1/tickets/{ticket_called}/transfer", API_ON_DUTY, json={"window": 3})
    ],
    "api.return_ticket": [
        P("/api/v1/tickets/{ticket_no_show}/return", API_ON_DUTY_OR_MANAGER, json={})
    ],
    "api.list_cases": [G("/api/v1/cases", API_STAFF_OWN_HALL)],
    "api.show_case": [G("/api/v1/cases/{case_print}", API_STAFF)],
    "api.pause_case": [
        P(
            "/api/v1/cases/{case_pause}/pause",
            API_CASE_OWNER,
            json={"kind": "correction", "reason": "缺少户口簿原件"},
        )
    ],
    "api.resume_case": [P("/api/v1/cases/{case_resume}/resume", API_CASE_OWNER, json={})],
    "api.complete_case": [
        P("/api/v1/cases/{case_complete}/complete", API_CASE_OWNER, json={"result": "准予"})
    ],
    "api.rates": [G("/api/v1/rates", API_STAFF_OWN_HALL)],
    "api.reports": [G("/api/v1/reports", API_MANAGER)],
}

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


# ---------------------------------------------------------------- the world


class World:
    """The demo hall, a second hall `east` with its staff member, and one client per identity."""

    def __init__(self, app, passwords: dict[str, str]):
        self.app = app
        self.passwords = {**passwords, "eastie": EAST_PASSWORD}
        self._east()
        open_windows(app, 1, 2, 3)
        self.tokens = {name: _token(app, username=user) for name, user in USERS.items()}
        self.tokens["kiosk"] = _token(app, device_kind="kiosk", hall_code="demo")
        self.tokens["display"] = _token(app, device_kind="display", hall_code="demo")
        self.values = self._seed()
        self.clients = {who: self._client(who) for who in IDENTITIES}

    def _east(self) -> None:
        from hall.auth import add_user
        from hall.models import Hall, Window

        with self.app.app_context():
            east = Hall(code="east", name="东区政务服务中心", timezone="Asia/Shanghai")
            db.session.add(east)
            db.session.flush()
            db.session.add(Window(hall_id=east.id, number=1, name="综合受理", status="closed"))
            add_user(db.session, "eastie", EAST_PASSWORD, role="staff", hall=east)
            db.session.commit()

    def _api(self, method: str, url: str, json=None, who: str = "staff"):
        client = self.app.test_client()
        response = client.open(url, method=method, json=json, headers=auth(self.tokens[who]))
        assert response.status_code < 300, (url, response.status_code, response.json)
        return response.json

    def _seed(self) -> dict:
        from hall.models import Department, Material, Matter, Queue

        for queue in "BBBAA":
            self._api("POST", "/api/v1/tickets", {"hall": "demo", "queue": queue}, who="kiosk")
        called = self._api("POST", "/api/v1/halls/demo/windows/3/call-next")["ticket"]
        accepted = {"matter": "GA-003", "outcome": "accepted", "applicant_name": "张小三"}
        cases = self._api(
            "POST",
            f"/api/v1/tickets/{called['id']}/finish",
            {"window": 3, "outcomes": [accepted] * 4},
        )["cases"]
        pause, resume, complete, printed = (case["number"] for case in cases)
        self._api("POST", f"/api/v1/cases/{resume}/pause", {"kind": "correction", "reason": "补"})
        at_three = self._api("POST", "/api/v1/halls/demo/windows/3/call-next")["ticket"]
        at_two = self._api("POST", "/api/v1/halls/demo/windows/2/call-next")["ticket"]
        self._api("POST", f"/api/v1/tickets/{at_two['id']}/no-show", {"window": 2})
        with self.app.app_context():
            matter = db.session.scalar(sa.select(Matter).where(Matter.code == "GA-003"))
            spare = db.session.scalar(
                sa.select(Matter).where(Matter.active.is_(True)).order_by(Matter.id.desc())
            )
            material = db.session.scalar(
                sa.select(Material).where(Material.matter_id == matter.id).limit(1)
            )
            department = db.session.get(Department, matter.department_id)
            queue = db.session.scalar(sa.select(Queue).where(Queue.prefix == "B"))
            values = {
                "matter_id": matter.id,
                "spare_matter_id": spare.id,
                "material_id": material.id,
                "dept_id": department.id,
                "dept_code": department.code,
                "queue_id": queue.id,
            }
        values.update(
            ticket_called=at_three["id"],
            ticket_token=at_three["token"],
            ticket_no_show=at_two["id"],
            case_pause=pause,
            case_resume=resume,
            case_complete=complete,
            case_print=printed,
            verify_token=cases[3]["verify_url"].rsplit("/", 1)[-1],
        )
        return values

    def _client(self, who: str):
        client = self.app.test_client()
        # one address per identity: sign-in rate limits count per client address
        client.environ_base["REMOTE_ADDR"] = f"10.9.0.{IDENTITIES.index(who) + 1}"
        if who in USERS:
            html = client.get("/counter/login").get_data(as_text=True)
            response = client.post(
                "/counter/login",
                data={
                    "csrf_token": CSRF_FIELD.search(html).group(1),
                    "username": USERS[who],
                    "password": self.passwords[USERS[who]],
                },
            )
            assert response.status_code == 302, (who, response.status_code)
        if who in DEVICES:  # a paired device keeps its key in the HttpOnly cookie
            client.set_cookie("hall_device", self.tokens[who])
        page = client.get("/pair").get_data(as_text=True)
        client.csrf = CSRF_FIELD.search(page).group(1)
        return client

    def headers(self, who: str, url: str) -> dict:
        """Devices send their token everywhere; users send theirs to the API only."""
        token = self.tokens.get(who)
        if token and (who in DEVICES or url.startswith("/api/")):
            return auth(token)
        return {}

    def send(self, who: str, req: Req):
        url = req.url.format(**self.values)
        client = self.clients[who]
        if req.url == "/counter/logout":  # sign out a copy of the session, not the client
            copy = self.app.test_client()
            copy.environ_base.update(client.environ_base)
            cookie = client.get_cookie("session")
            if cookie is not None:
                copy.set_cookie("session", cookie.value)
            copy.csrf = client.csrf
            client = copy
        headers = {**self.headers(who, url), "X-CSRFToken": client.csrf}
        if not url.startswith("/api/"):
            headers["Accept"] = BROWSER_ACCEPT  # pages are asked for as a browser asks
        if req.json is not None:
            return client.open(url, method=req.method, json=req.json, headers=headers)
        if req.method == "POST":
            form = {k: v.format(who=who, **self.values) for k, v in (req.form or {}).items()}
            data = {**form, "csrf_token": client.csrf}
            return client.open(url, method="POST", data=data, headers=headers)
        return client.open(url, method=req.method, headers=headers)


def outcome(response) -> str:
    """What the answer means for the matrix."""
    if response.status_code >= 500:
        return f"server error {response.status_code}"
    if response.status_code == 429:
        return "rate limited"
    if response.status_code in (401, 403):
        return str(response.status_code)
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.headers.get("Location", "")
        if re.match(r"^(https?://[^/]+)?/counter/login(\?|$)", location):
            return LOGIN
        if re.match(r"^(https?://[^/]+)?/pair(\?|$)", location):
            return PAIR
    return OK


@pytest.fixture(scope="module")
def world(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("matrix") / "hall.sqlite3"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", HALL_REQUIRE_PAIRING=True)
    passwords = load_demo(app)
    yield World(app, passwords)
    dispose(app)


# ---------------------------------------------------------------- the tests


def test_every_route_is_in_the_matrix(world):
    """A route added without an entry (or an entry left for a removed route) fails here."""
    endpoints = {rule.endpoint for rule in world.app.url_map.iter_rules()}
    missing = endpoints - set(TABLE) - set(EXCLUDED)
    stale = (set(TABLE) | set(EXCLUDED)) - endpoints
    assert not missing, f"routes without a row in the role matrix: {sorted(missing)}"
    assert not stale, f"matrix rows for routes that no longer exist: {sorted(stale)}"
    for endpoint, requests in TABLE.items():
        assert requests, endpoint
        for req in requests:
            assert set(req.expect) == set(IDENTITIES), endpoint
    methods = {
        (rule.endpoint, method)
        for rule in world.app.url_map.iter_rules()
        if rule.endpoint in TABLE
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    tried = {(endpoint, req.method) for endpoint, reqs in TABLE.items() for req in reqs}
    assert methods <= tried, f"methods without a request: {sorted(methods - tried)}"


@pytest.mark.parametrize("endpoint", sorted(TABLE))
def test_role_matrix(world, endpoint):
    """Each identity gets exactly the outcome the table gives, for every request of a route."""
    wrong = []
    for req in TABLE[endpoint]:
        for who in IDENTITIES:
            response = world.send(who, req)
            got = outcome(response)
            if got != req.expect[who]:
                body = response.get_data(as_text=True)[:160].replace("\n", " ")
                wrong.append(
                    f"{req.method} {req.url} as {who}: expected {req.expect[who]}, "
                    f"got {got} ({response.status_code} {body!r})"
                )
    assert not wrong, "\n".join(wrong)
