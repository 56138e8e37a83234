"""Build the English catalogue from en.tsv and en-*.tsv (Chinese source <TAB> English).

Chinese is the source language of every page: templates and code say `_('中文')`, and the
English catalogue translates from Chinese. Run after adding strings:

    python hall/translations/build.py          # writes en/LC_MESSAGES/messages.po and .mo
    python hall/translations/build.py --check  # lists wrapped strings that have no English
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SOURCES = ["hall", "kiosk", "display", "printouts"]
METHODS = [
    ("**/vendor/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
]


def read_pairs(folder: Path = HERE) -> dict[str, str]:
    """The translations: one `中文<TAB>English` pair a line; # starts a comment.

    en.tsv holds the core strings; each area may keep its own en-<area>.tsv (en-guide.tsv…).
    A string given two different translations is an error.
    """
    pairs: dict[str, str] = {}
    for path in sorted(folder.glob("en*.tsv")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            source, sep, english = line.partition("\t")
            if not sep or not english.strip():
                raise SystemExit(f"{path.name}:{number}: expected 中文<TAB>English")
            if pairs.get(source, english.strip()) != english.strip():
                raise SystemExit(f"{path.name}:{number}: {source!r} translated twice, differently")
            pairs[source] = english.strip()
    return pairs


def wrapped_strings() -> set[str]:
    """Every string wrapped for translation in the packages' code and templates."""
    found: set[str] = set()
    for package in SOURCES:
        folder = ROOT / package
        if not folder.exists():
            continue
        for _file, _line, message, _comments, _context in extract_from_dir(
            folder, METHODS, keywords={"_": None, "gettext": None, "lazy_gettext": None}
        ):
            if isinstance(message, tuple):
                found.update(m for m in message if m)
            elif message:
                found.add(message)
    return found


def build() -> Path:
    """Write the .po and the compiled .mo of the English catalogue."""
    catalog = Catalog(locale="en", project="hall", charset="utf-8")
    for source, english in sorted(read_pairs().items()):
        catalog.add(source, english)
    target = HERE / "en" / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "messages.po", "wb") as po:
        write_po(po, catalog, omit_header=False, sort_output=True)
    with open(target / "messages.mo", "wb") as mo:
        write_mo(mo, catalog)
    return target


def main() -> int:
    """Build, or with --check list what lacks English."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        missing = sorted(wrapped_strings() - set(read_pairs()))
        for message in missing:
            print(message)
        return 1 if missing else 0
    print(build())
    return 0


if __name__ == "__main__":
    sys.exit(main())
