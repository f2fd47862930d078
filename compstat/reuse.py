"""Incremental cycles: a content hash of what each pack shows, so that a re-run reuses the packs
whose inputs did not change.

A pack's input hash (``packs.render.pack_inputs``) is the sha256 of a canonical serialisation
(``digest``: no pickle, field by field, type-tagged) of its context (``packs.context``: every
figure, row, finding, action, caveat and chart input it shows), built with its charts not drawn
(``packs.charts.fingerprinting``: a chart is its drawing function and arguments) and with the run
time left out, together with ``code_version`` (the compstat sources, the templates and
``pack.css``, and the versions of the libraries that lay out and draw). The manifest records each
pack's input hash and its file's sha256 (``PackRecord``); a re-run of the same period links or
copies an earlier PDF whose input hash matches and whose bytes are still the ones recorded
(``reuse_file``), and renders the rest. A reused pack keeps the "Produced" time of the run that
made it, which is when it was produced. Anything the serialisation cannot read makes the hash
None: that pack is rendered.

A whole run is skipped when nothing it reads has changed (``cycle_state``): after ingest (every input
unchanged), the state of the store (every input version, the counts of observations and rejected rows,
the action log, the other periods' cycles), the config, ``code_version``, the period, today and the
overrides hash to what the period's manifest recorded, and every output file is still the one it
recorded: the earlier outputs stand as they are (``cycle.run_cycle``), store untouched.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.files import file_sha256
from compstat.periods import Period
from compstat.resources import templates_dir
from compstat.store import Action, ActionUpdate, Cycle, Delivery, IngestedFile, Observation, RejectedRow
from compstat.store.models import SupersededObservation

PACKAGE = Path(__file__).resolve().parent
LAYOUT_LIBRARIES = ("WeasyPrint", "pydyf", "fonttools", "matplotlib", "Jinja2", "numpy", "pandas")


class Unhashable(TypeError):
    """A value ``digest`` cannot serialise canonically: its pack is rendered, never reused."""


@dataclass(frozen=True)
class PackRecord:
    """What the manifest says of one pack: its input hash and its file's sha256."""

    inputs: str
    sha256: str


_SKIP: ContextVar[frozenset[str]] = ContextVar("digest_skip", default=frozenset())
_SUBSTITUTE: ContextVar[Mapping[bytes, bytes] | None] = ContextVar("digest_substitute", default=None)


def digest(*parts: object, skip: frozenset[str] = frozenset(), substitute: Mapping[bytes, bytes] | None = None) -> str:
    """The sha256 of ``parts`` serialised canonically: type-tagged, dataclasses field by field (but the
    fields named in ``skip``), mappings in key order, floats exactly (``float.hex``), arrays by dtype,
    shape and bytes; bytes found in ``substitute`` are hashed as what it maps them to."""
    hasher = hashlib.sha256()
    skip_token, sub_token = _SKIP.set(skip), _SUBSTITUTE.set(substitute or {})
    try:
        for part in parts:
            _feed(hasher, part)
    finally:
        _SKIP.reset(skip_token)
        _SUBSTITUTE.reset(sub_token)
    return hasher.hexdigest()


def _feed(h: Any, obj: object) -> None:  # noqa: C901 - one branch per type, kept together
    if obj is None:
        h.update(b"N;")
    elif isinstance(obj, (bool, np.bool_)):
        h.update(b"T;" if obj else b"F;")
    elif isinstance(obj, enum.Enum):
        _feed(h, (type(obj).__qualname__, obj.value))
    elif isinstance(obj, (int, np.integer)):
        h.update(b"i%d;" % int(obj))
    elif isinstance(obj, (float, np.floating)):
        h.update(b"f" + float(obj).hex().encode() + b";")
    elif isinstance(obj, (str, bytes)):
        raw = obj.encode("utf-8", "surrogatepass") if isinstance(obj, str) else (_SUBSTITUTE.get() or {}).get(obj, obj)
        h.update(b"%s%d:" % (b"s" if isinstance(obj, str) else b"b", len(raw)))
        h.update(raw)
    elif isinstance(obj, datetime):  # pandas' Timestamp and NaT too
        h.update(b"t" + str(obj.isoformat()).encode() + b";")
    elif isinstance(obj, date):
        h.update(b"d" + obj.isoformat().encode() + b";")
    elif isinstance(obj, (tuple, list)):
        _feed_items(h, b"(", obj)
    elif isinstance(obj, dict):
        h.update(b"{%d" % len(obj))
        for key in sorted(obj, key=lambda k: (type(k).__name__, str(k))):
            _feed(h, key)
            _feed(h, obj[key])
        h.update(b"}")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        _feed(h, f"{type(obj).__module__}.{type(obj).__qualname__}")
        skip = _SKIP.get()
        _feed_items(h, b"<", (getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name not in skip))
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object:
            _feed_items(h, b"[", obj.tolist())
        else:
            _feed(h, (obj.dtype.str, obj.shape))
            h.update(np.ascontiguousarray(obj).tobytes())
    elif hasattr(obj, "to_numpy") and hasattr(obj, "dtype"):  # a pandas Series or Index
        _feed(h, np.asarray(obj.to_numpy()))
    else:
        raise Unhashable(f"cannot hash a {type(obj).__qualname__} canonically")


