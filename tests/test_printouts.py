"""The printouts library read back as a person or a phone would: text, embedded font, QR code."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdf
import pytest
from PIL import Image, ImageDraw

import printouts
from printouts import PrintoutError, qr_svg, ticket_slip
from tests.conftest import need

TRACK_URL = "http://192.168.1.20:5000/t/Xy7_kq3LmN0pQr8s"
SLIP = {
    "hall_name": "示范区政务服务中心",
    "number": "A001",
    "queue_name": "综合受理",
    "matter_name": "不动产转移登记（二手房过户）",
    "priority": False,
    "waiting_ahead": 3,
    "estimated_wait_minutes": 15,
    "issued_at": "2026-03-02 09:15",
    "track_url": TRACK_URL,
}


def slip_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "".join(page.extract_text() for page in reader.pages)


def decode_qr(image: Image.Image) -> list[str]:
    try:
        import zxingcpp
    except ImportError:
        zxingcpp = None
    need(zxingcpp is not None, "zxing-cpp (the [test] extra) is needed to read QR codes back")
    return [code.text for code in zxingcpp.read_barcodes(image)]


def test_the_slip_carries_the_number_hall_queue_matter_wait_and_time_as_text():
    text = slip_text(ticket_slip(SLIP))
    for expected in ("A001", "示范区政务服务中心", "综合受理", "不动产转移登记", "前面还有 3 人"):
        assert expected in text
    assert "15 分钟" in text and "2026-03-02 09:15" in text
    assert "请留意叫号，过号请到服务台" in text
    assert "绿色通道" not in text


def test_a_priority_slip_is_marked_green_channel():
    assert "绿色通道" in slip_text(ticket_slip({**SLIP, "priority": True}))


def test_the_slip_is_80_mm_wide_and_about_a_receipt_long():
    page = pypdf.PdfReader(io.BytesIO(ticket_slip(SLIP))).pages[0]
    width_mm = float(page.mediabox.width) / 72 * 25.4
    height_mm = float(page.mediabox.height) / 72 * 25.4
    assert round(width_mm) == 80
    assert 95 <= height_mm <= 140


def test_a_long_matter_name_is_wrapped_not_cut():
    name = "城乡居民基本养老保险参保登记、缴费档次变更及个人账户一次性领取待遇申请"
    text = slip_text(ticket_slip({**SLIP, "matter_name": name}))
    assert name in text.replace("\n", "")


def test_every_font_in_the_slip_is_embedded_truetype():
    reader = pypdf.PdfReader(io.BytesIO(ticket_slip(SLIP)))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert fonts, "the slip uses no font"
    for font in fonts.values():
        font = font.get_object()
        if "/DescendantFonts" in font:
            font = font["/DescendantFonts"][0].get_object()
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, f"{font.get('/BaseFont')} is not embedded"
        assert "WenQuanYi" in str(font["/BaseFont"])


def test_the_printed_qr_code_reads_back_as_the_tracking_url(tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    need(pdftoppm is not None, "pdftoppm (poppler-utils) is needed to render the slip")
    pdf = tmp_path / "slip.pdf"
    pdf.write_bytes(ticket_slip(SLIP))
    subprocess.run([pdftoppm, "-r", "300", "-png", str(pdf), str(tmp_path / "page")], check=True)
    (png,) = sorted(tmp_path.glob("page*.png"))
    assert decode_qr(Image.open(png)) == [TRACK_URL]


def test_the_svg_qr_code_is_valid_svg_that_reads_back(tmp_path):
    svg = qr_svg(TRACK_URL, title="排队进度二维码", css_class="qr")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("shape-rendering") == "crispEdges" and root.get("class") == "qr"
    size = int(root.get("viewBox").split()[2])
    # draw the path's squares as a renderer would, at 10 px per module
    scale = 10
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    path = root.find("{http://www.w3.org/2000/svg}path").get("d")
    for x, y, length in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path):
        x, y, length = int(x), int(y), int(length)
        draw.rectangle(
            [x * scale, y * scale, (x + length) * scale - 1, (y + 1) * scale - 1], fill=0
        )
    assert decode_qr(image) == [TRACK_URL]


def test_svg_attributes_are_escaped():
    svg = qr_svg("x", title='"><script>')
    assert "<script>" not in svg
    ET.fromstring(svg)


@pytest.mark.parametrize(
    "change",
    [
        {"number": ""},
        {"number": None},
        {"hall_name": 5},
        {"track_url": ""},
        {"priority": "yes"},
        {"waiting_ahead": -1},
        {"waiting_ahead": True},
        {"estimated_wait_minutes": "15"},
        {"matter_name": 3},
        {"number": "A" * 40},
    ],
)
def test_bad_slip_data_raises_printout_error(change):
    with pytest.raises(PrintoutError):
        ticket_slip({**SLIP, **change})


def test_bad_slip_data_that_is_not_a_dict_raises_printout_error():
    with pytest.raises(PrintoutError):
        ticket_slip(["A001"])  # type: ignore[arg-type]


def test_optional_fields_may_be_left_out():
    minimal = {k: SLIP[k] for k in ("hall_name", "number", "queue_name", "issued_at", "track_url")}
    text = slip_text(ticket_slip(minimal))
    assert "A001" in text and "前面还有" not in text


def test_the_font_is_registered_once_per_process(monkeypatch):
    from reportlab.pdfbase import pdfmetrics

    ticket_slip(SLIP)
    calls = []
    monkeypatch.setattr(pdfmetrics, "registerFont", lambda *a, **k: calls.append(a))
    ticket_slip(SLIP)
    ticket_slip({**SLIP, "number": "B002"})
    assert calls == []
    assert printouts.cjk_font() == "WenQuanYiMicroHei"


def test_the_font_and_its_licence_ship_with_the_library():
    folder = Path(printouts.__file__).parent / "fonts"
    assert (folder / "wqy-microhei.ttc").stat().st_size > 4_000_000
    licence = (folder / "LICENSE-wqy-microhei.txt").read_text()
    assert "Apache License" in licence and "WenQuanYi" in licence


def test_printouts_imports_neither_flask_nor_hall():
    code = (
        "import sys, printouts\n"
        "printouts.ticket_slip({'hall_name': 'h', 'number': 'A1', 'queue_name': 'q',"
        " 'issued_at': 't', 'track_url': 'u'})\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'hall', 'sqlalchemy')]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
