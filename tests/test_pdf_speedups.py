"""The PDF writer's workarounds (``packs.pdf_speedups``): in place, and the PDF's images and page
references the same as WeasyPrint and pydyf make them on their own."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pydyf
import pytest
from PIL import Image
from pypdf import PdfReader
from weasyprint import images

from compstat.packs import pdf_speedups
from compstat.packs.charts import _chunk, png_bytes
from compstat.packs.render import html_to_pdf, templates_dir


def _pixels(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Flat colour with noisy blocks: rows that PNG's adaptive filters encode differently."""
    rng = np.random.default_rng(seed)
    pixels = np.full(shape, 200, dtype=np.uint8)
    pixels[5:20, 3:40] = rng.integers(0, 256, size=(15, 37, *shape[2:]), dtype=np.uint8)
    return pixels


def _pillow_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")  # Pillow's adaptive filters: rows filtered Sub, Up, Average or Paeth
    return out.getvalue()


def test_both_workarounds_are_in_place_with_the_installed_weasyprint_and_pydyf() -> None:
    # If an upgrade renames either private detail, ``install`` skips it and this says so.
    assert pdf_speedups.install() == {"png", "page_references"}
    assert images.RasterImage._get_png_data.__module__ == "compstat.packs.pdf_speedups"
    assert pydyf.PDF.page_references.fget is pdf_speedups._page_references
    assert pdf_speedups.install() == {"png", "page_references"}  # a second install changes nothing


def test_page_references_are_every_page_in_order_and_follow_an_added_page() -> None:
    pdf = pydyf.PDF()
    for _ in range(3):
        pdf.add_page(pydyf.Dictionary({"Type": "/Page"}))
    numbers = [page.number for page in pdf.objects[1:] if isinstance(page, pydyf.Dictionary)
               and page.get("Type") == "/Page"]
    assert pdf.page_references == tuple(f"{n} 0 R".encode() for n in numbers)
    pdf.add_object(pydyf.Dictionary({}))  # another object between pages shifts the next page's number
    pdf.add_page(pydyf.Dictionary({"Type": "/Page"}))
    assert len(pdf.page_references) == 4
    assert pdf.page_references[-1] == f"{len(pdf.objects) - 1} 0 R".encode()


def test_png_idat_is_the_compressed_data_of_8_bit_grey_and_rgb_pngs_only() -> None:
    rgb = _pixels(1, (30, 50, 3))
    idat = pdf_speedups.png_idat(png_bytes(rgb))
    assert idat is not None
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(30, 1 + 50 * 3)
    assert (rows[:, 0] == 0).all() and (rows[:, 1:].reshape(30, 50, 3) == rgb).all()
    grey = _pixels(2, (30, 50))
    assert zlib.decompress(pdf_speedups.png_idat(png_bytes(grey)) or b"")[1:51] == grey[0].tobytes()
    # Declined: 16-bit, palette, with alpha, interlaced, not a PNG at all.
    sixteen = _pillow_png(Image.fromarray(grey.astype(np.uint16) * 257))
    assert sixteen[24] == 16 and pdf_speedups.png_idat(sixteen) is None
    assert pdf_speedups.png_idat(_pillow_png(Image.fromarray(rgb).convert("P"))) is None
    assert pdf_speedups.png_idat(_pillow_png(Image.fromarray(rgb).convert("RGBA"))) is None
    interlaced = bytearray(png_bytes(rgb))
    interlaced[28] = 1
    assert pdf_speedups.png_idat(bytes(interlaced)) is None
    assert pdf_speedups.png_idat(b"GIF89a" + bytes(40)) is None


def _png_16_bit_rgb(pixels: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (Pillow reads it as 8-bit ``RGB`` but cannot write one): each sample twice."""
    height, width = pixels.shape[:2]
    samples = (pixels.astype(">u2") * 257).reshape(height, width * 3).view(np.uint8)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), samples], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    data = zlib.compress(rows.tobytes())
    return b"".join([pdf_speedups.PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", data), _chunk(b"IEND", b"")])


@pytest.mark.parametrize("kind", ["chart rgb", "chart grey", "pillow rgb", "pillow grey", "16-bit rgb"])
def test_a_pdf_shows_each_image_pixel_for_pixel(tmp_path: Path, kind: str) -> None:
    """Read back by pypdf (its own Flate and PNG-predictor decoding), the image in the PDF is the one given,
    whether its data was used as it is (8-bit, any row filters) or WeasyPrint re-encoded it (16-bit, declined)."""
    shape = (30, 50, 3) if "rgb" in kind else (30, 50)
    pixels = _pixels(3, shape)
    if kind.startswith("chart"):
        png = png_bytes(pixels)
    elif kind.startswith("pillow"):
        png = _pillow_png(Image.fromarray(pixels))
    else:
        png = _png_16_bit_rgb(pixels)  # read as RGB by Pillow: only the PNG's header says 16 bits
        assert Image.open(io.BytesIO(png)).mode == "RGB" and pdf_speedups.png_idat(png) is None
    expected = np.asarray(Image.open(io.BytesIO(png)).convert("RGB" if "rgb" in kind else "L"))
    html_to_pdf('<p>image</p><img src="chart:x" alt="x" style="width: 50px">', tmp_path / "x.pdf", templates_dir(),
                {"chart:x": png})
    [shown] = PdfReader(tmp_path / "x.pdf").pages[0].images
    assert np.array_equal(np.asarray(shown.image), expected)
