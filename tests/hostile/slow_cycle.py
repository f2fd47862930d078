"""A ``run-cycle`` in a child process whose rendering is held up, to hit it while it runs.

``start`` writes the small config's incidents, then runs ``run-cycle`` for 2026-W10 through a
script that slows every pack's layout (``html_to_pdf``) by ``COMPSTAT_TEST_RENDER_SLEEP``
seconds and notes the process rendering it in a marker file. The patch sits at the top of the
script: render workers started by the forkserver (which preloads ``__main__``) are slowed too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from compstat.config import load_config
from tests.test_ingest import write_incidents

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """\
import os
import time

import compstat.packs.render as render

_layout = render.html_to_pdf


def slow(*args, **kwargs):
    with open(os.environ["COMPSTAT_TEST_RENDERING"], "a") as marker:
        marker.write(f"{os.getpid()}\\n")
    time.sleep(float(os.environ["COMPSTAT_TEST_RENDER_SLEEP"]))
    return _layout(*args, **kwargs)


render.html_to_pdf = slow

if __name__ == "__main__":
    from compstat.cli import app

    app()
"""
PERIOD, TODAY = "2026-W10", "2026-03-10"


@dataclass
class SlowCycle:
    proc: subprocess.Popen[bytes]
    marker: Path
    out: Path

    def rendering(self, timeout: float = 90) -> list[int]:
        """Wait until a pack is being laid out; the pids laying them out."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.marker.exists() and self.marker.read_text().strip():
                return [int(p) for p in self.marker.read_text().split()]
            if self.proc.poll() is not None:
                raise AssertionError(f"the slow cycle ended (rc {self.proc.returncode}): {self.output()}")
            time.sleep(0.1)
        raise AssertionError("the slow cycle never reached the packs")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def output(self) -> str:
        if self.proc.poll() is None or self.proc.stdout is None or self.proc.stdout.closed:
            return ""
        return self.proc.stdout.read().decode(errors="replace")


def start(config_path: Path, store_url: str, tmp_path: Path, *, workers: int = 1, sleep: float = 60) -> SlowCycle:
    write_incidents(load_config(config_path))
    script = tmp_path / "slow_cycle_main.py"
    script.write_text(SCRIPT, encoding="utf-8")
    marker, out = tmp_path / "rendering.txt", tmp_path / "cycles"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COMPSTAT_TEST_RENDERING": str(marker),
           "COMPSTAT_TEST_RENDER_SLEEP": str(sleep)}
    proc = subprocess.Popen([sys.executable, str(script), "run-cycle", "--config", str(config_path), "--db", store_url,
                             "--out", str(out), "--period", PERIOD, "--today", TODAY, "--workers", str(workers)],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return SlowCycle(proc, marker, out)


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
