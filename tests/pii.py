"""The personal-number collector of the test suite (issue 7: "personal numbers never appear
unmasked in any page, PDF or log line produced by the test suite").

tests/conftest.py wires it: every response of every Flask app of the test process (test
clients and the threaded live servers that the browser tests use alike: `flask.request_finished`
is sent by any app) and every log record of the session are scanned as they are made; a hit
is kept with the test that produced it, and the run fails at its end when there is one
(test-artifacts/pii/leaks.txt lists them). The ``hall serve`` subprocesses of test_scaleout
and test_faults send their output to /dev/null and are not scanned (their log records go
through the same masking, hall.privacy).

What counts as a personal number: a mainland mobile number (1[3-9] and 9 more digits, maybe
written 138 0000 0000, not part of a longer number nor decimals), an ID number (17 digits and a digit or
X), and every such number written in the test sources (the phones the tests type in), even
inside a longer run of digits. Masked numbers (138****0000) have no such run.

Bodies are scanned as bytes with one precompiled pattern; a PDF as its text (reportlab
compresses its streams and prints CJK text as glyph codes: the raw bytes never hold the
digits), extracted by poppler's pdftotext (pypdf without it: ten times slower on the guide
booklets), an xlsx as the XML of its parts.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ARTIFACTS = TESTS.parent / "test-artifacts" / "pii"

# hall.privacy's patterns, as bytes: not inside longer numbers nor the decimals of a fraction
# (report pages carry ratios as 0.038901601830663615)
MOBILE = rb"(?:(?<=86)|(?<![0-9]))(?<![0-9]\.)1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])"
ID_NUMBER = rb"(?<![0-9])(?<![0-9]\.)[0-9]{17}[0-9Xx](?![0-9A-Za-z])"
_IN_SOURCE = re.compile(r"(?<![0-9])(?<![0-9]\.)(?:1[3-9][0-9]{9}|[0-9]{17}[0-9Xx])(?![0-9])")


def known_numbers(folder: Path = TESTS) -> set[str]:
    """The mobile and ID numbers written in the test sources (what the tests type in)."""
    found: set[str] = set()
    for path in folder.glob("*.py"):
        found.update(_IN_SOURCE.findall(path.read_text(encoding="utf-8")))
    return found


def compile_pattern(known: set[str]) -> re.Pattern[bytes]:
    """One pattern for everything: the generic numbers, then the known ones anywhere."""
    parts = [MOBILE, ID_NUMBER] + [re.escape(n.encode()) for n in sorted(known, key=len)[::-1]]
    return re.compile(b"|".join(parts))


PATTERN = compile_pattern(known_numbers())


PDFTOTEXT = shutil.which("pdftotext")  # poppler: ten times faster than pypdf on guides


def _pdf_text(body: bytes) -> bytes:
    if PDFTOTEXT:
        done = subprocess.run(
            [PDFTOTEXT, "-q", "-enc", "UTF-8", "-", "-"], input=body, capture_output=True
        )
        if done.returncode == 0:
            return done.stdout
    import pypdf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = pypdf.PdfReader(io.BytesIO(body))
        return "\n".join(page.extract_text() or "" for page in reader.pages).encode()


def _zip_text(body: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return b"\n".join(
            archive.read(name) for name in archive.namelist() if name.endswith((".xml", ".rels"))
        )


def readable(body: bytes, content_type: str = "") -> tuple[str, bytes]:
    """(kind, bytes to scan) of a response body: PDF text, the XML of an xlsx, else as is."""
    if body.startswith(b"%PDF"):
        return "pdf", _pdf_text(body)
    if body.startswith(b"PK\x03\x04"):
        return "zip", _zip_text(body)
    return "body", body


def scan(body: bytes, content_type: str = "", pattern: re.Pattern[bytes] = PATTERN) -> list[str]:
    """The unmasked personal numbers in a response body (PDF, xlsx, HTML, JSON, CSV …)."""
    _kind, data = readable(body, content_type)
    return [m.group(0).decode("ascii", "replace") for m in pattern.finditer(data)]


def scan_text(text: str, pattern: re.Pattern[bytes] = PATTERN) -> list[str]:
    """The unmasked personal numbers in a text (a log line)."""
    return [m.group(0).decode("ascii", "replace") for m in pattern.finditer(text.encode())]


@dataclass
class Collector:
    """What the session scanned and found."""

    test: str = "(outside a test)"
    leaks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"body": 0, "pdf": 0, "zip": 0, "log": 0, "skipped": 0}
    )
    seconds: float = 0.0
    report: Path | None = None  # test-artifacts/pii/leaks.txt once written
    slow: list[tuple[float, str]] = field(default_factory=list)  # scans over 50 ms

    def response(self, sender, response, **_extra) -> None:
        """flask.request_finished: scan the body the app sends (never disturbs it)."""
        started = time.perf_counter()
        body = None
        try:
            body = _body_of(response)
            if body is None:
                self.counts["skipped"] += 1
                return
            kind, data = readable(body, response.content_type or "")
            self.counts[kind] += 1
            hits = [m.group(0).decode("ascii", "replace") for m in PATTERN.finditer(data)]
            if hits:
                where = _where(sender)
                self.leaks.append(f"{self.test}: {kind} of {where}: {sorted(set(hits))}")
        except Exception as err:  # an unreadable body is reported, the test goes on
            self.errors.append(f"{self.test}: cannot scan a response: {err!r}")
        finally:
            spent = time.perf_counter() - started
            self.seconds += spent
            if spent > 0.05:
                self.slow.append((round(spent, 3), f"{_where(sender)} {len(body or b'')} bytes"))

    def log_line(self, text: str) -> None:
        started = time.perf_counter()
        self.counts["log"] += 1
        hits = scan_text(text)
        if hits:
            self.leaks.append(f"{self.test}: log line {text[:300]!r}: {sorted(set(hits))}")
        self.seconds += time.perf_counter() - started

    def summary(self) -> str:
        c = self.counts
        return (
            f"personal numbers: scanned {c['body']} bodies, {c['pdf']} PDFs, {c['zip']} xlsx, "
            f"{c['log']} log lines ({c['skipped']} file responses skipped) in "
            f"{self.seconds:.1f} s: {len(self.leaks)} unmasked, {len(self.errors)} unscannable"
        )

    def write(self) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / "leaks.txt"
        path.write_text(
            "\n".join(
                [self.summary(), *self.leaks, *self.errors, "slowest scans:"]
                + [f"  {s} s {where}" for s, where in sorted(self.slow, reverse=True)[:30]]
            )
            + "\n",
            encoding="utf-8",
        )
        return path


def _body_of(response) -> bytes | None:
    """The body of a response, without consuming it: a sequence as is, an in-memory file
    (send_file of an export) by its buffer; a file on disk (static files) is None."""
    if not response.direct_passthrough and response.is_sequence:
        return response.get_data()
    buffer = getattr(getattr(response, "response", None), "file", None)
    if isinstance(buffer, io.BytesIO):
        return buffer.getvalue()
    return None


def _where(sender) -> str:
    from flask import request

    try:
        return f"{request.method} {request.path}"
    except RuntimeError:
        return repr(sender)


class LogScanner(logging.Handler):
    """A handler on the root logger that hands every formatted record to the collector."""

    def __init__(self, collector: Collector) -> None:
        super().__init__(logging.NOTSET)
        self.collector = collector
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.collector.log_line(self.format(record))
        except Exception as err:
            self.collector.errors.append(f"{self.collector.test}: cannot scan a log: {err!r}")
