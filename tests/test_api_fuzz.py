"""Bad input: the JSON API fuzzed from its own OpenAPI document (schemathesis, in process, on
SQLite with the demo hall), and the catalogue and counter forms fed script tags, odd Unicode,
huge values and wrong types.

Every operation of /api/v1/openapi.json is fuzzed as a staff member on duty, an admin, a kiosk
and anonymously, with valid (positive) and invalid (negative) data, against random and real
path parameters (the demo hall, its windows, tickets and cases). Checks: never a 5xx; every 4xx
a JSON body with a string `error` code; every documented response conforms to its schema.
Bounded for CI: a fixed seed (derandomized) and MAX_EXAMPLES cases per operation and identity.
"""

from __future__ import annotations

import re
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from hall.api.openapi import document
from tests.conftest import _token, auth, dispose, load_demo, make_app, open_windows

MAX_EXAMPLES = 25
OPERATIONS = [
    (method.upper(), path)
    for path, item in document()["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete")
]
IDENTITIES = ("staff", "admin", "kiosk", "anonymous")
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def error_has_a_code(ctx, response, case) -> bool | None:
    """Every 4xx answer of the API is JSON {"error": code, "message": …} (never HTML)."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"{response.status_code} answer is not JSON: {response.text[:200]!r}"
        ) from None
    assert isinstance(body, dict), f"{response.status_code} answer is not an object: {body!r}"
    assert isinstance(body.get("error"), str) and body["error"], f"no error code: {body!r}"
    assert isinstance(body.get("message"), str), f"no message: {body!r}"
    return None


CHECKS = [not_a_server_error, response_schema_conformance, error_has_a_code]


# ---------------------------------------------------------------- the app under fuzz


class Fuzzed:
    """The demo hall with tickets in every state and open cases, its tokens and schema."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        open_windows(app, 1, 2, 3)
        self.tokens = {
            "staff": _token(app, username="staff1"),
            "admin": _token(app, username="admin"),
            "kiosk": _token(app, device_kind="kiosk", hall_code="demo"),
            "anonymous": None,
        }
        self.ticket_ids: list[int] = []
        self.case_numbers: list[str] = []
        self._seed()
        self.schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)

    def post(self, url: str, json=None, who: str = "staff"):
        response = self.client.post(url, json=json, headers=auth(self.tokens[who]))
        assert response.status_code < 300, (url, response.status_code, response.json)
        return response.json

    def _seed(self) -> None:
        for queue in "ABBCAD":
            ticket = self.post("/api/v1/tickets", {"hall": "demo", "queue": queue}, who="kiosk")
            self.ticket_ids.append(ticket["id"])
        # window 3 serves B: call one and finish it with an accepted case and a spot case
        called = self.post("/api/v1/halls/demo/windows/3/call-next")["ticket"]
        finished = self.post(
            f"/api/v1/tickets/{called['id']}/finish",
            {
                "window": 3,
                "outcomes": [
                    {"matter": "GA-003", "outcome": "accepted", "applicant_name": "张小三"},
                    {"matter": "GA-004", "outcome": "on_the_spot"},
                ],
            },
        )
        self.case_numbers = [case["number"] for case in finished["cases"]]
        self.post("/api/v1/halls/demo/windows/3/call-next")  # one called, left at window 3
        self.post("/api/v1/halls/demo/windows/1/call-next")  # one called at window 1
        at_two = self.post("/api/v1/halls/demo/windows/2/call-next")["ticket"]  # one called …
        self.post(f"/api/v1/tickets/{at_two['id']}/no-show", {"window": 2})  # … a no-show

    def real_path_parameters(self) -> dict[str, list]:
        """Values that reach the views: real hall, windows, tickets, cases and matters."""
        return {
            "hall": ["demo"],
            "number": [*range(1, 9), *self.case_numbers],
            "id": self.ticket_ids,
            "code": ["GA-003", "BD-001", "GA-004"],
        }


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("fuzz") / "hall.sqlite3"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}")
    load_demo(app)
    yield Fuzzed(app)
    dispose(app)


def _strategy(fuzzed: Fuzzed, operation):
    """Random valid and invalid cases, and valid ones on real path parameters and hall."""
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    names = [p.name for p in operation.path_parameters]
    if names:
        real = fuzzed.real_path_parameters()
        choices = st.fixed_dictionaries({name: st.sampled_from(real[name]) for name in names})
        strategies.append(
            choices.flatmap(
                lambda values: operation.as_strategy(
                    GenerationMode.POSITIVE, path_parameters=values
                )
            )
        )

    def in_the_demo_hall(case):
        if isinstance(case.body, dict) and "hall" in case.body:
            case.body["hall"] = "demo"
        return case

    strategies.append(operation.as_strategy(GenerationMode.POSITIVE).map(in_the_demo_hall))
    return st.one_of(*strategies)


