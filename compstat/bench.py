"""`make bench`: two forces on fresh stores, each through two cycles.

``incidents``: a national-scale force (77 units, 3+ years, ≈1.5M incident records, the five
incident measures). ``weekly``: a force shaped like a big city's own weekly CompStat figures
(78 units under 8 divisions, 19 measures from homicide to shoplifting, every figure a
pre-aggregated weekly count with zeros written, the demo's planted weekly-count defects
included), where a pack's cost grows with its measures.

Two cycles each, as a performance team runs them: the first loads the whole history into an empty
store (``first``); the next week's cycle loads only that week's new file (``weekly``: the
source is a glob in ``mode: append``), which is what a team pays every week. For each it
prints rows ingested per second, seconds per step, seconds per pack and peak memory, and
writes them to ``bench-data/results.json``. Each cycle runs in a fresh process, so its peak
memory is the cycle's own and not the data generator's.
``duplicates``: a re-export that repeats 50,000 stored incident records (``DUPLICATE_ROWS``): the
seconds to ingest it with every copy caught and the seconds of the duplicates check.
``national``: a national force (``NATIONAL_UNITS`` units, 19 measures: the five incident measures and the
big city's 14 weekly-count ones) at each of
``--national-sizes`` incident records (default ``NATIONAL_SIZES``: 20M; the environment's
``COMPSTAT_BENCH_NATIONAL_SIZES`` too), with ``packs.unit_packs: called`` (``--national-unit-packs all``: every
unit its full pack), the history generated one year at a
time and written to disk year by year (never the whole history in memory), each cycle reporting seconds
and peak memory (RSS of the cycle's process, sampled) per step; on PostgreSQL too when
``COMPSTAT_BENCH_PG`` (or ``COMPSTAT_TEST_PG``) names a server.
``web``: a loopback load run of ``compstat serve`` on the demo force (``web_load``): ``--users`` commanders
(default 50) signing in, browsing and updating their units' actions together for ``--seconds`` (default 60):
requests per second, p50/p95 latency, errors (none expected) and no lost update. ``--only web`` keeps the
other parts' figures in ``results.json``.
Run: ``python -m compstat.bench [--units 77] [--rows 1500000] [--workers N]
[--only incidents|weekly|duplicates|national|web] [--national-sizes 500000,5000000] [--users 50 --seconds 60]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, create_engine, distinct, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from compstat.config import Config, load_config
from compstat.cycle import run_cycle
from compstat.demo import (
    WEEKLY_OFFENCES,
    demo_config,
    generate_incidents,
    incident_offences_weekly,
    plant_defects,
    plant_weekly_defects,
    weekly_counts,
    write_boundaries,
    write_config,
)
from compstat.parallel import usable_cores
from compstat.periods import last_complete_period

TARGET_ROWS = 1_500_000
WEEKLY_UNITS, WEEKLY_DIVISIONS = 78, 8
DUPLICATE_ROWS = 50_000  # records a re-export repeats, in the duplicates bench
NATIONAL_UNITS = 300
NATIONAL_UNIT_PACKS = "called"  # 300 units: the meeting calls a few; the rest get a CompStat sheet
NATIONAL_SIZES = (20_000_000,)  # make bench (about 20 min per store); a quick run: --national-sizes 500000
WEB_USERS, WEB_SECONDS = 50, 60.0
WEB_UPDATE_SHARE = 0.5  # of a simulated commander's visits to an action, the share that post an update
WEB_RETRIES = 5  # a refused (409) update is read again and resent at most this often
WEB_GRACE = 60.0  # seconds the requests under way at the end may take before the run stops without them
DROP_PATIENCE, DROP_RETRY = 300.0, 5.0  # seconds to keep trying to drop a bench database, and between tries
WEEKLY_DAILY_RATE = 4.0  # incidents per unit per day behind the five frequent measures' weekly counts


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=77)
    parser.add_argument("--rows", type=int, default=TARGET_ROWS, help="approximate incidents to generate")
    parser.add_argument("--out", type=Path, default=Path("bench-data"))
    parser.add_argument("--workers", type=int, default=usable_cores(),
                        help="render processes (default: one per usable core)")
    parser.add_argument("--only", choices=["incidents", "weekly", "duplicates", "national", "web"],
                        help="run one part only")
    parser.add_argument("--national-sizes", default=os.environ.get("COMPSTAT_BENCH_NATIONAL_SIZES",
                                                                   ",".join(map(str, NATIONAL_SIZES))),
                        help="incident records of each national run, comma-separated (the curve)")
    parser.add_argument("--national-unit-packs", choices=["all", "called"], default=NATIONAL_UNIT_PACKS,
                        help="the national force's packs.unit_packs: called (default) gives full packs to the units "
                             "its meeting calls and a CompStat sheet to the rest; all gives every unit a full pack")
    parser.add_argument("--national-backends", default="sqlite,postgresql",
                        help="stores of the national runs (postgresql only when COMPSTAT_BENCH_PG or "
                             "COMPSTAT_TEST_PG names a server)")
    parser.add_argument("--users", type=int, default=WEB_USERS, help="web load run: simultaneous commanders")
    parser.add_argument("--seconds", type=float, default=WEB_SECONDS, help="web load run: how long they keep at it")
    parser.add_argument("--think", type=float, default=0.0,
                        help="web load run: mean seconds a user pauses between pages (default 0: none)")
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    results: dict[str, object] = {}
    if args.only == "web" and (out / "results.json").is_file():  # the other parts' figures are kept
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        shutil.rmtree(out / "web", ignore_errors=True)
    elif out.exists():
        shutil.rmtree(out)
    results |= {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "render_workers": args.workers}
    if args.only in (None, "incidents"):
        results["incidents"] = incident_force(out / "incidents", args.units, args.rows, args.workers)
        _save(out, results)  # a later part that fails keeps this one's figures
    if args.only in (None, "weekly"):
        results["weekly"] = weekly_force(out / "weekly", args.workers)
        _save(out, results)  # a later part that fails keeps this one's figures
    if args.only in (None, "duplicates"):
        results["duplicates"] = duplicated_rows(out / "duplicates")
        _save(out, results)  # a later part that fails keeps this one's figures
    if args.only in (None, "national"):
        sizes = [int(n) for n in str(args.national_sizes).split(",") if n.strip()]
        backends = tuple(b.strip() for b in str(args.national_backends).split(",") if b.strip())
        results["national"] = national_runs(out / "national", sizes, args.workers, backends, args.national_unit_packs)
        _save(out, results)  # a later part that fails keeps this one's figures
    if args.only in (None, "web"):
        results["web"] = web_load(demo_force(out / "web"), args.users, args.seconds, think=args.think)
    _save(out, results)
    _print(results)
    return results


def _save(out: Path, results: dict[str, object]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _incident_setup(config_path: Path, units: int, target_rows: int, slug: str, name: str, store: str,
                    header: str, weekly: bool = False,
                    extra: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any], date, float]:
    """An incident force's config (its incident files ``data/incidents-*.csv`` appended; with ``weekly``, the
    14 weekly-count measures too, from ``data/weekly-*.csv``) and boundaries beside ``config_path``: (config
    path, config dict, the last complete period's end, the daily rate per unit that gives about
    ``target_rows`` records from 1 January three years back to that end); ``extra``: more config sections."""
    out = config_path.parent
    (out / "data").mkdir(parents=True)
    cfg_dict = demo_config(units, data_dir="data", slug=slug, name=name, summary=False, weekly=weekly)
    cfg_dict |= {"store": store, **(extra or {})}
    cfg_dict["sources"][0] |= {"path": "data/incidents-*.csv", "mode": "append"}
    if weekly:
        cfg_dict["sources"][1] |= {"path": "data/weekly-*.csv", "mode": "append"}
    write_config(config_path, cfg_dict, header=header)
    write_boundaries(out / "data" / "boundaries.geojson", units)
    end = last_complete_period(date.today(), load_config(config_path).cadence).end
    days = (end - date(end.year - 3, 1, 1)).days + 1
    return config_path, cfg_dict, end, target_rows / (units * days)


def incident_force(out: Path, units: int, target_rows: int, workers: int) -> dict[str, object]:
    """The national-scale incident force: ``units`` units, about ``target_rows`` incident records."""
    config_path, cfg_dict, end, rate = _incident_setup(out / "bench.yaml", units, target_rows, "bench",
                                                       "Benchmark Constabulary", f"sqlite:///{out / 'bench.db'}",
                                                       "Benchmark force written by compstat.bench")
    today = date.today()

    started = time.perf_counter()
    incidents = plant_defects(generate_incidents(end, n_units=units, years=3, daily_rate=rate), seed=1)
    history, last_week = split_last_week(incidents, end)
    history.to_csv(out / "data" / "incidents-1-history.csv", index=False)
    generate_seconds = time.perf_counter() - started
    del incidents, history

    first = in_fresh_process(config_path, today - timedelta(days=7), workers)
    last_week.to_csv(out / "data" / "incidents-2-last-week.csv", index=False)
    weekly = in_fresh_process(config_path, today, workers)
    return {"title": f"{units} units, incident records", "units": units, "measures": len(cfg_dict["measures"]),
            "generate_seconds": round(generate_seconds, 1), "first": first, "weekly": weekly}


def national_runs(out: Path, sizes: list[int], workers: int, backends: tuple[str, ...] = ("sqlite", "postgresql"),
                  unit_packs: str = NATIONAL_UNIT_PACKS) -> list[dict[str, object]]:
    """The national force at each size, on SQLite and (when a server is named) PostgreSQL, each in a database of
    its own (``bench_database``); ``unit_packs``: its config's ``packs.unit_packs``."""
    pg = os.environ.get("COMPSTAT_BENCH_PG") or os.environ.get("COMPSTAT_TEST_PG")
    runs = []
    for rows in sizes:
        for backend in backends:
            if backend == "postgresql" and not pg:
                continue
            with bench_database(pg if backend == "postgresql" else None) as url:
                runs.append(national_force(out / f"{rows}-{backend}", rows, workers, url, unit_packs)
                            | {"backend": backend, "target_rows": rows})
    return runs


