"""Re-issue a cycle's outputs from exactly the data it was built from (``compstat reissue``).

Each cycle's manifest lists the input versions its figures used (``data_versions``: file id and
SHA-256 of every input in use, those loaded by earlier runs included). Ingest never deletes a
replaced version's observations: they move to ``superseded_observations``. Re-issuing puts those
versions back in place inside a transaction that is always rolled back, recomputes the period
table and the analysis with the cycle's own code path (``cycle.analyse``), checks every figure
against the ones stored with the cycle (``cycle_results``), and renders the packs with the
quality findings and caveats recorded for the cycle. So the period table and the analysis are
the ones the reviewers saw; the action log is the one as it stands now (it is not versioned).

The store is never changed, and the outputs are written to a temporary folder that replaces the
target only at the end: a failed re-issue leaves earlier outputs as they were. The cost is
linear in the data that changed since the cycle (indexed by file id), plus the analysis.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.cycle import CycleOutcome, Progress, Steps, assemble, staged_output, write_outputs
from compstat.errors import DataError
from compstat.hierarchy import divisions
from compstat.periods import parse_period
from compstat.quality import QualityResult
from compstat.safepaths import confined
from compstat.store import (
    OBSERVATION_FIELDS,
    Cycle,
    CycleResult,
    IngestedFile,
    Observation,
    SupersededObservation,
    connect,
)
from compstat.store.lock import PREVIEW, shared_lock
from compstat.store.totals import forget_totals

MAX_DIFFERENCES = 5  # differing figures named in the error


def reissue_cycle(config: Config, store_url: str, period_label: str, *, out_dir: Path | None = None,
                  workers: int | None = None, progress: Progress | None = None) -> CycleOutcome:
    """Re-render the recorded cycle of ``period_label`` into ``out_dir`` (default
    ``<output_dir>/<org>/<period>-reissued``) from the data versions its manifest lists.

    Raises DataError when no cycle is recorded for the period, when it predates recorded data
    versions, when a version it used is no longer in the store, or when the figures recomputed
    from them differ from those stored with the cycle (e.g. the config changed since).
    """
    from compstat.packs import render_packs  # heavy import (WeasyPrint), only when rendering

    period = parse_period(period_label, config.cadence)
    org = config.organisation.slug
    target = out_dir or confined(Path(config.output_dir), f"{org}/{period.label}-reissued", resolve=False)
    steps = Steps(progress)
    engine = connect(store_url)
    try:
        with shared_lock(store_url, PREVIEW), staged_output(target) as work_dir, Session(engine) as session:
            session.begin()
            try:
                with steps("restore"):
                    cycle, manifest = recorded_cycle(session, org, period.label)
                    restore_versions(session, org, period.label, manifest.get("data_versions"))
                quality = QualityResult.from_manifest(period, manifest)
                data = assemble(session, config, period, quality, today=date.today(), steps=steps,
                                rows_rejected=int(manifest.get("rows_rejected") or 0), run_at=cycle.run_at)
                same_figures(session, cycle.id, data.table, period.label, [u.code for u in divisions(config)])
                with steps("packs"):
                    rendered = render_packs(data, work_dir, workers=workers)
                with steps("record"):
                    written = write_outputs(work_dir, config, period, data, [], list(quality.findings),
                                            steps.timings, store_url)
                    written["reissue"] = {
                        "reissued_at": datetime.now().replace(microsecond=0).isoformat(),
                        "cycle_run_at": cycle.run_at.isoformat(),
                        "actions": "as they stand at the re-issue, not as they were at the cycle",
                    }
                    (work_dir / "manifest.json").write_text(json.dumps(written, indent=2, default=str) + "\n",
                                                            encoding="utf-8")
            finally:
                session.rollback()  # the restored versions were only for this re-issue
    finally:
        engine.dispose()
    packs = [target / p.path.name for p in rendered]
    return CycleOutcome(period, target, packs, data.table, [], list(quality.findings), steps.timings,
                        [p.seconds for p in rendered], quality)


def recorded_cycle(session: Session, org: str, label: str) -> tuple[Cycle, dict[str, Any]]:
    """The stored cycle of a period and its manifest."""
    cycle = session.scalar(select(Cycle).where(Cycle.org == org, Cycle.period == label))
    if cycle is None:
        raise DataError(f"no cycle of {label} is recorded for {org}: `compstat run-cycle --period {label}` "
                        "records one")
    try:
        manifest = json.loads(cycle.manifest or "{}")
    except json.JSONDecodeError:
        manifest = {}
    return cycle, manifest if isinstance(manifest, dict) else {}


def restore_versions(session: Session, org: str, label: str, versions: object) -> None:
    """Make the store's current data exactly the input versions listed (inside the caller's transaction):
    take out the observations of versions loaded since, and put back those of versions replaced since."""
    if not isinstance(versions, list) or not versions:
        raise DataError(f"the {label} cycle was recorded without its data versions (before compstat kept them), "
                        "so it cannot be re-issued exactly: run the cycle again to record them")
    wanted = {int(v["file_id"]): str(v["sha256"]) for v in versions}
    held = {int(i): (str(sha), bool(gone)) for i, sha, gone in session.execute(
        select(IngestedFile.id, IngestedFile.sha256, IngestedFile.superseded).where(IngestedFile.org == org))}
    missing = [f"{v.get('path')} (version {v['file_id']}, sha256 {str(v['sha256'])[:12]}…)" for v in versions
               if held.get(int(v["file_id"]), ("", False))[0] != str(v["sha256"])]
    if missing:
        raise DataError(f"the {label} cycle used input versions the store no longer holds: {', '.join(missing)}")
    current = {i for i, (_, gone) in held.items() if not gone}
    extra = sorted(current - set(wanted))
    back = sorted(set(wanted) - current)
    forget_totals(session, extra + back)
    if extra:
        session.execute(delete(Observation).where(Observation.file_id.in_(extra)))
        session.execute(update(IngestedFile).where(IngestedFile.id.in_(extra)).values(superseded=True))
    if back:
        fields = [getattr(SupersededObservation, f) for f in OBSERVATION_FIELDS]
        kept = select(*fields).where(SupersededObservation.file_id.in_(back))
        session.execute(insert(Observation).from_select(list(OBSERVATION_FIELDS), kept))
        session.execute(update(IngestedFile).where(IngestedFile.id.in_(back)).values(superseded=False))


def same_figures(session: Session, cycle_id: int, table: pd.DataFrame, label: str,
                 divisions: Sequence[str] = ()) -> None:
    """Every figure recomputed for the re-issue equals the one stored with the cycle, or DataError.

    Rows of ``divisions`` are left out when the cycle stored none for them (it was recorded before
    compstat rolled divisions up): their figures are sums of the units' figures checked here."""
    keys = ["unit_code", "measure_id", "window"]
    stored = pd.DataFrame(list(map(tuple, session.execute(
        select(CycleResult.unit_code, CycleResult.measure_id, CycleResult.window, CycleResult.current,
               CycleResult.previous).where(CycleResult.cycle_id == cycle_id)).all())),
        columns=[*keys, "current", "previous"])
    unstored = set(divisions) - set(stored["unit_code"])
    table = table[~table["unit_code"].isin(unstored)]
    merged = stored.merge(table[[*keys, "current", "previous"]], on=keys, how="outer", suffixes=("_stored", ""),
                          indicator=True)
    differences = []
    for unit, measure, window, both, *values in zip(
            merged["unit_code"], merged["measure_id"], merged["window"], merged["_merge"].eq("both"),
            merged["current_stored"], merged["current"], merged["previous_stored"], merged["previous"], strict=True):
        for side, was, now in (("current", values[0], values[1]), ("previous", values[2], values[3])):
            if not both or not _same(was, now):
                differences.append(f"{unit} {measure} {window} {side}: stored {was}, now {now}")
                break
    if differences:
        shown = "; ".join(differences[:MAX_DIFFERENCES]) + (
            f"; and {len(differences) - MAX_DIFFERENCES} more" if len(differences) > MAX_DIFFERENCES else "")
        raise DataError(f"re-issue of {label}: the figures recomputed from its recorded data differ from those "
                        f"stored with the cycle ({shown}). Have the config's units, measures or cadence changed "
                        "since? Nothing was written.")


def _same(a: object, b: object) -> bool:
    fa = float(a) if a is not None else math.nan  # type: ignore[arg-type]
    fb = float(b) if b is not None else math.nan  # type: ignore[arg-type]
    return (math.isnan(fa) and math.isnan(fb)) or math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-9)