@pytest.mark.parametrize("who", IDENTITIES)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzz_operation(fuzzed, method, path, who):
    """No 5xx, every 4xx JSON with a code, documented answers conform to the document."""
    operation = fuzzed.schema[path][method]
    token = fuzzed.tokens[who]
    headers = auth(token) if token else {}

    @FUZZ_SETTINGS
    @given(case=_strategy(fuzzed, operation))
    def fuzz(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()


def test_the_document_loads_and_covers_every_api_route(fuzzed):
    """Schemathesis loads the document; every /api/v1 route (but the document) is in it."""
    documented = {
        (method, path) for method, path in OPERATIONS
    }  # e.g. ("POST", "/tickets/{id}/finish")
    assert len(list(fuzzed.schema.get_all_operations())) == len(OPERATIONS)
    for rule in fuzzed.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        path = path.replace("{ticket_id}", "{id}").replace("{hall_code}", "{hall}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if "{action}" in path:  # recall, no-show, start, finish: one route
                for action in ("recall", "no-show", "start", "finish"):
                    assert (method, path.replace("{action}", action)) in documented
            else:
                assert (method, path) in documented, f"{method} {path} is not documented"


# ---------------------------------------------------------------- regressions found by fuzzing


@pytest.mark.parametrize(
    ("method", "url"),
    [
        # SQLite: "Python int too large to convert to SQLite INTEGER" was a 500
        ("GET", "/api/v1/tickets/180020095060814992506880"),
        ("POST", "/api/v1/tickets/180020095060814992506880/recall"),
        ("POST", "/api/v1/tickets/9223372036854775808/transfer"),
        ("POST", "/api/v1/tickets/9223372036854775808/return"),
        ("POST", "/api/v1/halls/demo/windows/9223372036854775808/call-next"),
        ("POST", "/api/v1/halls/demo/windows/9223372036854775808/status"),
    ],
)
def test_huge_ids_are_404_not_500(fuzzed, method, url):
    response = fuzzed.client.open(
        url, method=method, json={"status": "open"}, headers=auth(fuzzed.tokens["admin"])
    )
    assert response.status_code == 404, response.json
    assert response.json["error"] == "not_found"


# ---------------------------------------------------------------- forms: markup, odd text, types

SCRIPT = "<script>alert(1)</script>"
ODD_TEXTS = {
    "script": SCRIPT,
    "attribute": '"><img src=x onerror=alert(1)>',
    "rtl_override": "部门\u202egnp.exe",
    "zero_width": "户\u200b籍\u200d科\ufeff",
    "emoji": "社保🙂👨‍👩‍👧",
    "nul": "税务\x00科",
    "huge": "长" * 10_000,
    "last_code_point": "\U0010ffff",
}
WRONG_NUMBERS = ["abc", "-1", "1e309", "99999999999999999999999", "", "\x00", "１２"]
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def forms(tmp_path_factory, sqlite_template):
    """The demo hall and a client signed in as its manager, with its CSRF token."""
    path = tmp_path_factory.mktemp("forms") / "hall.sqlite3"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}")
    passwords = load_demo(app)
    client = app.test_client()
    html = client.get("/counter/login").get_data(as_text=True)
    signed = client.post(
        "/counter/login",
        data={
            "csrf_token": CSRF_FIELD.search(html).group(1),
            "username": "manager",
            "password": passwords["manager"],
        },
    )
    assert signed.status_code == 302
    client.csrf = CSRF_META.search(client.get("/kiosk/demo").get_data(as_text=True)).group(1)
    yield app, client
    dispose(app)


def _post(client, url, data):
    return client.post(url, data={**data, "csrf_token": client.csrf}, headers=BROWSER)


def _no_live_markup(html: str, *, nul: bool = True) -> None:
    assert SCRIPT not in html and "<img src=x onerror" not in html
    if nul:
        assert "\x00" not in html


@pytest.mark.parametrize("kind", sorted(ODD_TEXTS))
def test_department_form_refuses_or_escapes_odd_text(forms, kind):
    app, client = forms
    text = ODD_TEXTS[kind]
    code = f"FZ{sorted(ODD_TEXTS).index(kind)}"
    response = _post(
        client,
        "/manage/demo/departments/new",
        {"code": code, "name": text, "functions": text, "sort_order": "1"},
    )
    assert response.status_code in (302, 400), response.status_code
    page = response.get_data(as_text=True)
    _no_live_markup(page)
    if kind == "huge":
        assert response.status_code == 400 and "100" in page  # the limit is named
    listing = client.get("/manage/demo/departments", headers=BROWSER).get_data(as_text=True)
    _no_live_markup(listing)
    if response.status_code == 302:
        public = client.get(f"/guide/departments/{code}", headers=BROWSER)
        assert public.status_code == 200
        _no_live_markup(public.get_data(as_text=True))
        if kind == "script":
            assert "&lt;script&gt;" in listing


@pytest.mark.parametrize("value", WRONG_NUMBERS)
def test_department_form_refuses_wrong_numbers(forms, value):
    app, client = forms
    response = _post(
        client,
        "/manage/demo/departments/new",
        {"code": "FZN", "name": "测试部门", "sort_order": value},
    )
    assert response.status_code in (302, 400), response.status_code
    if response.status_code == 302:  # only an empty value may pass (the default order)
        assert value == ""
        _post(client, "/manage/demo/departments/new", {})  # nothing else to clean


@pytest.mark.parametrize("kind", sorted(ODD_TEXTS))
def test_notice_form_refuses_or_escapes_odd_text(forms, kind):
    app, client = forms
    response = _post(client, "/manage/demo/notice", {"notice": ODD_TEXTS[kind]})
    assert response.status_code in (302, 400), response.status_code
    # a refused notice is shown again in its (escaped) text box, to be corrected
    _no_live_markup(response.get_data(as_text=True), nul=response.status_code != 400)
    if kind in ("huge", "nul"):  # refused with a message, the notice unchanged
        assert response.status_code == 400
    screen = client.get("/display/demo", headers=BROWSER).get_data(as_text=True)
    _no_live_markup(screen)
    manage = client.get("/manage/", headers=BROWSER).get_data(as_text=True)
    _no_live_markup(manage)


@pytest.mark.parametrize("kind", sorted(ODD_TEXTS))
def test_window_and_queue_forms_refuse_or_escape_odd_text(forms, kind):
    app, client = forms
    text = ODD_TEXTS[kind]
    window = _post(client, "/manage/demo/windows/8", {"name": text, "queues": "x"})
    queue = _post(client, "/manage/demo/queues/new", {"prefix": "Q", "name": text})
    for response in (window, queue):
        assert response.status_code in (302, 400), response.status_code
        _no_live_markup(response.get_data(as_text=True))
    for url in ("/manage/demo/windows", "/manage/demo/queues", "/display/demo/window/8"):
        _no_live_markup(client.get(url, headers=BROWSER).get_data(as_text=True))


@pytest.mark.parametrize("kind", sorted(ODD_TEXTS))
def test_login_form_with_odd_text_is_refused_not_echoed_raw(forms, kind):
    app, _client = forms
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.8.0.{sorted(ODD_TEXTS).index(kind) + 1}"
    html = client.get("/counter/login").get_data(as_text=True)
    response = client.post(
        "/counter/login",
        data={
            "csrf_token": CSRF_FIELD.search(html).group(1),
            "username": ODD_TEXTS[kind],
            "password": ODD_TEXTS[kind],
        },
        headers=BROWSER,
    )
    assert response.status_code in (400, 401, 429), response.status_code
    # the refused name is shown again in the form, escaped (a NUL in it is inert text)
    _no_live_markup(response.get_data(as_text=True), nul=False)


@pytest.mark.parametrize("kind", sorted(ODD_TEXTS))
def test_api_outcome_texts_are_refused_or_kept_as_text(fuzzed, kind):
    """An applicant's name with markup is JSON text in the API, never a 500."""
    text = ODD_TEXTS[kind]
    client = fuzzed.client
    token = fuzzed.tokens["kiosk"]
    issued = client.post(
        "/api/v1/tickets", json={"hall": "demo", "matter": text}, headers=auth(token)
    )
    assert issued.status_code in (400, 404), issued.status_code
    assert isinstance(issued.json["error"], str)
    case = client.post(
        f"/api/v1/cases/{fuzzed.case_numbers[0]}/pause",
        json={"kind": "correction", "reason": text},
        headers=auth(fuzzed.tokens["staff"]),
    )
    assert case.status_code < 500, case.json