@contextmanager
def bench_database(server: str | None) -> Iterator[str | None]:
    """A new, empty database on the PostgreSQL ``server`` (its URL names any database the role can connect to;
    the role needs CREATEDB), dropped afterwards; None (SQLite) passes through."""
    if server is None:
        yield None
        return
    name = f"compstat_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            drop_database(admin, name)
    finally:
        admin.dispose()


def drop_database(admin: Engine, name: str, patience: float = DROP_PATIENCE,
                  sleep: Callable[[float], None] = time.sleep) -> bool:
    """Drop the bench's database ``name``, trying again for ``patience`` seconds while the server refuses (after a
    20M-row load its autovacuum, which a role without ``pg_signal_backend`` may not end, can hold it); then leave
    it, say so on stderr and return False: the run's figures matter more than its clean-up."""
    waited = 0.0
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return True
        except DBAPIError as exc:
            if waited >= patience:
                print(f"bench: could not drop the database {name} ({exc.orig}); drop it by hand", file=sys.stderr)
                return False
            sleep(DROP_RETRY)
            waited += DROP_RETRY


def national_force(out: Path, target_rows: int, workers: int, pg_url: str | None = None,
                   unit_packs: str = NATIONAL_UNIT_PACKS) -> dict[str, object]:
    """``NATIONAL_UNITS`` units, about ``target_rows`` incident records over 3 years and this one's weeks, written
    a year at a time (``incidents-1-<year>.csv``), then the first cycle and next week's; ``unit_packs``: the
    config's ``packs.unit_packs`` (``called``: full packs for the units the meeting calls, sheets for the rest)."""
    units = NATIONAL_UNITS
    slug = f"national-{target_rows}-{int(time.time())}"  # its own organisation in a shared PostgreSQL store
    config_path, cfg_dict, end, rate = _incident_setup(out / "national.yaml", units, target_rows, slug,
                                                       "National Benchmark Police",
                                                       pg_url or f"sqlite:///{out / 'national.db'}",
                                                       "National benchmark force written by compstat.bench",
                                                       weekly=True, extra={"packs": {"unit_packs": unit_packs}})
    today = date.today()
    started = time.perf_counter()
    counts = plant_weekly_defects(weekly_counts(end, units, years=3), end)  # the 14 weekly-count measures
    last = counts["week_ending"] == end.isoformat()
    counts[~last].to_csv(out / "data" / "weekly-1-history.csv", index=False)
    last_week = pd.DataFrame()
    for year in range(end.year - 3, end.year + 1):  # one year in memory at a time
        year_end = min(date(year, 12, 31), end)
        incidents = plant_defects(generate_incidents(year_end, n_units=units, years=0, daily_rate=rate,
                                                     seed=year), seed=year)
        if year == end.year:
            incidents, last_week = split_last_week(incidents, end)
        incidents.to_csv(out / "data" / f"incidents-1-{year}.csv", index=False, chunksize=200_000)
        del incidents
    generate_seconds = time.perf_counter() - started
    first = in_fresh_process(config_path, today - timedelta(days=7), workers, go_ahead=True)
    last_week.to_csv(out / "data" / "incidents-2-last-week.csv", index=False)
    counts[last].to_csv(out / "data" / "weekly-2-last-week.csv", index=False)
    weekly = in_fresh_process(config_path, today, workers, go_ahead=True)
    return {"title": f"national: {units} units, {len(cfg_dict['measures'])} measures, ~{target_rows:,} incident "
                     "records", "units": units,
            "measures": len(cfg_dict["measures"]), "generate_seconds": round(generate_seconds, 1),
            "unit_packs": unit_packs,
            "first": first, "weekly": weekly}


