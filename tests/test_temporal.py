"""The temporal model (realtime/analysis/temporal.py) and the One-Euro filter: fast, no models."""

import dataclasses
import math

import numpy as np
import pytest

from models import EMOTIONS
from realtime.analysis.faces import Detection, Face
from realtime.analysis.one_euro import OneEuroFilter
from realtime.analysis.temporal import SIGNALS, TemporalConfig, TemporalModel, signals

HAPPY, NEUTRAL, SAD = EMOTIONS.index("happy"), EMOTIONS.index("neutral"), EMOTIONS.index("sad")


def face(probs, track_id=1, **fields):
    return Face(Detection((0, 0, 100, 100), 0.9), raw_probs=np.asarray(probs, np.float32), track_id=track_id,
                **fields)


def noisy_change(rng, frames=300, change=150, noise=0.5):
    """Logits of a face that is neutral, then happy from frame `change`, with per-frame noise
    large enough that the raw argmax flips between the two (and now and then to a third class);
    the first frame, where a new track takes its first label from, is the clean one."""
    logits = np.zeros((frames, len(EMOTIONS)))
    logits[:change, NEUTRAL], logits[:change, HAPPY] = 2.0, 1.2
    logits[change:, HAPPY], logits[change:, NEUTRAL] = 2.0, 1.2
    logits[1:] += rng.normal(0, noise, logits[1:].shape)  # a new track takes its first label from frame 0
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def run(model, probs, fps=30.0, track_id=1, start_s=0.0):
    shown, faces = [], []
    for i, p in enumerate(probs):
        f = face(p, track_id)
        model.update([f], timestamp_s=start_s + i / fps)
        shown.append(f.shown)
        faces.append(f)
    return np.array(shown), faces


@pytest.mark.parametrize("seed", range(10))
def test_one_real_change_amid_noise_is_shown_exactly_once_and_soon(seed):
    cfg = TemporalConfig()
    probs = noisy_change(np.random.default_rng(seed))
    raw = probs.argmax(axis=1)
    assert np.sum(raw[1:] != raw[:-1]) >= 20, "the noise must make the raw label flicker for this to test anything"
    shown, _ = run(TemporalModel(cfg), probs)
    switches = np.flatnonzero(shown[1:] != shown[:-1]) + 1
    assert len(switches) == 1, shown
    assert shown[0] == NEUTRAL and shown[-1] == HAPPY
    clean, _ = run(TemporalModel(cfg), noisy_change(np.random.default_rng(seed), noise=0.0))
    clean_lag_s = (np.argmax(clean == HAPPY) - 150) / 30  # the smoothing's delay plus the dwell: 0.27 s
    lag_s = (switches[0] - 150) / 30
    # Never before the challenger can have led for the dwell time; noise can hurry or hold it
    # back, but by no more than about the smoothing's memory.
    assert cfg.dwell_s <= lag_s <= clean_lag_s + 3 * cfg.smoothing_s


def test_a_challenger_must_lead_by_the_margin_for_the_dwell_time():
    cfg = TemporalConfig(smoothing_s=0.001, margin=0.2, dwell_s=0.2)  # next to no smoothing: hysteresis alone
    p_neutral, p_close, p_clear = np.eye(7)[NEUTRAL], np.full(7, 0.0), np.full(7, 0.0)
    p_close[[HAPPY, NEUTRAL]] = 0.55, 0.45  # leads, but by less than the margin
    p_clear[[HAPPY, NEUTRAL]] = 0.7, 0.3
    sequence = [p_neutral] * 3 + [p_close] * 30 + [p_clear] * 4 + [p_neutral] * 3 + [p_clear] * 10
    shown, _ = run(TemporalModel(cfg), sequence)
    assert set(shown[:46]) == {NEUTRAL}  # a close lead never switches; a clear one broken off before 0.2 s neither
    assert shown[-1] == HAPPY
    first = 40 + int(np.argmax(shown[40:] == HAPPY))
    assert first == 40 + 6  # the clear lead from frame 40 switches after 6 frames = 0.2 s at 30 FPS
    _, faces = run(TemporalModel(cfg), sequence)
    # The confidence shown is the shown label's own smoothed probability, not the leader's.
    assert faces[36].shown_label == "neutral" and faces[36].shown_confidence == pytest.approx(0.3, abs=0.01)


def test_smoothing_has_the_same_time_constant_at_any_frame_rate():
    def p_happy_after(seconds, fps):
        probs = [np.eye(7)[HAPPY]] + [np.eye(7)[SAD]] * round(seconds * fps)
        _, faces = run(TemporalModel(TemporalConfig(smoothing_s=0.15)), probs, fps)
        return faces[-1].probs[HAPPY]

    for fps in (15, 30, 60):
        assert p_happy_after(0.4, fps) == pytest.approx(math.exp(-0.4 / 0.15), rel=1e-4)