def _feed_items(h: Any, tag: bytes, items: Iterable[object]) -> None:
    h.update(tag)
    for item in items:
        if type(item) is float:  # plain floats and ints (a chart's values) fed as ``_feed`` would, faster
            h.update(b"f" + item.hex().encode() + b";")
        elif type(item) is int:
            h.update(b"i%d;" % item)
        else:
            _feed(h, item)
    h.update(b";" + tag)


@lru_cache(maxsize=1)
def code_version() -> str:
    """The sha256 of everything besides its context that makes a pack's bytes: the compstat package's
    sources, every file in the templates folder (``pack.css`` included) and the versions of the libraries
    that draw and lay out. Computed once per process."""
    h = hashlib.sha256()
    for root, label in ((PACKAGE, "compstat"), (templates_dir(), "templates")):
        pattern = "*.py" if label == "compstat" else "*"
        for path in sorted(p for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts):
            _feed(h, f"{label}/{path.relative_to(root).as_posix()}")
            _feed(h, path.read_bytes())
    for library in LAYOUT_LIBRARIES:
        try:
            _feed(h, (library, version(library)))
        except PackageNotFoundError:
            _feed(h, (library, None))
    return h.hexdigest()


def earlier_packs(folder: Path) -> dict[str, PackRecord]:
    """The packs an earlier run of the period left in ``folder`` (its manifest's ``packs``), by file
    name; empty when there is no readable manifest, it records no input hashes, or another ``code_version``
    made them (no hash could match: none is worked out)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("code_version") != code_version():
            return {}
        packs = manifest["packs"]
        return {str(name): PackRecord(str(p["inputs"]), str(p["sha256"]))
                for name, p in packs.items() if p.get("inputs") and p.get("sha256")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def reuse_file(record: PackRecord | None, inputs: str | None, source: Path, target: Path) -> str | None:
    """Hard-link (or copy) ``source`` to ``target`` when its recorded input hash is ``inputs`` and its
    bytes are the ones recorded; returns their sha256, or None when the pack must be rendered."""
    if record is None or inputs is None or record.inputs != inputs:
        return None
    try:
        if source.is_symlink() or not source.is_file():
            return None
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        if file_sha256(target) == record.sha256:  # checked on what was linked: its bytes are the recorded ones
            return record.sha256
    except OSError:
        pass
    target.unlink(missing_ok=True)
    return None


def cycle_state(session: Session, config: Config, period: Period, today: date, *overrides: object) -> str:
    """The hash of everything a cycle of ``period`` reads besides its input files' bytes (whose versions are in
    the store): the org's input versions, the observations' highest id, its superseded and rejected rows' counts
    and highest ids, its action log and every action update, its deliveries, the other periods' cycles (when each
    ran: the "completed since" windows), the config and its boundaries file, ``code_version``, ``today`` and
    ``overrides`` (the quality gate's). Taken after ingest, before the cycle writes anything."""
    org = config.organisation.slug

    def rows(table: Table, *where: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in session.execute(select(table).where(*where).order_by(table.c.id))]

    def extent(model: Any) -> tuple[Any, ...]:
        return tuple(session.execute(select(func.count(), func.max(model.id)).where(model.org == org)).one())

    files: Table = IngestedFile.__table__  # type: ignore[assignment]
    actions: Table = Action.__table__  # type: ignore[assignment]
    cycles = session.execute(select(Cycle.period, Cycle.run_at).where(Cycle.org == org, Cycle.period != period.label)
                             .order_by(Cycle.period)).all()
    updates = session.execute(select(func.count(), func.max(ActionUpdate.id))).one()
    deliveries = session.execute(select(Delivery.period, Delivery.kind, Delivery.recipient, Delivery.attachment,
                                        Delivery.status, Delivery.sent_at).where(Delivery.org == org)
                                 .order_by(Delivery.id)).all()  # the chair's meeting health shows them
    boundaries = config.organisation.boundaries
    boundary_bytes = None
    if boundaries:
        try:
            boundary_bytes = config.resolve_path(boundaries).read_bytes()
        except OSError:
            boundary_bytes = b"unreadable"
    # Observations change only with their versions (ingest, ``supersede``, ``reissue``: the file rows above say
    # so) and new rows raise the table's highest id, which its primary key gives at once; counting the org's rows
    # read all 20.8M at national scale (3.4 s every week).
    newest = session.scalar(select(func.max(Observation.id)))
    return digest(code_version(), config.model_dump(mode="json"), boundary_bytes, period.label, today, overrides,
                  rows(files, files.c.org == org), newest, extent(SupersededObservation),
                  extent(RejectedRow), rows(actions, actions.c.org == org), tuple(updates),
                  [tuple(c) for c in cycles], [tuple(d) for d in deliveries])


def output_files(folder: Path) -> dict[str, str]:
    """Every file of a cycle's folder but its manifest, with its sha256."""
    return {p.name: file_sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != "manifest.json"}


def earlier_run(folder: Path, state: str, committed_run_at: str | None) -> dict[str, Any] | None:
    """The manifest of the run whose outputs ``folder`` holds when that run had ``state``, is the one the store
    committed (``committed_run_at``) and every file it recorded is there unchanged, with nothing else; else None."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if (not isinstance(manifest, dict) or manifest.get("state") != state
                or manifest.get("run_at") != committed_run_at or not manifest.get("files")):
            return None
        return manifest if output_files(folder) == manifest["files"] else None
    except (OSError, ValueError):
        return None