def weekly_force(out: Path, workers: int) -> dict[str, object]:
    """The big-city force: ``WEEKLY_UNITS`` units under ``WEEKLY_DIVISIONS`` divisions, 19 measures, every
    figure a pre-aggregated weekly count (3 years and the weeks of this one), planted gaps included."""
    (out / "data").mkdir(parents=True)
    config_path = out / "bench-weekly.yaml"
    cfg_dict = demo_config(WEEKLY_UNITS, data_dir="data", slug="bench-weekly", name="Benchmark Metropolitan",
                           summary=False, incidents=False, n_divisions=WEEKLY_DIVISIONS)
    cfg_dict["store"] = f"sqlite:///{out / 'bench.db'}"
    cfg_dict["sources"][0] |= {"path": "data/weekly-*.csv", "mode": "append"}
    write_config(config_path, cfg_dict, header="Benchmark force written by compstat.bench: weekly counts")
    config = load_config(config_path)
    today = date.today()
    end = last_complete_period(today, config.cadence).end

    started = time.perf_counter()
    offences = incident_offences_weekly(WEEKLY_DAILY_RATE) + WEEKLY_OFFENCES
    counts = plant_weekly_defects(weekly_counts(end, WEEKLY_UNITS, years=3, offences=offences,
                                                n_divisions=WEEKLY_DIVISIONS), end)
    last = counts["week_ending"] == end.isoformat()
    counts[~last].to_csv(out / "data" / "weekly-1-history.csv", index=False)
    generate_seconds = time.perf_counter() - started

    first = in_fresh_process(config_path, today - timedelta(days=7), workers)
    counts[last].to_csv(out / "data" / "weekly-2-last-week.csv", index=False)
    weekly = in_fresh_process(config_path, today, workers)
    return {"title": f"{WEEKLY_UNITS} units in {WEEKLY_DIVISIONS} divisions, {len(offences)} measures, weekly counts",
            "units": WEEKLY_UNITS, "measures": len(config.measures), "generate_seconds": round(generate_seconds, 1),
            "first": first, "weekly": weekly, "unchanged": unchanged_rerun(config_path, today, workers)}


