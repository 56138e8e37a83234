"""The ticket slip (排队凭条): an 80 mm receipt-printer PDF, plain data in, bytes out."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from printouts.errors import PrintoutError
from printouts.font import cjk_font
from printouts.qr import QUIET_ZONE, draw_qr, qr_modules

PAGE_WIDTH = 80 * mm
MARGIN = 4 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
QR_SIZE = 30 * mm
NUMBER_SIZE = 46  # points; shrunk when a long number would not fit
NO_LINE_START = set("，。、；：？！）》」』】,.;:?!)")  # punctuation that must not begin a line

REQUIRED_TEXT = ("hall_name", "number", "queue_name", "issued_at", "track_url")
OPTIONAL_TEXT = ("matter_name",)
OPTIONAL_COUNT = ("waiting_ahead", "estimated_wait_minutes")


def _check(data: dict) -> dict:
    """The validated fields of a slip, or PrintoutError naming the bad one."""
    if not isinstance(data, dict):
        raise PrintoutError("slip data must be a dict")
    clean: dict = {}
    for name in REQUIRED_TEXT:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise PrintoutError(f"slip field {name!r} must be a non-empty string")
        clean[name] = value.strip()
    for name in OPTIONAL_TEXT:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise PrintoutError(f"slip field {name!r} must be a string or None")
        clean[name] = (value or "").strip()
    for name in OPTIONAL_COUNT:
        value = data.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise PrintoutError(f"slip field {name!r} must be a non-negative integer or None")
        clean[name] = value
    priority = data.get("priority", False)
    if not isinstance(priority, bool):
        raise PrintoutError("slip field 'priority' must be true or false")
    clean["priority"] = priority
    if len(clean["number"]) > 12:
        raise PrintoutError("slip field 'number' is too long for a ticket number")
    return clean


def _tokens(text: str) -> list[str]:
    """Break points: each CJK character alone, runs of Latin letters and digits together."""
    tokens: list[str] = []
    for char in text:
        if (
            tokens
            and char.isascii()
            and char.isalnum()
            and tokens[-1][-1:].isascii()
            and tokens[-1][-1:].isalnum()
        ):
            tokens[-1] += char
        else:
            tokens.append(char)
    return tokens


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy line breaking for Chinese (and the odd Latin word) within ``width`` points;
    closing punctuation stays at the end of the line it follows."""
    tokens: list[str] = []
    for token in _tokens(text):
        if len(token) > 1 and stringWidth(token, font, size) > width:
            tokens.extend(token)  # a word longer than the line is cut by characters
        else:
            tokens.append(token)
    lines: list[str] = []
    line = ""
    for token in tokens:
        fits = stringWidth(line + token, font, size) <= width
        if line and not fits and token not in NO_LINE_START:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


@dataclass
class _Layout:
    """Blocks stacked from the top: each knows its height and how to draw itself at a y."""

    blocks: list[tuple[float, Callable[[Canvas, float], None]]] = field(default_factory=list)

    def add(self, height: float, draw: Callable[[Canvas, float], None] | None = None) -> None:
        self.blocks.append((height, draw or (lambda canvas, top: None)))

    def space(self, height: float) -> None:
        self.add(height)

    @property
    def height(self) -> float:
        return sum(h for h, _ in self.blocks)

    def render(self, canvas: Canvas, page_height: float) -> None:
        top = page_height
        for height, draw in self.blocks:
            draw(canvas, top)
            top -= height


def _text(layout: _Layout, text: str, font: str, size: float, *, leading: float = 1.3) -> None:
    """Centred, wrapped text."""
    for line in wrap(text, font, size, CONTENT_WIDTH):

        def draw(canvas: Canvas, top: float, line=line) -> None:
            canvas.setFont(font, size)
            canvas.drawCentredString(PAGE_WIDTH / 2, top - size * 1.0, line)

        layout.add(size * leading, draw)


def _rule(layout: _Layout) -> None:
    """A dashed line across the slip, as receipts have."""

    def draw(canvas: Canvas, top: float) -> None:
        canvas.saveState()
        canvas.setLineWidth(0.6)
        canvas.setDash(2, 2)
        canvas.line(MARGIN, top - 2 * mm, PAGE_WIDTH - MARGIN, top - 2 * mm)
        canvas.restoreState()

    layout.add(4 * mm, draw)


