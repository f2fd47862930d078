"""HTML → PDF: the Jinja environment, a locked-down URL fetcher, and parallel rendering.

Contexts are built in the parent process (``context.py``) and sent to worker processes,
which only fill the template and lay it out with WeasyPrint. The fetcher lets a pack load
``data:`` URLs and files inside the templates folder, and nothing else: text from the
data is autoescaped, and even markup that slipped through could not read local files or
reach the network.
"""

from __future__ import annotations

import mimetypes
import multiprocessing
import os
import posixpath
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from compstat.packs.context import PackContext, chair_pack, unit_pack
from compstat.packs.filters import FILTERS
from compstat.results import CycleData

TEMPLATES_ENV = "COMPSTAT_TEMPLATES"


@dataclass(frozen=True)
class RenderedPack:
    path: Path
    unit_code: str | None  # None for the chair's pack
    seconds: float


def templates_dir() -> Path:
    """The templates folder: ``$COMPSTAT_TEMPLATES`` if set, else the repository's ``templates/``."""
    override = os.environ.get(TEMPLATES_ENV)
    return Path(override).resolve() if override else Path(__file__).resolve().parents[2] / "templates"


class TemplatesOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """A WeasyPrint URL fetcher that serves ``data:`` URLs and files under ``root`` only.

    Anything else raises ``ValueError`` before any file or network access; WeasyPrint logs
    the refusal and renders the pack without that resource.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)
        self.root = Path(os.path.abspath(root))

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        path = self._template_file(url) if scheme == "file" else None
        if path is None:
            raise ValueError(f"refused {url[:80]!r}: packs load only data: URLs and files in {self.root}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})

    def _template_file(self, url: str) -> Path | None:
        """The file a ``file:`` URL names if it lies inside the templates folder, else None."""
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return None
        # Lexical check first, so a URL outside the folder never touches the file system.
        lexical = Path(posixpath.normpath(unquote(parts.path)))
        if not lexical.is_relative_to(self.root):
            return None
        real = lexical.resolve()  # a symlink inside the folder must not lead out of it
        if not real.is_relative_to(self.root.resolve()) or not real.is_file():
            return None
        return real


@lru_cache(maxsize=4)
def environment(folder: Path) -> jinja2.Environment:
    """The Jinja environment for a templates folder: autoescaped, strict, with the pack filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def render_html(template: str, folder: Path, **context: Any) -> str:
    return environment(folder).get_template(template).render(**context)


def html_to_pdf(html: str, target: Path, folder: Path) -> None:
    """Lay out ``html`` with WeasyPrint; relative URLs resolve against the templates folder."""
    document = HTML(string=html, base_url=f"{folder}/", url_fetcher=TemplatesOnlyFetcher(folder))
    document.write_pdf(target)


@dataclass(frozen=True)
class _Job:
    pack: PackContext
    target: Path
    folder: Path
    build_seconds: float


def _render(job: _Job) -> RenderedPack:
    start = time.perf_counter()
    html_to_pdf(render_html(job.pack.template, job.folder, pack=job.pack), job.target, job.folder)
    seconds = job.build_seconds + time.perf_counter() - start
    return RenderedPack(path=job.target, unit_code=job.pack.unit_code, seconds=round(seconds, 3))


def render_packs(data: CycleData, out_dir: Path, workers: int = 2) -> list[RenderedPack]:
    """One PDF per leaf unit (`pack-<unit_code>.pdf`, code made filename-safe) and `chair-pack.pdf`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = templates_dir()

    def jobs() -> Iterator[_Job]:
        builders = [partial(unit_pack, data, u) for u in data.config.leaf_units] + [partial(chair_pack, data)]
        for build in builders:
            start = time.perf_counter()
            pack = build()
            yield _Job(pack, out_dir / pack.filename, folder, time.perf_counter() - start)

    if workers <= 1:
        return [_render(job) for job in jobs()]
    # forkserver: workers start from a clean, single-threaded process with WeasyPrint
    # already imported, rather than forking a parent that may hold threads and locks.
    # Each job is submitted as soon as its context is built, so workers start while the
    # parent draws the next pack's charts.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", __name__])
    count = len(data.config.leaf_units) + 1
    with ProcessPoolExecutor(max_workers=min(workers, count), mp_context=ctx) as pool:
        futures = [pool.submit(_render, job) for job in jobs()]
        return [f.result() for f in futures]
