"""printouts: PDFs and QR codes from plain data (ticket slip, …); imports neither flask nor hall.

Ships its CJK font (WenQuanYi Micro Hei, embedded in every PDF) in ``printouts/fonts``.
"""

from printouts.errors import PrintoutError
from printouts.font import cjk_font
from printouts.qr import draw_qr, qr_matrix, qr_svg
from printouts.slip import ticket_slip

__all__ = ["PrintoutError", "cjk_font", "draw_qr", "qr_matrix", "qr_svg", "ticket_slip"]