def _priority_mark(layout: _Layout, font: str) -> None:
    """绿色通道: white text on a black band (receipt printers have one colour)."""
    size = 13
    label = "绿色通道 · 优先办理"

    def draw(canvas: Canvas, top: float) -> None:
        width = stringWidth(label, font, size) + 6 * mm
        canvas.saveState()
        canvas.setFillColorRGB(0, 0, 0)
        canvas.roundRect(
            (PAGE_WIDTH - width) / 2, top - 8 * mm, width, 7.5 * mm, 1.5 * mm, stroke=0, fill=1
        )
        canvas.setFillColorRGB(1, 1, 1)
        canvas.setFont(font, size)
        canvas.drawCentredString(PAGE_WIDTH / 2, top - 8 * mm + 2.3 * mm, label)
        canvas.restoreState()

    layout.add(10 * mm, draw)


def _number(layout: _Layout, number: str, font: str) -> None:
    """The ticket number, as big as fits the paper."""
    size = NUMBER_SIZE
    while size > 16 and stringWidth(number, font, size) > CONTENT_WIDTH:
        size -= 2

    def draw(canvas: Canvas, top: float) -> None:
        canvas.setFont(font, size)
        canvas.drawCentredString(PAGE_WIDTH / 2, top - size * 0.95, number)

    layout.add(size * 1.15, draw)


def _qr(layout: _Layout, url: str) -> None:
    """The QR code of the tracking page with its quiet zone around it."""
    quiet = QUIET_ZONE * QR_SIZE / qr_modules(url)

    def draw(canvas: Canvas, top: float) -> None:
        draw_qr(canvas, url, (PAGE_WIDTH - QR_SIZE) / 2, top - quiet - QR_SIZE, QR_SIZE)

    layout.add(QR_SIZE + 2 * quiet, draw)


def _wait_lines(ahead: int | None, minutes: int | None) -> list[str]:
    lines = []
    if ahead is not None:
        lines.append(f"前面还有 {ahead} 人")
    if minutes is not None:
        lines.append(f"预计等候约 {minutes} 分钟" if minutes > 0 else "预计很快叫到您")
    return lines


def ticket_slip(data: dict) -> bytes:
    """The 80 mm ticket slip PDF of one ticket (排队凭条).

    ``data``: hall_name, number (A001), queue_name, matter_name (optional), priority (bool),
    waiting_ahead, estimated_wait_minutes (ints, optional), issued_at (local time, already
    formatted), track_url (printed as a QR code). Raises PrintoutError for bad data.
    """
    slip = _check(data)
    font = cjk_font()
    layout = _Layout()
    layout.space(5 * mm)
    _text(layout, slip["hall_name"], font, 12)
    _rule(layout)
    _text(layout, "排队号码", font, 10)
    _number(layout, slip["number"], font)
    if slip["priority"]:
        _priority_mark(layout, font)
    _text(layout, f"业务类型：{slip['queue_name']}", font, 11)
    if slip["matter_name"]:
        _text(layout, f"办理事项：{slip['matter_name']}", font, 10)
    layout.space(1.5 * mm)
    for index, line in enumerate(
        _wait_lines(slip["waiting_ahead"], slip["estimated_wait_minutes"])
    ):
        _text(layout, line, font, 14 if index == 0 else 11)
    _text(layout, f"取号时间：{slip['issued_at']}", font, 10)
    _qr(layout, slip["track_url"])
    _text(layout, "手机扫码，随时查看排队进度", font, 9)
    _rule(layout)
    _text(layout, "请留意叫号，过号请到服务台", font, 11)
    layout.space(5 * mm)

    buffer = io.BytesIO()
    height = layout.height
    canvas = Canvas(
        buffer,
        pagesize=(PAGE_WIDTH, height),
        pageCompression=1,
        invariant=1,
        initialFontName=font,  # no unembedded Helvetica in the resources
    )
    canvas.setTitle(f"排队凭条 {slip['number']}")
    canvas.setAuthor(slip["hall_name"])
    canvas.setCreator("hall printouts")
    canvas.setSubject(slip["track_url"])
    layout.render(canvas, height)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
