"""The benchmark's own tools: the per-step memory sampler."""

from __future__ import annotations

import time

from compstat.bench import rss_sampler


def test_rss_sampler_gives_the_peak_since_its_last_call() -> None:
    with rss_sampler(interval=0.01) as peak_since_last:
        before = peak_since_last()
        block = bytearray(200 * 2**20)  # 200 MB touched, then freed
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(0.05)
        del block
        during = peak_since_last()
        after = peak_since_last()
    assert before > 0
    assert during >= before + 150  # the block was seen, though freed before the call
    assert after < during
