"""Per-stage timings for the HUD, the run summary and the benchmarks, in memory that stays flat.

The HUD shows the median of the last `window` frames (a deque). The session's median, for the run
summary, comes from a histogram with logarithmic bins of HISTOGRAM_STEP (1%) width rather than from
every sample: an 8-hour session at 30 FPS is ~860,000 samples a stage (~200 MB as Python floats),
where the histogram is a fixed ~2,000 counters, exact in count, and its median is within half a
bin (0.5%) of the true one. A reservoir sample would also be bounded, but its median wanders by
chance; the histogram's error is fixed and deterministic (the same run gives the same figure).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import numpy as np

HISTOGRAM_LOW_MS, HISTOGRAM_HIGH_MS, HISTOGRAM_STEP = 1e-4, 1e5, 0.01  # 0.1 us to 100 s, 1% bins
_BINS = math.ceil(math.log(HISTOGRAM_HIGH_MS / HISTOGRAM_LOW_MS) / math.log1p(HISTOGRAM_STEP))


class SessionMedian:
    """The median of every value added, to within 0.5%, in constant memory (see the module's note)."""

    def __init__(self):
        self.counts = np.zeros(_BINS, np.int64)
        self.n = 0

    def add(self, ms: float) -> None:
        # Values below or above the range fall into the first or the last bin.
        k = math.log(max(ms, HISTOGRAM_LOW_MS) / HISTOGRAM_LOW_MS) / math.log1p(HISTOGRAM_STEP)
        self.counts[min(int(k), _BINS - 1)] += 1
        self.n += 1

    def median(self) -> float:
        k = int(np.searchsorted(np.cumsum(self.counts), (self.n + 1) / 2))
        return HISTOGRAM_LOW_MS * (1 + HISTOGRAM_STEP) ** (k + 0.5)  # the bin's geometric middle


class StageTimer:
    """Milliseconds per stage: the median over a sliding window (the HUD) and over the whole session."""

    def __init__(self, stages: Iterable[str], window: int = 60):
        self.samples = {s: deque(maxlen=window) for s in stages}
        self.session = {s: SessionMedian() for s in self.samples}

    def add(self, stage: str, seconds: float) -> None:
        self.samples[stage].append(seconds * 1000)
        self.session[stage].add(seconds * 1000)

    def recent(self) -> dict[str, float]:
        return {s: float(np.median(v)) for s, v in self.samples.items() if v}

    def overall(self) -> dict[str, float]:
        return {s: m.median() for s, m in self.session.items() if m.n}
