"""HTML → PDF: the Jinja environment, a locked-down URL fetcher, and parallel rendering.

The cycle's data is pickled once into a file (``_payload_file``: in shared memory, ``/dev/shm``, when it has
room) that each worker process loads when it starts; a worker then builds each pack's context (``context/``,
charts included), fills the template and lays it out with WeasyPrint, so the parent does no per-pack work and every
core draws and lays out. Each process parses ``pack.css`` and sets up fonts once and
reuses them for every pack. The fetcher lets a pack load its own charts (``chart:<name>``,
served from memory), ``data:`` URLs and files inside the templates folder, and nothing else:
text from the data is autoescaped, and even markup that slipped through could not read local
files or reach the network. Given how to read the map points (``render_packs``' ``maps``), the run reads them
while the workers start on the CompStat sheets, which show none, and hands them over in a second file that a
worker loads before its first other pack: the reading then takes the core the sheets leave. The workers fork
from a forkserver that has imported WeasyPrint and matplotlib;
``start_render_server`` starts it early, so those imports overlap the cycle's steps before the packs.
A worker exits as soon as the run that started it ends, even by
``kill -9`` (``die_with``): a killed run leaves no process behind.

A pack whose input hash (``pack_inputs``, ``compstat.reuse``) matches the one an earlier run of the
period recorded is linked from that run's folder instead (``earlier``): the workers hash each pack's
context (without drawing its charts) before rendering it, so the check is spread over the cores too.

WeasyPrint's PDF writer re-encodes every chart and rebuilds a list of page references thousands of times a
pack; ``pdf_speedups`` spares both (the pages are the same).

Python's cyclic garbage collector is paused while a pack is made and run once after it, the worker's
long-lived objects frozen (``_collecting_once``): a 19-measure pack takes 29% less CPU.
"""

from __future__ import annotations

import ctypes
import gc
import mimetypes
import multiprocessing
import os
import pickle
import posixpath
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime
from functools import lru_cache, partial
from multiprocessing import forkserver
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import jinja2
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from compstat.errors import writing
from compstat.files import file_sha256
from compstat.hierarchy import divisions
from compstat.packs.charts import fingerprinting, recording
from compstat.packs.context import (
    Chart,
    PackContext,
    called_units,
    chair_pack,
    division_pack,
    pack_filenames,
    unit_pack,
    unit_sheet,
)
from compstat.packs.filters import FILTERS
from compstat.packs.pdf_speedups import install as install_pdf_speedups
from compstat.parallel import usable_cores
from compstat.resources import templates_dir
from compstat.results import CycleData
from compstat.reuse import PackRecord, Unhashable, code_version, digest, reuse_file
from compstat.safepaths import confined


@dataclass(frozen=True)
class RenderedPack:
    path: Path
    unit_code: str | None  # a unit's or division's code; None for the chair's pack
    seconds: float  # wall time in the worker: context, charts, HTML, PDF and the garbage collection after it
    cpu_seconds: float = 0.0  # the worker's CPU time for the pack (steadier than wall time on a busy machine)
    inputs: str | None = None  # the pack's input hash (``pack_inputs``); None: not hashable, never reused
    sha256: str = ""  # the PDF's
    reused: bool = False  # linked from the earlier run of the period, not rendered
    sheet: bool = False  # a unit's CompStat sheet (``packs.unit_packs: called``), not its full pack


class TemplatesOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """A WeasyPrint URL fetcher that serves the pack's own charts (``images``: URL → PNG bytes),
    ``data:`` URLs and files under ``root`` only.

    Anything else raises ``ValueError`` before any file or network access; WeasyPrint logs
    the refusal and renders the pack without that resource.
    """

    def __init__(self, root: Path, images: Mapping[str, bytes] | None = None) -> None:
        super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)
        self.root = Path(os.path.abspath(root))
        self.images = dict(images or {})

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        if url in self.images:
            return URLFetcherResponse(url, self.images[url], {"Content-Type": "image/png"})
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


STYLESHEET = "pack.css"
PDF_VARIANT = "pdf/ua-1"  # WeasyPrint's PDF/UA-1: PDF 1.7, tagged, with the pdfuaid XMP identifier
install_pdf_speedups()  # the PDF writer's two needless costs (``pdf_speedups``): the same pages, less CPU


