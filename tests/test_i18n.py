"""Chinese first, English available: every wrapped string has its English, and ?lang=en works."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import hall

BUILD = Path(hall.__file__).parent / "translations" / "build.py"


def _build_module():
    spec = importlib.util.spec_from_file_location("hall_translations_build", BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_wrapped_string_has_an_english_translation():
    build = _build_module()
    missing = sorted(build.wrapped_strings() - set(build.read_pairs()))
    assert missing == [], f"add to hall/translations/en.tsv and run build.py: {missing}"


def test_the_compiled_catalogue_matches_en_tsv():
    from babel.messages.mofile import read_mo

    build = _build_module()
    mo = Path(hall.__file__).parent / "translations" / "en" / "LC_MESSAGES" / "messages.mo"
    with mo.open("rb") as handle:
        compiled = {m.id: m.string for m in read_mo(handle) if m.id}
    assert compiled == build.read_pairs(), "run python hall/translations/build.py"


def test_pages_are_chinese_by_default_and_english_on_request(client, demo):
    chinese = client.get("/display/demo").get_data(as_text=True)
    assert "等候人数" in chinese
    english = client.get("/display/demo?lang=en")
    assert "Waiting" in english.get_data(as_text=True)
    assert "lang=en" in english.headers.get("Set-Cookie", "")
    again = client.get("/display/demo").get_data(as_text=True)  # the cookie remembers it
    assert "Waiting" in again
