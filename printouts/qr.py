"""QR codes as vector graphics: an SVG string for web pages, squares on a reportlab canvas.

Both draw the same module matrix as filled rectangles (runs of dark modules merged per row),
so the code stays crisp at any size and on any printer.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from printouts.errors import PrintoutError

QUIET_ZONE = 4  # modules of white border the QR standard asks for


def qr_matrix(data: str, *, border: int = 0) -> list[list[bool]]:
    """The QR module matrix of ``data`` (error correction M), True for dark modules."""
    if not isinstance(data, str) or not data:
        raise PrintoutError("QR data must be a non-empty string")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=border)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def _runs(matrix: list[list[bool]]):
    """(column, row, length) of each horizontal run of dark modules."""
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                yield start, y, x - start
            else:
                x += 1


def qr_svg(
    data: str,
    *,
    title: str | None = None,
    css_class: str | None = None,
    size: str | None = None,
    border: int = QUIET_ZONE,
) -> str:
    """An ``<svg>`` element of the QR code of ``data`` for inline use in HTML or as a file.

    The drawing is in module units (viewBox), so CSS or ``size`` (e.g. "240" or "100%")
    scales it without blur; the white background makes it readable on any page colour.
    """
    matrix = qr_matrix(data, border=border)
    n = len(matrix)
    path = "".join(f"M{x} {y}h{length}v1h-{length}z" for x, y, length in _runs(matrix))
    attrs = [
        'xmlns="http://www.w3.org/2000/svg"',
        f'viewBox="0 0 {n} {n}"',
        'shape-rendering="crispEdges"',
    ]
    if size:
        attrs += [f"width={quoteattr(size)}", f"height={quoteattr(size)}"]
    if css_class:
        attrs.append(f"class={quoteattr(css_class)}")
    if title:
        attrs += ['role="img"', f"aria-label={quoteattr(title)}"]
    label = f"<title>{escape(title)}</title>" if title else ""
    return (
        f"<svg {' '.join(attrs)}>{label}"
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path d="{path}" fill="#000"/></svg>'
    )


def draw_qr(canvas, data: str, x: float, y: float, size: float) -> None:
    """Draw the QR code of ``data`` as vector squares, lower-left corner at (x, y), ``size``
    points wide, without quiet zone (leave ``4 * size / modules`` of white around it)."""
    matrix = qr_matrix(data, border=0)
    n = len(matrix)
    module = size / n
    path = canvas.beginPath()
    for col, row, length in _runs(matrix):
        path.rect(x + col * module, y + size - (row + 1) * module, length * module, module)
    canvas.saveState()
    canvas.setFillColorRGB(0, 0, 0)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def qr_modules(data: str) -> int:
    """How many modules wide the QR code of ``data`` is (without quiet zone)."""
    return len(qr_matrix(data, border=0))