@lru_cache(maxsize=4)
def _stylesheet(folder: Path, stamp: int) -> tuple[CSS, FontConfiguration]:
    """``pack.css`` parsed once per process (``stamp``, its mtime, refreshes the cache), with the
    font configuration it was parsed for; reusing both saves about a third of a pack's layout time."""
    fonts = FontConfiguration()
    css = CSS(string=(folder / STYLESHEET).read_text(encoding="utf-8"), base_url=f"{folder}/",
              url_fetcher=TemplatesOnlyFetcher(folder), font_config=fonts)
    return css, fonts


def html_to_pdf(html: str, target: Path, folder: Path, images: Mapping[str, bytes] | None = None) -> None:
    """Lay out ``html`` with WeasyPrint and the templates' ``pack.css``; relative URLs resolve
    against the templates folder and only go through ``TemplatesOnlyFetcher``, which also
    serves ``images`` (the pack's charts by their ``src``). The PDF is PDF/UA-1 (``PDF_VARIANT``): tagged,
    with a structure tree of headings, tables with header cells and each chart's alternative text, the
    document's language and title, and the PDF/UA identifier in its XMP metadata, so screen readers
    can read it. It costs no measurable time over tagging alone."""
    css, fonts = _stylesheet(folder, (folder / STYLESHEET).stat().st_mtime_ns)
    document = HTML(string=html, base_url=f"{folder}/", url_fetcher=TemplatesOnlyFetcher(folder, images))
    document.write_pdf(target, stylesheets=[css], font_config=fonts, pdf_variant=PDF_VARIANT)


@contextmanager
def _source_date_epoch(when: datetime) -> Iterator[None]:
    """Timestamps inside the PDF from the cycle's run time, unless ``SOURCE_DATE_EPOCH`` is
    already set: fontTools (WeasyPrint's fallback font subsetter) stamps fonts with it."""
    if "SOURCE_DATE_EPOCH" in os.environ:
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = str(int(when.timestamp()))  # a naive time is local time
    try:
        yield
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)


@dataclass(frozen=True)
class _Job:
    unit_code: str | None  # None for the chair's pack
    target: Path
    folder: Path
    earlier: tuple[Path, PackRecord] | None = None  # the period's earlier file of this pack and its record
    called: Mapping[str, str] | None = None  # with packs.unit_packs: called, the units with full packs
    leaf: bool = False  # an accountable unit's (a pack or a sheet), not a division's or the chair's

    @property
    def sheet(self) -> bool:
        """A leaf unit's CompStat sheet rather than its full pack."""
        return self.called is not None and self.unit_code is not None and self.unit_code not in self.called


class MapReader(Protocol):
    """Adds the map points (and the places tables' incidents) to the cycle's data (``cycle.with_maps``): the
    points of ``units`` only, or of every unit when None."""

    def __call__(self, data: CycleData, *, units: Collection[str] | None) -> CycleData: ...


_DATA: CycleData | None = None  # the cycle's data in a worker process (set by _start_worker)
_IN_WORKER = False
_MAPS: Path | None = None  # where the map points will be, while a worker's data has none yet (``render_packs``)
MAPS_WAIT = 0.05  # seconds between looks for the map points


def _start_worker(payload: str, parent: int, maps: str | None = None) -> None:
    global _DATA, _IN_WORKER, _MAPS
    die_with(parent)
    with open(payload, "rb") as file:
        _DATA, _IN_WORKER = pickle.load(file), True
    _MAPS = Path(maps) if maps else None
    gc.collect()
    gc.freeze()  # the cycle's data stays for the worker's life: no collection needs to scan it again


def _worker_data(job: _Job) -> CycleData:
    """The worker's data for ``job``: a pack other than a sheet waits for the map points the run is still
    reading (``render_packs``' ``maps``), loads them once and keeps them."""
    global _DATA, _MAPS
    assert _DATA is not None, "render worker started without the cycle's data"
    if _MAPS is None or job.sheet:
        return _DATA
    failed = _MAPS.with_suffix(".failed")
    while not _MAPS.exists():
        if failed.exists():
            raise RuntimeError(f"the run could not read the map points: {failed.read_text(encoding='utf-8')}")
        time.sleep(MAPS_WAIT)
    with open(_MAPS, "rb") as file:
        points, incidents = pickle.load(file)
    _DATA, _MAPS = replace(_DATA, points=points, incidents=incidents), None
    gc.collect()
    gc.freeze()
    return _DATA