def unchanged_rerun(config_path: Path, today: date, workers: int) -> dict[str, object]:
    """The week just run, run again with no new data and no action change: every pack is reused from
    the earlier run's folder (``compstat.reuse``); the target is under 5 s."""
    return in_fresh_process(config_path, today, workers)


def split_last_week(incidents: pd.DataFrame, end: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The history up to the week before ``end``'s week, and the last seven days: the new week's file."""
    in_last_week = incidents["recorded_at"].str[:10] > (end - timedelta(days=7)).isoformat()
    return incidents[~in_last_week], incidents[in_last_week]


def in_fresh_process(config_path: Path, today: date, workers: int, go_ahead: bool = False) -> dict[str, object]:
    """``run_one`` in a new (spawned, non-daemonic) process, so that it may start render workers."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_one, config_path, today, workers, go_ahead).result()


def run_one(config_path: Path, today: date, workers: int, go_ahead: bool = False) -> dict[str, object]:
    """Run the last complete period's cycle as of ``today`` and report its figures (``go_ahead``: despite units
    whose data looks late, as ``--go-ahead`` does: a thin national force's quiet units look late by chance)."""
    config = load_config(config_path)
    steps: dict[str, float] = {}
    step_memory: dict[str, int] = {}
    started = time.perf_counter()
    with rss_sampler() as peak_since_last:
        def progress(step: str, seconds: float) -> None:
            steps[step] = seconds
            step_memory[step] = peak_since_last()
            print(f"  [{config.organisation.slug}] {step:<12} {seconds:>8.2f} s  peak {step_memory[step]:>6,} MB",
                  flush=True)  # as it goes: a long run shows its steps before it ends
        outcome = run_cycle(config, config.store, out_root=config_path.parent / "cycles", today=today,
                            workers=workers, progress=progress, go_ahead_if_stale=go_ahead)
    total = time.perf_counter() - started
    rows = sum(r.rows_read for r in outcome.ingest)
    leaves = len(config.leaf_units)
    sheet_names = {p.name for p in outcome.sheets}
    is_sheet = [p.name in sheet_names for p in outcome.packs[:leaves]]
    unit_packs, sheets, division_packs, chair = by_kind(outcome.pack_seconds, is_sheet, leaves)
    cpu = pack_cpu(outcome.pack_cpu_seconds, is_sheet, leaves)
    return {
        "period": outcome.period.label, "rows_ingested": rows, "cycle_seconds": round(total, 1),
        "ingest_rows_per_second": round(rows / steps["ingest"]) if rows and steps.get("ingest") else None,
        "step_seconds": steps, "step_peak_mb": step_memory, "packs": len(outcome.packs),
        "packs_reused": len(outcome.reused),
        "seconds_per_pack": round(sum(outcome.pack_seconds) / max(len(outcome.pack_seconds), 1), 2),
        "seconds_per_unit_pack": round(sum(unit_packs) / max(len(unit_packs), 1), 2),
        "unit_sheets": len(sheets), "seconds_per_unit_sheet": round(sum(sheets) / max(len(sheets), 1), 2),
        "division_packs": len(division_packs),
        "seconds_per_division_pack": round(sum(division_packs) / max(len(division_packs), 1), 2),
        "chair_pack_seconds": round(chair[0], 2) if chair else None,
        "pack_wall_seconds": steps.get("packs"),
        "pack_cpu_seconds": cpu,  # CPU time, steadier than wall time on a busy machine
        "load_average": [round(x, 2) for x in os.getloadavg()],
        # the steps' sampled peaks, not ``ru_maxrss``: Linux carries a process's peak over fork and exec, so a
        # spawned cycle's ``ru_maxrss`` starts at the generator's (the bench process's) peak
        "peak_memory_mb": max(step_memory.values(), default=0),
    }


def by_kind(seconds: list[float], is_sheet: list[bool], leaves: int) -> tuple[list[float], ...]:
    """Per-pack ``seconds`` in ``render_packs``' order (the ``leaves`` units, the divisions, the chair's) split
    into the units' full packs, their sheets (``is_sheet``), the divisions' packs and the chair's."""
    units = seconds[:leaves]
    return ([s for s, sheet in zip(units, is_sheet, strict=True) if not sheet],
            [s for s, sheet in zip(units, is_sheet, strict=True) if sheet], seconds[leaves:-1], seconds[-1:])


def pack_cpu(cpu_seconds: list[float], is_sheet: list[bool], leaves: int) -> dict[str, float | None]:
    """The packs' CPU seconds: in all, and per pack of each kind (``by_kind``; None for a kind the run made none
    of)."""
    unit_packs, sheets, divisions, chair = by_kind(cpu_seconds, is_sheet, leaves)

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 3) if values else None

    return {"total": round(sum(cpu_seconds), 1), "per_unit_pack": mean(unit_packs), "per_unit_sheet": mean(sheets),
            "per_division_pack": mean(divisions), "chair_pack": mean(chair)}