def test_two_tracks_do_not_share_state():
    rng = np.random.default_rng(7)
    a, b = noisy_change(rng, 120, 60), noisy_change(rng, 120, 30)[:, ::-1].copy()
    alone = [run(TemporalModel(), p, track_id=i) for i, p in ((1, a), (2, b))]
    together = TemporalModel()
    faces_a, faces_b = [], []
    for i in range(120):
        fa = face(a[i], 1, prototype_valence=float(a[i, HAPPY]), prototype_aus={"AU12": float(a[i, HAPPY])})
        fb = face(b[i], 2, prototype_valence=float(b[i, HAPPY]), prototype_aus={"AU12": float(b[i, HAPPY])})
        together.update([fb, fa] if i % 2 else [fa, fb], timestamp_s=i / 30)
        faces_a.append(fa)
        faces_b.append(fb)
    for mine, (shown, faces) in zip((faces_a, faces_b), alone, strict=True):
        assert [f.shown for f in mine] == shown.tolist()
        np.testing.assert_allclose([f.probs for f in mine], [f.probs for f in faces], rtol=1e-6)
    # The signals too: each track's filtered valence is what it would be alone.
    solo = TemporalModel()
    for i in range(120):
        f = face(a[i], 1, prototype_valence=float(a[i, HAPPY]), prototype_aus={"AU12": float(a[i, HAPPY])})
        solo.update([f], timestamp_s=i / 30)
        assert f.prototype_valence == pytest.approx(faces_a[i].prototype_valence)
        assert f.prototype_aus["AU12"] == pytest.approx(faces_a[i].prototype_aus["AU12"])


def test_a_retired_track_starts_clean():
    model = TemporalModel()
    run(model, [np.eye(7)[HAPPY]] * 30)
    model.update([], retired=[1], timestamp_s=1.0)
    again = face(np.eye(7)[SAD], prototype_valence=-0.7)
    model.update([again], timestamp_s=1.1)
    assert again.shown == SAD and again.probs.argmax() == SAD and again.prototype_valence == -0.7


def test_the_named_signals_are_filtered_and_nothing_else():
    @dataclasses.dataclass
    class GazeFace(Face):  # as another stage might extend Face
        gaze: float = 0.0

    def make(value):
        return GazeFace(Detection((0, 0, 100, 100), 0.9), raw_probs=np.eye(7, dtype=np.float32)[NEUTRAL],
                        track_id=1, prototype_valence=value, measured_arousal=value, prototype_aus={"AU12": value},
                        measured_aus={"AU12": value, "AU04": float("nan")}, valence=value, aus={"AU12": value},
                        gaze=value)

    # measured_valence is NaN (not measured), AU04 too; the shown fields and gaze are not in the list.
    assert set(signals(make(0.0))) == {"prototype_valence", "prototype_arousal", "measured_arousal",
                                       "prototype_aus.AU12", "measured_aus.AU12"}
    assert set(signals(make(0.0), ("gaze",))) == {"gaze"}
    for names, filtered in ((SIGNALS, "prototype_valence"), ((*SIGNALS, "gaze"), "gaze")):
        model = TemporalModel(signals=names)
        for i in range(10):
            model.update([make(0.0)], timestamp_s=i / 30)
        stepped = make(1.0)
        model.update([stepped], timestamp_s=10 / 30)
        assert 0 < getattr(stepped, filtered) < 1  # filtered: part of the way to the new value
        for value in (stepped.prototype_valence, stepped.measured_arousal, stepped.prototype_aus["AU12"],
                      stepped.measured_aus["AU12"]):
            assert 0 < value < 1
        assert stepped.valence == 1.0 and stepped.aus["AU12"] == 1.0  # shown fields: picked after, not filtered
        assert math.isnan(stepped.measured_aus["AU04"])  # not measured stays not measured
        assert stepped.track_id == 1 and stepped.shown == NEUTRAL
    model = TemporalModel()
    model.update([make(0.0)], timestamp_s=0.0)
    unlisted = make(1.0)
    model.update([unlisted], timestamp_s=1 / 30)
    assert unlisted.gaze == 1.0


def test_off_passes_every_frame_through():
    model = TemporalModel(TemporalConfig(smoothing_s=0))
    run(model, [np.eye(7)[HAPPY]] * 5)
    f = face(np.eye(7)[SAD], valence=-0.7)
    model.update([f], timestamp_s=1.0)
    assert f.shown == SAD and f.probs[SAD] == 1 and f.valence == -0.7


@pytest.mark.parametrize("bad", [dict(smoothing_s=-0.1), dict(margin=1.0), dict(dwell_s=float("nan")),
                                 dict(min_cutoff_hz=0), dict(beta=-1)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        TemporalConfig(**bad)


def test_one_euro_smooths_a_still_signal_and_follows_a_moving_one():
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30
    still = 0.3 + rng.normal(0, 0.05, t.size)
    flt = OneEuroFilter(0.5, 1.0)
    out = np.array([flt(x, s) for x, s in zip(still, t, strict=True)])
    assert np.std(np.diff(out[30:])) < np.std(np.diff(still[30:])) / 5

    step = np.where(t < 5, 0.0, 0.8)
    adaptive, fixed = OneEuroFilter(0.5, 1.0), OneEuroFilter(0.5, 0.0)
    a = np.array([adaptive(x, s) for x, s in zip(step, t, strict=True)])
    f = np.array([fixed(x, s) for x, s in zip(step, t, strict=True)])
    half = 150
    # The speed term opens the filter on a fast change: half-way within two frames, where a
    # plain 0.5 Hz low-pass takes several.
    assert a[half + 1] >= 0.4 > f[half + 3]


def test_one_euro_is_alike_at_any_frame_rate():
    def after(fps):
        flt = OneEuroFilter(1.0, 0.0)
        for i in range(round(0.5 * fps) + 1):
            y = flt(0.0 if i == 0 else 1.0, i / fps)
        return y

    # A first-order low-pass sampled faster converges on the continuous one: within a few percent.
    assert after(30) == pytest.approx(after(60), rel=0.05) and after(60) == pytest.approx(after(120), rel=0.03)