@contextmanager
def _collecting_once() -> Iterator[None]:
    """Run a pack with the cyclic garbage collector paused, then collect once and freeze what survives.

    Laying out a pack makes hundreds of thousands of objects; with the collector on, Python runs a full
    collection or two during each pack that scans every object the process holds (the cycle's data,
    WeasyPrint's and matplotlib's caches), about 0.3 s of a 19-measure pack's 1.7 s of CPU. One
    collection after the pack scans only what the pack made, and freezing the survivors (caches) keeps
    them out of the next one. Memory is the same: a pack's garbage is freed when it ends. (In the
    run's own process, with one worker, the collector is only paused: nothing there is frozen.)"""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        if _IN_WORKER:
            gc.collect()
            gc.freeze()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent: int) -> None:
    """Make this process exit as soon as ``parent`` (the run that started the pool) ends, even by
    ``kill -9``: a daemon thread waits for it (a pidfd on Linux, else a check every second). A pool
    worker's own parent is the forkserver, which outlives the run while workers hold it open; Linux
    also kills the worker when that forkserver dies. With the workers gone, the forkserver and the
    resource tracker see their last client go and exit too."""
    if sys.platform == "linux":
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    threading.Thread(target=_exit_when_gone, args=(parent,), name="die-with-parent", daemon=True).start()


