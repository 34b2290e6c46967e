"""The One-Euro filter (Casiez, Roussel & Vogel, "1 Euro Filter: A Simple Speed-based Low-pass
Filter for Noisy Input in Interactive Systems", CHI 2012): a first-order low-pass whose cutoff
rises with the signal's speed, so a still signal is smoothed hard and a moving one follows
quickly. Time steps come from timestamps, so it behaves alike at any frame rate.
"""

from __future__ import annotations

import math

from errors import OptionError


def _alpha(cutoff_hz: float, dt: float) -> float:
    """Weight of the new sample for a first-order low-pass at `cutoff_hz` after `dt` seconds."""
    tau = 1.0 / (2 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """x_hat = x_hat_prev + a(fc) (x - x_hat_prev), with fc = min_cutoff + beta * |dx/dt|, where
    dx/dt is the raw signal's speed low-passed at d_cutoff (as in the authors' reference code; the
    filtered value's lag would inflate it). beta is in Hz per unit of signal per second."""

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.0, d_cutoff_hz: float = 1.0):
        if min_cutoff_hz <= 0 or d_cutoff_hz <= 0 or beta < 0:
            raise OptionError(f"One-Euro cutoffs must be > 0 and beta >= 0, got min_cutoff {min_cutoff_hz}, "
                             f"beta {beta}, d_cutoff {d_cutoff_hz}")
        self.min_cutoff_hz, self.beta, self.d_cutoff_hz = min_cutoff_hz, beta, d_cutoff_hz
        self.value: float | None = None
        self.raw: float | None = None
        self.speed = 0.0
        self.time_s: float | None = None

    def __call__(self, x: float, time_s: float) -> float:
        if self.value is None:
            self.value = self.raw = x
            self.time_s = time_s
            return x
        dt = time_s - self.time_s
        if dt <= 0:  # a repeated timestamp brings nothing new
            return self.value
        speed = (x - self.raw) / dt
        self.speed += _alpha(self.d_cutoff_hz, dt) * (speed - self.speed)
        cutoff = self.min_cutoff_hz + self.beta * abs(self.speed)
        self.value += _alpha(cutoff, dt) * (x - self.value)
        self.raw, self.time_s = x, time_s
        return self.value