def _rss_mb() -> int:
    """This process's resident memory now, in MB (Linux ``/proc``; 0 where there is none)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    except OSError:
        return 0


@contextmanager
def rss_sampler(interval: float = 0.05) -> Iterator[Callable[[], int]]:
    """Sample this process's RSS in a thread; yields a function giving the peak (MB) since its last call."""
    peak = [_rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            peak[0] = max(peak[0], _rss_mb())

    def since_last() -> int:
        found, peak[0] = max(peak[0], _rss_mb()), _rss_mb()
        return found

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield since_last
    finally:
        stop.set()
        thread.join()


def duplicated_rows(out: Path, rows: int = DUPLICATE_ROWS) -> dict[str, object]:
    """Load ``rows`` incident records, then a re-export holding every one of them again (``mode: append``):
    the seconds of each ingest, the copies caught (all of them: none counted) and the duplicates check's
    seconds on the store."""
    from compstat.ingest import ingest_all
    from compstat.quality.checks.duplicates import Duplicates
    from compstat.quality.context import load_context
    from compstat.store import Observation, connect, transaction

    (out / "data").mkdir(parents=True)
    config_path = out / "duplicates.yaml"
    units = [{"code": f"U{i}", "name": f"Unit {i}", "commander": "Insp"} for i in range(1, 11)]
    write_config(config_path, {
        "organisation": {"name": "Duplicates Constabulary", "slug": "dupes"},
        "store": f"sqlite:///{out / 'dupes.db'}", "cadence": {"period": "weekly"},
        "units": [{"code": "F", "name": "Force", "commander": "Ch Supt", "children": units}],
        "measures": [{"id": "burglary", "name": "Burglary", "filter": {"category": "burglary"}}],
        "sources": [{"name": "incidents", "path": "data/incidents-*.csv", "mode": "append",
                     "columns": {"unit": "unit", "date": "when", "category": "offence", "record_id": "ref"}}],
    }, header="The duplicates bench of compstat.bench")
    config = load_config(config_path)
    end = date(2026, 3, 8)
    records = pd.DataFrame({"ref": [f"R{i}" for i in range(rows)], "unit": [f"U{i % 10 + 1}" for i in range(rows)],
                            "when": [(end - timedelta(days=i % 365)).isoformat() for i in range(rows)],
                            "offence": "burglary"})
    records.to_csv(out / "data" / "incidents-1.csv", index=False)
    engine = connect(config.store)
    seconds: dict[str, float] = {}
    try:
        started = time.perf_counter()
        with transaction(engine) as session:
            ingest_all(session, config, end, config.store)
        seconds["first_ingest"] = round(time.perf_counter() - started, 2)
        records.iloc[::-1].to_csv(out / "data" / "incidents-2.csv", index=False)  # the same records, re-exported
        started = time.perf_counter()
        with transaction(engine) as session:
            report = ingest_all(session, config, end, config.store)[-1]
            seconds["re_export_ingest"] = round(time.perf_counter() - started, 2)
            counted = session.query(Observation).count()
            started = time.perf_counter()
            period = last_complete_period(end + timedelta(days=1), config.cadence)
            found = Duplicates().run(load_context(session, config, period, [report], end))
            seconds["duplicates_check"] = round(time.perf_counter() - started, 2)
    finally:
        engine.dispose()
    return {"rows": rows, "caught": report.rows_rejected, "counted": counted, "findings": len(found),
            "step_seconds": seconds}


# The web load run ---------------------------------------------------------------------------------------

WEB_PASSWORD = "bench commander's password"
COMPSTAT = [sys.executable, "-c", "from compstat.cli import app; app()"]  # the command, in this interpreter


def demo_force(out: Path) -> Path:
    """The demo force after its last complete week's cycle, as ``make demo`` makes it, in ``out``: its config."""
    config_path = out / "config" / "demo.yaml"
    cfg_dict = demo_config() | {"store": f"sqlite:///{out / 'demo.db'}", "output_dir": str(out / "cycles")}
    write_config(config_path, cfg_dict, header="The demo force, written by compstat.bench for its web load run")
    for command in ("demo", "run-cycle"):
        subprocess.run([*COMPSTAT, command, "--config", str(config_path)], check=True, stdout=subprocess.DEVNULL,
                       timeout=1800)
    return config_path


@dataclass
class WebTally:
    """What the simulated users saw: each request's latency by page, accepted updates by action, errors."""

    latency: dict[str, list[float]] = field(default_factory=dict)
    accepted: dict[int, int] = field(default_factory=dict)
    conflicts: int = 0
    gave_up: int = 0
    errors: list[str] = field(default_factory=list)


def web_load(config_path: Path, users: int = WEB_USERS, seconds: float = WEB_SECONDS, *, think: float = 0.0,
             seed: int = 1) -> dict[str, object]:
    """``users`` commanders (``bench.commander-NN``, spread over the leaf units, each with an action or more to
    update) on ``compstat serve`` at 127.0.0.1, each signing in, then for ``seconds`` visiting their home, unit
    and action pages and posting an update to half the actions they open (the version they read; the ones
    refused as changed since are read again and resent). Several commanders share a unit and its first action,
    so updates clash on purpose. With no ``think`` time each user asks for the next page as soon as the last
    one came: the server's most, not a team's usual day. Checks afterwards that each action's history holds one
    ``web`` update per accepted (303) post: no update lost, none doubled."""
    from compstat.store import Action, connect, transaction

    config = load_config(config_path)
    units = [u.code for u in config.leaf_units]
    names = [f"bench.commander-{i + 1:02d}" for i in range(users)]
    engine = connect(config.store)
    try:
        with transaction(engine) as session:
            _bench_accounts(session, config, names, units)
            actions = {unit: [(a.id, a.status, a.support_requested) for a in session.scalars(
                select(Action).where(Action.org == config.organisation.slug, Action.unit_code == unit)
                .order_by(Action.id))] for unit in units}
            before = _web_versions(session)
    finally:
        engine.dispose()
    plan = [(name, units[i % len(units)]) for i, name in enumerate(names)]
    with serving(config_path, config_path.parent / "serve.log") as url:
        warm_up = _warm_up(url, *plan[0])
        started = time.perf_counter()
        tally = asyncio.run(_simulate(url, plan, actions, seconds, think, seed))
        elapsed = time.perf_counter() - started
    engine = connect(config.store)
    try:
        with Session(engine) as session:
            after = _web_versions(session)
    finally:
        engine.dispose()
    lost = lost_updates(tally.accepted, before, after)
    every = sorted(ms for times in tally.latency.values() for ms in times)
    return {
        "users": users, "seconds": round(elapsed, 1), "think_seconds": think, "warm_up_seconds": warm_up,
        "requests": len(every),
        "requests_per_second": round(len(every) / elapsed, 1),
        "p50_ms": _percentile(every, 50), "p95_ms": _percentile(every, 95),
        "by_page": {page: {"requests": len(times), "p50_ms": _percentile(sorted(times), 50),
                           "p95_ms": _percentile(sorted(times), 95)} for page, times in tally.latency.items()},
        "updates_accepted": sum(tally.accepted.values()), "conflicts_reloaded": tally.conflicts,
        "updates_given_up": tally.gave_up, "errors": len(tally.errors), "error_examples": tally.errors[:5],
        "lost_updates": len(lost), "lost_update_actions": {str(k): v for k, v in lost.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def lost_updates(accepted: dict[int, int], before: dict[int, int], after: dict[int, int]) -> dict[int, tuple[int, int]]:
    """The actions whose history gained a number of web updates other than the posts accepted for them:
    (posts accepted, updates stored) each."""
    stored = {aid: after.get(aid, 0) - before.get(aid, 0) for aid in set(after) | set(before) | set(accepted)}
    return {aid: (accepted.get(aid, 0), n) for aid, n in sorted(stored.items()) if n != accepted.get(aid, 0)}


def _bench_accounts(session: Session, config: Config, names: list[str], units: list[str]) -> None:
    """The commanders' accounts, and an action for every unit that has none (so every commander has one)."""
    from compstat.actions import NewAction, add_action
    from compstat.store import Action
    from compstat.web.accounts import add_user, find_user

    for i, name in enumerate(names):
        if find_user(session, config.organisation.slug, name) is None:
            add_user(session, config, name, "commander", [units[i % len(units)]], password=WEB_PASSWORD)
    raised = last_complete_period(date.today(), config.cadence)
    for unit in units:
        if session.scalar(select(Action.id).where(Action.org == config.organisation.slug,
                                                  Action.unit_code == unit).limit(1)) is None:
            add_action(session, config, raised, NewAction(unit, f"Walk the {unit} hot spots with the PCSOs",
                                                          owner="Insp Bench"), by="bench")


def _warm_up(url: str, name: str, unit: str) -> float:
    """One user's first home and unit pages, before the clock starts: the seconds they took. The first page
    after a start judges the latest cycle's actions ("did it work", levels) and keeps that for the next ones."""
    import httpx2

    started = time.perf_counter()
    with httpx2.Client(base_url=url, timeout=WEB_GRACE) as client:
        form = client.get("/login")
        client.post("/login", data={"username": name, "password": WEB_PASSWORD,
                                    "csrf_token": _form_fields(form.text).get("csrf_token", "")})
        for path in ("/", f"/units/{unit}"):
            client.get(path).raise_for_status()
    return round(time.perf_counter() - started, 1)


def _web_versions(session: Session) -> dict[int, int]:
    """Per action, how many updates its history has from the web (one version each, whatever it changed)."""
    from compstat.store import ActionUpdate

    rows = session.execute(select(ActionUpdate.action_id, func.count(distinct(ActionUpdate.version)))
                           .where(ActionUpdate.via == "web").group_by(ActionUpdate.action_id))
    return {int(aid): int(n) for aid, n in rows}


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share / 100))], 1)