def _exit_when_gone(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # Linux 5.3+: readable once the process has ended
    except (AttributeError, OSError):  # no pidfd here, or the process is already gone
        while _alive(pid):
            time.sleep(1)
    else:
        select.select([fd], [], [])
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pack_images(context: object) -> dict[str, bytes]:
    """Every chart in a pack context (found through its dataclass fields and tuples), by ``src``."""
    found: dict[str, bytes] = {}
    if isinstance(context, Chart):
        found[context.src] = context.png
    elif is_dataclass(context) and not isinstance(context, type):
        for f in fields(context):
            found.update(pack_images(getattr(context, f.name)))
    elif isinstance(context, tuple):
        for item in context:
            found.update(pack_images(item))
    return found


def build_pack(data: CycleData, unit_code: str | None, called: Mapping[str, str] | None = None) -> PackContext:
    """The context of one unit's or division's pack, or of the chair's pack when ``unit_code`` is None.
    ``called``: the units the meeting calls (``agenda.called_units``), given when ``packs.unit_packs`` is
    ``called``: a leaf unit not among them gets its CompStat sheet (``context.sheet``), not the full pack."""
    if unit_code is None:
        return chair_pack(data)
    leaf = next((u for u in data.config.leaf_units if u.code == unit_code), None)
    if leaf is not None:
        return unit_pack(data, leaf) if called is None or unit_code in called else unit_sheet(data, leaf, called)
    division = next(u for u in divisions(data.config) if u.code == unit_code)
    return division_pack(data, division, pack_filenames(data.config)[unit_code])


RUN_TIME_FIELDS = frozenset({"run_at", "created"})  # the run time in a context (covers, ``cover.PageFrame``)


def pack_inputs(data: CycleData, unit_code: str | None, called: Mapping[str, str] | None = None) -> str | None:
    """The pack's input hash: its context (charts as their inputs, ``charts.fingerprinting``) without
    the run time, with ``reuse.code_version``; None when some value cannot be hashed canonically."""
    with fingerprinting():
        return _inputs_of(build_pack(data, unit_code, called))


def _inputs_of(pack: PackContext, charts: Mapping[bytes, bytes] | None = None) -> str | None:
    """``pack_inputs`` of a built context, its drawn charts hashed by their inputs (``charts.recording``)."""
    try:
        return digest(code_version(), pack, skip=RUN_TIME_FIELDS, substitute=charts)
    except Unhashable:
        return None


def _render(job: _Job, data: CycleData | None = None) -> RenderedPack:
    """One pack, reused or rendered; its times include the garbage collection after it (``_collecting_once``)."""
    start, cpu = time.perf_counter(), time.process_time()
    data = data or _worker_data(job)
    with _collecting_once():
        made = _reused(job, data) or _render_pack(job, data)
    return replace(made, seconds=round(time.perf_counter() - start, 3), cpu_seconds=round(time.process_time() - cpu, 3))


def _reused(job: _Job, data: CycleData) -> RenderedPack | None:
    """The pack as the period's earlier run made it, linked, if its inputs are unchanged; else None."""
    if job.earlier is None:
        return None
    before, record = job.earlier
    inputs = pack_inputs(data, job.unit_code, job.called)
    sha = reuse_file(record, inputs, before, job.target)
    if sha is None:
        return None
    return RenderedPack(job.target, job.unit_code, 0.0, inputs=inputs, sha256=sha, reused=True, sheet=job.sheet)


def _render_pack(job: _Job, data: CycleData) -> RenderedPack:
    with recording() as charts:
        pack = build_pack(data, job.unit_code, job.called)
    inputs = _inputs_of(pack, charts)
    with _source_date_epoch(data.run_at), writing(job.target):  # a full disk names the pack
        html_to_pdf(render_html(pack.template, job.folder, pack=pack), job.target, job.folder, pack_images(pack))
    return RenderedPack(path=job.target, unit_code=job.unit_code, seconds=0.0, inputs=inputs,
                        sha256=file_sha256(job.target), sheet=job.sheet)


def render_packs(data: CycleData, out_dir: Path, workers: int | None = None,
                 earlier: tuple[Path, Mapping[str, PackRecord]] | None = None,
                 maps: MapReader | None = None) -> list[RenderedPack]:
    """One PDF per leaf unit and per division (`pack-<unit_code>.pdf`, code made filename-safe) and
    `chair-pack.pdf`, returned in that order; ``workers`` processes (default: one per usable core).
    With ``packs.unit_packs: called``, a unit the meeting does not call (``agenda.called_units``) gets its
    CompStat sheet under the same name.
    ``earlier``: a folder of the period's earlier packs and what its manifest records of them
    (``reuse.earlier_packs``): a pack whose input hash is unchanged is linked from there, not rendered.
    ``maps``: adds the map points to ``data`` (``cycle.with_maps``), when ``data`` has none yet: those of the units
    with a full pack when some have sheets, which show no map, else of every unit. With sheets to make and workers
    to make them, the run reads the points while the workers start on the sheets and hands them over in a second
    file (``_render_all``); otherwise it reads them first."""
    workers = usable_cores() if workers is None else workers
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = templates_dir()
    names = pack_filenames(data.config)
    before, records = earlier if earlier is not None else (out_dir, {})
    called = called_units(data) if data.config.packs.unit_packs == "called" else None
    leaves = {u.code for u in data.config.leaf_units}

    def job(code: str | None, name: str) -> _Job:
        record = records.get(name)
        return _Job(code, confined(out_dir, name), folder, (before / name, record) if record else None,
                    called if code in leaves else None, code in leaves)


    jobs = [job(u.code, names[u.code]) for u in [*data.config.leaf_units, *divisions(data.config)]]
    jobs.append(job(None, "chair-pack.pdf"))
    return _render_all(jobs, data, workers, maps)


def _render_all(jobs: list[_Job], data: CycleData, workers: int,
                read_maps: MapReader | None = None) -> list[RenderedPack]:
    if not jobs:
        return []
    workers = min(workers, len(jobs))
    sheets = any(job.sheet for job in jobs)
    mapped = frozenset(str(job.unit_code) for job in jobs if job.leaf and not job.sheet) if sheets else None
    maps = None if read_maps is None else partial(read_maps, units=mapped)
    if maps is not None and (workers <= 1 or not sheets):
        data, maps = maps(data), None  # nothing to make without the points meanwhile
    if workers <= 1:
        return [_render(job, data) for job in jobs]
    with _payload_file(data) as payload:
        later = payload.with_name(payload.name.removesuffix(".pickle") + "-maps.pickle") if maps else None
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=_forkserver(), initializer=_start_worker,
                                     initargs=(str(payload), os.getpid(), str(later) if later else None)) as pool:
                order = longest_first(jobs) if later is None else sheets_while_reading(jobs)
                futures = {job.unit_code: pool.submit(_render, job) for job in order}
                try:
                    if maps is not None and later is not None:
                        _hand_over_maps(maps, data, later)
                    return [futures[job.unit_code].result() for job in jobs]
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)  # the packs not started are not made
                    raise
        finally:
            if later is not None:
                later.unlink(missing_ok=True)
                later.with_suffix(".failed").unlink(missing_ok=True)


