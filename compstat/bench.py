"""`make bench`: a national-scale cycle (77 units, 3+ years, ≈1.5M incidents) on a fresh store.

Prints rows ingested per second, seconds per step, seconds per pack and peak memory, and
writes them to ``bench-data/results.json``. Run: ``python -m compstat.bench [--units 77]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import time
from datetime import date
from pathlib import Path

from compstat.config import load_config
from compstat.cycle import run_cycle
from compstat.demo import demo_config, generate_incidents, plant_defects, write_config
from compstat.periods import last_complete_period

TARGET_ROWS = 1_500_000


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=77)
    parser.add_argument("--rows", type=int, default=TARGET_ROWS, help="approximate incidents to generate")
    parser.add_argument("--out", type=Path, default=Path("bench-data"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "data").mkdir(parents=True)
    config_path = out / "bench.yaml"
    cfg_dict = demo_config(args.units, data_dir="data", slug="bench", name="Benchmark Constabulary")
    cfg_dict["store"] = f"sqlite:///{out / 'bench.db'}"
    write_config(config_path, cfg_dict, header="Benchmark force written by compstat.bench")
    config = load_config(config_path)
    today = date.today()
    end = last_complete_period(today, config.cadence).end
    days = (end - date(end.year - 3, 1, 1)).days + 1
    rate = args.rows / (args.units * days)

    started = time.perf_counter()
    incidents = plant_defects(generate_incidents(end, n_units=args.units, years=3, daily_rate=rate), seed=1)
    incidents.to_csv(out / "data" / "incidents.csv", index=False)
    generate_seconds = time.perf_counter() - started

    steps: dict[str, float] = {}
    started = time.perf_counter()
    outcome = run_cycle(config, config.store, out_root=out / "cycles", today=today, workers=args.workers,
                        progress=lambda step, seconds: steps.__setitem__(step, seconds))
    total = time.perf_counter() - started
    rows = sum(r.rows_read for r in outcome.ingest)
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    results: dict[str, object] = {
        "date": today.isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "units": args.units, "incidents": rows, "period": outcome.period.label,
        "generate_seconds": round(generate_seconds, 1), "cycle_seconds": round(total, 1),
        "ingest_rows_per_second": round(rows / steps["ingest"]) if steps.get("ingest") else None,
        "step_seconds": steps, "packs": len(outcome.packs),
        "seconds_per_pack": round(sum(outcome.pack_seconds) / max(len(outcome.pack_seconds), 1), 2),
        "pack_wall_seconds": steps.get("packs"), "render_workers": args.workers,
        "peak_memory_mb": {"main": round(self_mb), "largest_worker": round(child_mb)},
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _print(results)
    return results


def _print(results: dict[str, object]) -> None:
    print(f"compstat bench — {results['units']} units, {results['incidents']:,} incidents, "
          f"period {results['period']} ({results['machine']})")
    print(f"  data generation          {results['generate_seconds']:>8} s (not part of the cycle)")
    for step, seconds in dict(results["step_seconds"]).items():  # type: ignore[call-overload]
        print(f"  {step:<24} {seconds:>8.2f} s")
    print(f"  whole cycle              {results['cycle_seconds']:>8} s")
    print(f"  ingest                   {results['ingest_rows_per_second']:>8,} rows/s")
    print(f"  packs                    {results['packs']} PDFs, {results['seconds_per_pack']} s each "
          f"(one worker), {results['render_workers']} workers")
    print(f"  peak memory              {results['peak_memory_mb']}")


if __name__ == "__main__":
    main()
