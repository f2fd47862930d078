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
``--national-sizes`` incident records (default ``NATIONAL_SIZES``), the history generated one year at a
time and written to disk year by year (never the whole history in memory), each cycle reporting seconds
and peak memory (RSS of the cycle's process, sampled) per step; on PostgreSQL too when
``COMPSTAT_BENCH_PG`` (or ``COMPSTAT_TEST_PG``) names a server.
Run: ``python -m compstat.bench [--units 77] [--rows 1500000] [--workers N]
[--only incidents|weekly|duplicates|national] [--national-sizes 500000,5000000]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from compstat.config import load_config
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
NATIONAL_SIZES = (500_000,)  # make bench; the curve: --national-sizes 500000,5000000,20000000
WEEKLY_DAILY_RATE = 4.0  # incidents per unit per day behind the five frequent measures' weekly counts


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=77)
    parser.add_argument("--rows", type=int, default=TARGET_ROWS, help="approximate incidents to generate")
    parser.add_argument("--out", type=Path, default=Path("bench-data"))
    parser.add_argument("--workers", type=int, default=usable_cores(),
                        help="render processes (default: one per usable core)")
    parser.add_argument("--only", choices=["incidents", "weekly", "duplicates", "national"], help="run one part only")
    parser.add_argument("--national-sizes", default=os.environ.get("COMPSTAT_BENCH_NATIONAL_SIZES",
                                                                   ",".join(map(str, NATIONAL_SIZES))),
                        help="incident records of each national run, comma-separated (the curve)")
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    results: dict[str, object] = {"date": date.today().isoformat(),
                                  "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                                  "render_workers": args.workers}
    if args.only in (None, "incidents"):
        results["incidents"] = incident_force(out / "incidents", args.units, args.rows, args.workers)
    if args.only in (None, "weekly"):
        results["weekly"] = weekly_force(out / "weekly", args.workers)
    if args.only in (None, "duplicates"):
        results["duplicates"] = duplicated_rows(out / "duplicates")
    if args.only in (None, "national"):
        sizes = [int(n) for n in str(args.national_sizes).split(",") if n.strip()]
        results["national"] = national_runs(out / "national", sizes, args.workers)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _print(results)
    return results


def _incident_setup(config_path: Path, units: int, target_rows: int, slug: str, name: str, store: str,
                    header: str, weekly: bool = False) -> tuple[Path, dict[str, Any], date, float]:
    """An incident force's config (its incident files ``data/incidents-*.csv`` appended; with ``weekly``, the
    14 weekly-count measures too, from ``data/weekly-*.csv``) and boundaries beside ``config_path``: (config
    path, config dict, the last complete period's end, the daily rate per unit that gives about
    ``target_rows`` records from 1 January three years back to that end)."""
    out = config_path.parent
    (out / "data").mkdir(parents=True)
    cfg_dict = demo_config(units, data_dir="data", slug=slug, name=name, summary=False, weekly=weekly)
    cfg_dict["store"] = store
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


def national_runs(out: Path, sizes: list[int], workers: int) -> list[dict[str, object]]:
    """The national force at each size, on SQLite and (when a server is named) PostgreSQL."""
    pg = os.environ.get("COMPSTAT_BENCH_PG") or os.environ.get("COMPSTAT_TEST_PG")
    runs = []
    for rows in sizes:
        for backend in ("sqlite", "postgresql") if pg else ("sqlite",):
            url = pg if backend == "postgresql" else None
            runs.append(national_force(out / f"{rows}-{backend}", rows, workers, url)
                        | {"backend": backend, "target_rows": rows})
    return runs


def national_force(out: Path, target_rows: int, workers: int, pg_url: str | None = None) -> dict[str, object]:
    """``NATIONAL_UNITS`` units, about ``target_rows`` incident records over 3 years and this one's weeks, written
    a year at a time (``incidents-1-<year>.csv``), then the first cycle and next week's."""
    units = NATIONAL_UNITS
    slug = f"national-{target_rows}-{int(time.time())}"  # its own organisation in a shared PostgreSQL store
    config_path, cfg_dict, end, rate = _incident_setup(out / "national.yaml", units, target_rows, slug,
                                                       "National Benchmark Police",
                                                       pg_url or f"sqlite:///{out / 'national.db'}",
                                                       "National benchmark force written by compstat.bench",
                                                       weekly=True)
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
    leaves = len(config.leaf_units)  # render_packs' order: the units, the divisions, the chair's
    unit_packs, division_packs = outcome.pack_seconds[:leaves], outcome.pack_seconds[leaves:-1]
    chair = outcome.pack_seconds[-1:]
    return {
        "period": outcome.period.label, "rows_ingested": rows, "cycle_seconds": round(total, 1),
        "ingest_rows_per_second": round(rows / steps["ingest"]) if rows and steps.get("ingest") else None,
        "step_seconds": steps, "step_peak_mb": step_memory, "packs": len(outcome.packs),
        "packs_reused": len(outcome.reused),
        "seconds_per_pack": round(sum(outcome.pack_seconds) / max(len(outcome.pack_seconds), 1), 2),
        "seconds_per_unit_pack": round(sum(unit_packs) / max(len(unit_packs), 1), 2),
        "division_packs": len(division_packs),
        "seconds_per_division_pack": round(sum(division_packs) / max(len(division_packs), 1), 2),
        "chair_pack_seconds": round(chair[0], 2) if chair else None,
        "pack_wall_seconds": steps.get("packs"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


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


def _print(results: dict[str, object]) -> None:
    print(f"compstat bench ({results['machine']}, {results['render_workers']} render workers)")
    for force in ("incidents", "weekly"):
        if force in results:
            _print_force(dict(results[force]))  # type: ignore[call-overload]
    for run in list(results.get("national", [])):  # type: ignore[call-overload]
        _print_force(dict(run) | {"title": f"{run['title']} on {run['backend']}"})
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
              f"(unit packs {run['seconds_per_unit_pack']} s, {run['division_packs']} division packs "
              f"{run['seconds_per_division_pack']} s, the chair's {run['chair_pack_seconds']} s)")
        print(f"  peak memory (main)       {run['peak_memory_mb']:>8,} MB")


if __name__ == "__main__":
    main()
