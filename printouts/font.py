"""The embedded CJK font: WenQuanYi Micro Hei, registered with reportlab once per process.

reportlab's built-in ``STSong-Light`` is not embedded and renders blank or as boxes without
the reader's Adobe-GB1 pack; a TrueType-outline font embeds (as a subset, FontFile2).
"""

from __future__ import annotations

import threading
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from printouts.errors import PrintoutError

FONT_NAME = "WenQuanYiMicroHei"
FONT_FILE = Path(__file__).resolve().parent / "fonts" / "wqy-microhei.ttc"

_lock = threading.Lock()
_registered = False


def cjk_font() -> str:
    """The name of the CJK font for canvases, registering it on first use (~80 ms, cached)."""
    global _registered
    if _registered:
        return FONT_NAME
    with _lock:
        if not _registered:
            try:
                pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_FILE), subfontIndex=0))
            except (OSError, TTFError) as err:
                raise PrintoutError(f"cannot load the CJK font {FONT_FILE}: {err}") from err
            _registered = True
    return FONT_NAME