@contextmanager
def serving(config_path: Path, log: Path, wait: float = 60.0) -> Iterator[str]:
    """``compstat serve`` for ``config_path`` in a child process on a free port of 127.0.0.1: its URL. The child
    is stopped at the end, however the run ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with log.open("w", encoding="utf-8") as sink:
        child = subprocess.Popen([*COMPSTAT, "serve", "--config", str(config_path), "--host", "127.0.0.1",
                                  "--port", str(port)], stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if child.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"compstat serve did not start (see {log})") from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


_FIELD = re.compile(r'<input\b[^>]*\bname="(csrf_token|version)"[^>]*>')
_VALUE = re.compile(r'\bvalue="([^"]*)"')


def _form_fields(html: str) -> dict[str, str]:
    """The hidden ``csrf_token`` and ``version`` of a page's forms (the first of each)."""
    found: dict[str, str] = {}
    for tag in _FIELD.finditer(html):
        value = _VALUE.search(tag.group(0))
        if value:
            found.setdefault(tag.group(1), value.group(1))
    return found


async def _simulate(url: str, plan: list[tuple[str, str]], actions: dict[str, list[tuple[int, str, str]]],
                    seconds: float, think: float, seed: int) -> WebTally:
    """Every user at once until ``seconds`` have passed (requests under way then finish; none is started)."""
    tally = WebTally()
    deadline = time.monotonic() + seconds
    runs = [_one_user(url, name, unit, actions[unit], deadline, think, random.Random(seed + i), tally)
            for i, (name, unit) in enumerate(plan)]
    tasks = [asyncio.ensure_future(run) for run in runs]
    _, stuck = await asyncio.wait(tasks, timeout=seconds + WEB_GRACE)
    for task in stuck:  # bounded always: a user still waiting for an answer by then is an error
        task.cancel()
    if stuck:
        tally.errors.append(f"{len(stuck)} users still waiting for an answer {WEB_GRACE:.0f} s after the end")
        await asyncio.wait(stuck)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return tally


