"""Two workarounds for costs in WeasyPrint's PDF writer that a pack pays for nothing, installed once
(``install``) by ``packs.render``; each leaves the PDF's pages the same, pixel for pixel.

- **Images.** For a PNG, WeasyPrint decodes the image with Pillow, encodes it again as a PNG and keeps
  that PNG's compressed data (PDF's Flate filter with PNG predictors reads it as it is). A pack's charts
  are already 8-bit, non-interlaced PNGs (``charts.png_bytes``), so their compressed data is used as it is.
  Any other image goes WeasyPrint's way.
- **Page references.** A tagged PDF (``render.PDF_VARIANT``) names the page of every tagged element;
  pydyf's ``PDF.page_references`` rebuilds the list of every page's reference on each call, thousands of
  calls a pack. The list is kept until a page is added.

Together they take writing a national unit pack's PDF (19 measures, 10 pages) from 0.31–0.33 s of CPU to
0.22–0.23 s; a whole pack, as a worker renders it, takes 2–6% less CPU. The PDFs are about 5% larger (the charts'
level-1 compression is kept).

Both replace a private detail (``RasterImage._get_png_data``, ``PDF.page_references``), so ``install``
only replaces what it finds and reports what it installed; ``tests/test_pdf_speedups.py`` checks that both
are in place with the WeasyPrint and pydyf installed, so an upgrade that moves them is noticed.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any

import pydyf
from weasyprint import images

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_installed: set[str] = set()


def install() -> frozenset[str]:
    """Install both workarounds (once per process); the names of those in place."""
    if "png" not in _installed and callable(getattr(images.RasterImage, "_get_png_data", None)):
        images.RasterImage._get_png_data = staticmethod(_png_data(images.RasterImage._get_png_data))
        _installed.add("png")
    if "page_references" not in _installed and isinstance(getattr(pydyf.PDF, "page_references", None), property):
        pydyf.PDF.page_references = property(_page_references)
        _installed.add("page_references")
    return frozenset(_installed)


def png_idat(data: bytes) -> bytes | None:
    """The compressed image data of a PNG that PDF's Flate filter with PNG predictors reads as it is: 8 bits
    a sample, greyscale or RGB, not interlaced (WeasyPrint writes those as 8-bit ``DeviceGray`` or ``DeviceRGB``
    with ``Predictor`` 15); None for any other PNG, or bytes that are not one."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    bit_depth, colour_type, _, _, interlace = struct.unpack(">BBBBB", data[24:29])
    if bit_depth != 8 or colour_type not in (0, 2) or interlace != 0:
        return None
    chunks, position = [], 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"IDAT":
            chunks.append(data[position + 8:position + 8 + length])
        elif kind == b"IEND":
            break
        position += 12 + length
    return b"".join(chunks) or None


def _png_data(original: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def png_data(pillow_image: Any) -> bytes:
        source = getattr(pillow_image, "fp", None)
        if getattr(pillow_image, "format", None) == "PNG" and pillow_image.mode in ("L", "RGB") \
                and isinstance(source, io.BytesIO):
            idat = png_idat(source.getvalue())
            if idat is not None:
                return idat
        return original(pillow_image)
    return png_data


def _page_references(pdf: Any) -> tuple[bytes, ...]:
    """Every page's reference (``b"12 0 R"``), in page order, rebuilt only when the page list has grown."""
    kids: list[Any] = pdf.pages["Kids"]  # [number, 0, "R"] for each page
    cached: tuple[list[Any], int, tuple[bytes, ...]] | None = pdf.__dict__.get("_compstat_page_references")
    if cached is None or cached[0] is not kids or cached[1] != len(kids):
        cached = (kids, len(kids), tuple(f"{number} 0 R".encode("ascii") for number in kids[::3]))
        pdf.__dict__["_compstat_page_references"] = cached
    return cached[2]
