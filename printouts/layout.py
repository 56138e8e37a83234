"""Layout pieces shared by the A4 printouts (guide sheets, case documents, reports): reading
plain data, escaping text for reportlab's Paragraph markup, splitting long texts, a table
style in the embedded font, a captioned QR code and the body frame of a page."""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable, Frame, Paragraph, TableStyle

from printouts.font import cjk_font
from printouts.qr import QUIET_ZONE, draw_qr, qr_modules

EMPTY = "—"
PIECE = 300  # characters of one paragraph at most (long texts are cut at sentence ends)
SENTENCE_ENDS = "。；！？;!?"


def get(source: object, name: str, default: object = None) -> object:
    """A field of plain data: a mapping's key or an object's attribute."""
    if isinstance(source, Mapping):
        return source.get(name, default)
    return getattr(source, name, default)


def markup(text: str) -> str:
    """Paragraph markup of clean text: &, <, > escaped, line ends as <br/>."""
    return escape(text).replace("\n", "<br/>")


def fit(text: str, font: str, size: float, width: float) -> str:
    """One line of text, shortened with … to fit ``width`` points."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def para(text: str, style: ParagraphStyle, *, empty: str = EMPTY) -> Paragraph:
    """A paragraph of clean text (escaped), ``empty`` when there is none."""
    return Paragraph(markup(text or empty), style)


def pieces(line: str, size: int = PIECE) -> list[str]:
    """A long line cut after the last sentence end (or at ``size``) of each ``size``
    characters: short paragraphs keep line breaking and page splitting linear in time."""
    cut_up = []
    while len(line) > size:
        cut = max(line.rfind(mark, size // 2, size) for mark in SENTENCE_ENDS) + 1 or size
        cut_up.append(line[:cut])
        line = line[cut:]
    return [*cut_up, line]


def paras(text: str, style: ParagraphStyle, *, empty: str = EMPTY) -> list[Paragraph]:
    """One paragraph per line of a multi-line text, so long texts split between pages."""
    lines = [piece for line in text.split("\n") if line.strip() for piece in pieces(line.strip())]
    return [para(line, style) for line in lines] or [para("", style, empty=empty)]


def table_style(commands: list[tuple]) -> TableStyle:
    """A table style whose own text (if any) is in the embedded font, never Helvetica."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), cjk_font()), *commands])


def body_frame(x: float, y: float, width: float, height: float) -> Frame:
    """The frame the flowing content of a page goes in, without padding."""
    return Frame(
        x,
        y,
        width,
        height,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id="body",
    )


class QrCode(Flowable):
    """A QR code with its quiet zone, captioned below."""

    def __init__(
        self,
        url: str,
        size: float,
        caption: str,
        *,
        caption_size: float = 8,
        caption_leading: float = 1.5,
        ink: colors.Color = colors.black,
    ) -> None:
        super().__init__()
        self.url = url
        self.size = size
        self.caption = caption
        self.caption_size = caption_size
        self.ink = ink
        self.quiet = QUIET_ZONE * size / qr_modules(url)
        self.width = size + 2 * self.quiet
        self.caption_height = caption_size * caption_leading
        self.height = self.width + self.caption_height

    def wrap(self, avail_width, avail_height):
        return self.width, self.height

    def draw(self) -> None:
        draw_qr(self.canv, self.url, self.quiet, self.caption_height + self.quiet, self.size)
        self.canv.setFont(cjk_font(), self.caption_size)
        self.canv.setFillColor(self.ink)
        self.canv.drawCentredString(self.width / 2, self.caption_size * 0.35, self.caption)