async def _one_user(url: str, name: str, unit: str, unit_actions: list[tuple[int, str, str]], deadline: float,
                    think: float, rng: random.Random, tally: WebTally) -> None:
    import httpx2

    async def visit(kind: str, method: str, path: str, **kwargs: Any) -> httpx2.Response | None:
        if think and kind != "sign-in":
            await asyncio.sleep(min(rng.expovariate(1 / think), max(0.0, deadline - time.monotonic())))
        started = time.perf_counter()
        try:
            response = await client.request(method, path, **kwargs)
        except httpx2.HTTPError as failed:
            tally.errors.append(f"{method} {path}: {type(failed).__name__} {failed}")
            return None
        tally.latency.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400 and not (kind == "update" and response.status_code == 409):
            tally.errors.append(f"{method} {path}: {response.status_code}")
            return None
        return response

    async with httpx2.AsyncClient(base_url=url, timeout=WEB_GRACE, follow_redirects=False) as client:
        form = await visit("sign-in", "GET", "/login")
        signed = form and await visit("sign-in", "POST", "/login", data={
            "username": name, "password": WEB_PASSWORD, "csrf_token": _form_fields(form.text).get("csrf_token", "")})
        if not signed or signed.status_code != 303:
            tally.errors.append(f"{name} could not sign in")
            return
        visits = 0
        while time.monotonic() < deadline:
            visits += 1
            if not await visit("home", "GET", "/") or not await visit("unit", "GET", f"/units/{unit}"):
                continue
            action_id, status, support = unit_actions[0] if rng.random() < 0.5 else rng.choice(unit_actions)
            page = await visit("action", "GET", f"/actions/{action_id}")
            if page is None or rng.random() >= WEB_UPDATE_SHARE:
                continue
            for _ in range(WEB_RETRIES):
                fields = _form_fields(page.text)
                sent = await visit("update", "POST", f"/actions/{action_id}", data={
                    "csrf_token": fields.get("csrf_token", ""), "version": fields.get("version", ""),
                    "status": status, "note": f"{name}: visit {visits}", "support_requested": support,
                    "reason": "", "due_date": ""})
                if sent is None:
                    break
                if sent.status_code == 303:
                    tally.accepted[action_id] = tally.accepted.get(action_id, 0) + 1
                    await visit("action", "GET", f"/actions/{action_id}")  # the page with "Saved"
                    break
                tally.conflicts += 1  # 409: somebody else's update came first; read it again
                page = await visit("action", "GET", f"/actions/{action_id}")
                if page is None:
                    break
            else:
                tally.gave_up += 1