def _hand_over_maps(maps: Callable[[CycleData], CycleData], data: CycleData, target: Path) -> None:
    """Read the map points (``maps``) and put them where the waiting workers look (written whole, then renamed
    into place); if reading fails, say so beside it, so that no worker waits on, and raise."""
    try:
        full = maps(data)
        staged = target.with_suffix(".part")
        with open(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            pickle.dump((full.points, full.incidents), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(staged, target)
    except BaseException as exc:
        target.with_suffix(".failed").write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        target.with_suffix(".part").unlink(missing_ok=True)
        raise


def sheets_while_reading(jobs: list[_Job]) -> list[_Job]:
    """The workers' order while the run still reads the map points: half the CompStat sheets (which need no
    points) first, then the other packs longest first (``longest_first``), then the other half of the sheets,
    so the workers start at once, and the long packs still end before the last short ones."""
    sheets = [job for job in jobs if job.sheet]
    half = (len(sheets) + 1) // 2
    return [*sheets[:half], *longest_first([job for job in jobs if not job.sheet] + sheets[half:])]


def _forkserver() -> BaseContext:
    """The workers' start method: forked from a clean, single-threaded server process that has imported
    WeasyPrint and matplotlib (and ``__main__``), rather than from a parent that may hold threads and locks."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", __name__])
    return ctx


def start_render_server(workers: int | None = None) -> None:
    """Start the workers' forkserver now, if the packs will be rendered by more than one worker: its imports
    (2–3 s) then run on a spare core while the cycle's steps before the packs run, not when the packs start.
    The server exits with this process; ``render_packs`` starts it if it is not running."""
    if (usable_cores() if workers is None else workers) > 1:
        _forkserver()
        forkserver.ensure_running()


PAYLOAD_PREFIX = "compstat-render-"  # + the run's pid: the cycle's data for the render workers
SHARED_MEMORY = Path("/dev/shm")


@contextmanager
def _payload_file(data: CycleData) -> Iterator[Path]:
    """The cycle's data pickled into a file the workers load, removed when the packs are done. A worker
    reading a file starts in about a second, where data sent through the pool's pipe took seconds per worker,
    one worker after the other (13 s for 2 workers and the national force's 520 MB). The file is private to
    the user (``mkstemp``), in shared memory when that has room for it, else in the temporary folder; files
    that a killed run left are removed first (``_remove_orphans``)."""
    payload = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    folder = _payload_folder(len(payload))
    _remove_orphans(folder)
    fd, name = tempfile.mkstemp(prefix=f"{PAYLOAD_PREFIX}{os.getpid()}-", suffix=".pickle", dir=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
        del payload
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _payload_folder(size: int) -> Path:
    """Shared memory (``/dev/shm``) if it is there with twice ``size`` bytes free, else the temporary folder."""
    try:
        if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK) and \
                shutil.disk_usage(SHARED_MEMORY).free > 2 * size:
            return SHARED_MEMORY
    except OSError:
        pass
    return Path(tempfile.gettempdir())


def _remove_orphans(folder: Path) -> None:
    """Remove payload files whose run has ended (``kill -9`` leaves them: shared memory is not freed by itself)."""
    for path in folder.glob(f"{PAYLOAD_PREFIX}*"):  # the data, the map points, and their .part and .failed
        pid = path.name.removeprefix(PAYLOAD_PREFIX).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                path.unlink(missing_ok=True)
            except OSError:  # another user's, in a shared folder
                pass


def longest_first(jobs: list[_Job]) -> list[_Job]:
    """``render_packs``' jobs (the units', the divisions', the chair's) in the order the workers take them:
    the chair's pack (national: 27 s), the divisions' (3 s), the full unit packs (1.5–3 s), then the CompStat
    sheets (0.35 s), so the last to finish are short ones and both workers end together."""
    def kind(job: _Job) -> int:
        return 0 if job.unit_code is None else 1 if not job.leaf else 3 if job.sheet else 2

    return sorted(jobs, key=kind)  # stable: config order within each kind