def _print_web(web: dict[str, object]) -> None:
    print(f"\n== compstat serve on 127.0.0.1: {web['users']} commanders at once for {web['seconds']} s, pausing "
          f"{web['think_seconds']} s between pages (load average at the end {web['load_average']})")
    print(f"  warm-up (one user's first pages, before the clock starts): {web['warm_up_seconds']} s")
    print(f"  {web['requests']:,} requests, {web['requests_per_second']} requests/s, "
          f"p50 {web['p50_ms']} ms, p95 {web['p95_ms']} ms")
    for page, figures in dict(web["by_page"]).items():  # type: ignore[call-overload]
        print(f"  {page:<10} {figures['requests']:>7,} requests  p50 {figures['p50_ms']} ms  "
              f"p95 {figures['p95_ms']} ms")
    print(f"  updates accepted {web['updates_accepted']:,}, refused as changed since and resent "
          f"{web['conflicts_reloaded']:,}, given up {web['updates_given_up']}; errors {web['errors']}; "
          f"lost updates {web['lost_updates']}")


def _print(results: dict[str, object]) -> None:
    print(f"compstat bench ({results['machine']}, {results['render_workers']} render workers)")
    for force in ("incidents", "weekly"):
        if force in results:
            _print_force(dict(results[force]))  # type: ignore[call-overload]
    for run in list(results.get("national", [])):  # type: ignore[call-overload]
        _print_force(dict(run) | {"title": f"{run['title']} on {run['backend']}, packs.unit_packs: "
                                           f"{run.get('unit_packs', 'all')}"})
    if "web" in results:
        _print_web(dict(results["web"]))  # type: ignore[call-overload]
    if "duplicates" in results:
        dupes = dict(results["duplicates"])  # type: ignore[call-overload]
        print(f"\n== a re-export repeating {dupes['rows']:,} stored records: {dupes['caught']:,} caught, "
              f"{dupes['counted']:,} counted")
        for step, seconds in dict(dupes["step_seconds"]).items():
            print(f"  {step:<24} {seconds:>8.2f} s")


def _print_force(results: dict[str, object]) -> None:
    print(f"\n== {results['title']}; data generation {results['generate_seconds']} s, not part of any cycle")
    for name, title in (("first", "first cycle: whole history into an empty store"),
                        ("weekly", "next week's cycle: one new week of data"),
                        ("unchanged", "the same week again: no new data, no action change")):
        if name not in results:
            continue
        run = dict(results[name])  # type: ignore[call-overload]
        print(f"\n{title} ({run['period']}, {run['rows_ingested']:,} rows; load average at the end "
              f"{run['load_average']})")
        memory = dict(run.get("step_peak_mb") or {})
        for step, seconds in dict(run["step_seconds"]).items():
            print(f"  {step:<24} {seconds:>8.2f} s" + (f"  peak {memory[step]:>6,} MB" if step in memory else ""))
        print(f"  whole cycle              {run['cycle_seconds']:>8} s")
        if run["ingest_rows_per_second"]:
            print(f"  ingest                   {run['ingest_rows_per_second']:>8,} rows/s")
        print(f"  packs                    {run['packs']} PDFs, {run.get('packs_reused', 0)} reused, "
              f"{run['seconds_per_pack']} s each in a worker "
              f"(unit packs {run['seconds_per_unit_pack']} s, "
              + (f"{run['unit_sheets']} unit sheets {run['seconds_per_unit_sheet']} s, " if run.get("unit_sheets")
                 else "")
              + f"{run['division_packs']} division packs "
              f"{run['seconds_per_division_pack']} s, the chair's {run['chair_pack_seconds']} s)")
        cpu = dict(run.get("pack_cpu_seconds") or {})
        if cpu:
            print(f"  packs' CPU                {cpu['total']:>7} s (unit packs {cpu['per_unit_pack']} s, unit sheets "
                  f"{cpu['per_unit_sheet']} s, division packs {cpu['per_division_pack']} s, the chair's "
                  f"{cpu['chair_pack']} s)")
        print(f"  peak memory (main)       {run['peak_memory_mb']:>8,} MB (the highest step's, sampled)")


if __name__ == "__main__":
    main()
