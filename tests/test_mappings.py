"""The emotion -> AU -> valence/arousal mapping: published targets, modes, input checks, file validation."""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mappings
from mappings import AU_TO_VA_PATH, EMOTION_TO_AU_PATH, Affect, MappingError, affect, affect_batch, load_mappings
from models import EMOTIONS

REPO_ROOT = Path(__file__).resolve().parents[1]

# Russell & Mehrabian (1977) points as given in the issue, kept independent of the derivation script.
CIRCUMPLEX = {
    "happy": (0.81, 0.51), "sad": (-0.63, -0.27), "angry": (-0.51, 0.59), "fear": (-0.64, 0.60),
    "disgust": (-0.60, 0.35), "surprise": (0.40, 0.67), "neutral": (0.0, 0.0),
}
# EMFACS prototypes (AU10 kept beside AU9 for disgust).
EMFACS = {
    "happy": {6, 12}, "sad": {1, 4, 15}, "surprise": {1, 2, 5, 26}, "fear": {1, 2, 4, 5, 7, 20, 26},
    "angry": {4, 5, 7, 23}, "disgust": {9, 10, 15, 16}, "neutral": set(),
}


def one_hot(emotion: str) -> np.ndarray:
    p = np.zeros(len(EMOTIONS))
    p[EMOTIONS.index(emotion)] = 1.0
    return p


# --- the shipped tables ----------------------------------------------------------------------------

def test_au_order_and_names():
    assert mappings.AU_ORDER == tuple(sorted(mappings.AU_ORDER, key=lambda k: int(k[2:])))
    assert set(mappings.AU_NAMES) == set(mappings.AU_ORDER)
    assert mappings.AU_NAMES["AU12"] == "Lip corner puller"
    assert mappings.AU_NAMES["AU04"] == "Brow lowerer"
    assert all(len(k) == 4 and k.startswith("AU") for k in mappings.AU_ORDER)


def test_prototypes_are_the_emfacs_sets():
    for emotion, numbers in EMFACS.items():
        active = {int(au[2:]) for au, x in affect(one_hot(emotion)).aus.items() if x > 0}
        assert active == numbers, emotion


@pytest.mark.parametrize("emotion", EMOTIONS)
@pytest.mark.parametrize("mode", ["soft", "argmax"])
def test_every_prototype_lands_on_its_circumplex_point(emotion, mode):
    a = affect(one_hot(emotion), mode=mode)
    target_v, target_a = CIRCUMPLEX[emotion]
    assert abs(a.valence - target_v) < 0.1
    assert abs(a.arousal - target_a) < 0.1
    assert abs(a.valence - target_v) < 0.01 and abs(a.arousal - target_a) < 0.01  # what the fit achieves


def test_neutral_has_no_aus_and_sits_at_the_origin():
    a = affect({"neutral": 1.0})
    assert all(x == 0.0 for x in a.aus.values())
    assert (a.valence, a.arousal) == (0.0, 0.0)


def test_quadrants():
    happy, sad, angry = affect({"happy": 1}), affect({"sad": 1}), affect({"angry": 1})
    fear, surprise, disgust = affect({"fear": 1}), affect({"surprise": 1}), affect({"disgust": 1})
    assert happy.valence > 0
    assert sad.valence < 0 and sad.arousal < 0
    assert angry.valence < 0 and angry.arousal > 0
    assert fear.valence < 0 and fear.arousal > 0
    assert disgust.valence < 0 and disgust.arousal > 0
    assert surprise.arousal > 0


def test_weights_respect_the_literature_signs():
    weights = dict(zip(mappings.AU_ORDER, mappings.default_mapper().weights, strict=True))
    for au in ("AU06", "AU12"):
        assert weights[au][0] >= 0, au
    for au in ("AU04", "AU09", "AU10", "AU15"):
        assert weights[au][0] <= 0, au
    for au in ("AU01", "AU02", "AU05", "AU20", "AU26"):
        assert weights[au][1] >= 0, au


def test_shipped_au_to_va_is_what_the_derivation_writes(tmp_path):
    from mappings import derive_au_to_va

    out = tmp_path / "au_to_va.json"
    assert derive_au_to_va.main(["--out", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(AU_TO_VA_PATH.read_text()), \
        "mappings/au_to_va.json is stale or hand-edited: run python -m mappings.derive_au_to_va"


def test_derivation_is_deterministic():
    from mappings.derive_au_to_va import fit_weights

    prototypes = mappings.read_prototypes()
    first = fit_weights(prototypes.intensities, prototypes.au_order)
    assert np.array_equal(first, fit_weights(prototypes.intensities, prototypes.au_order))


# --- modes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("emotion", EMOTIONS)
def test_soft_on_a_one_hot_equals_argmax(emotion):
    soft, hard = affect(one_hot(emotion), "soft"), affect(one_hot(emotion), "argmax")
    assert soft.aus == pytest.approx(hard.aus, abs=1e-12)
    assert soft.valence == pytest.approx(hard.valence, abs=1e-12)
    assert soft.arousal == pytest.approx(hard.arousal, abs=1e-12)


def test_soft_aus_are_the_probability_weighted_prototypes():
    probs = {"happy": 0.5, "surprise": 0.3, "neutral": 0.2}
    a = affect(probs)
    happy, surprise = affect({"happy": 1}).aus, affect({"surprise": 1}).aus
    for au in mappings.AU_ORDER:
        assert a.aus[au] == pytest.approx(0.5 * happy[au] + 0.3 * surprise[au])


def test_argmax_takes_the_top_emotion_only():
    a = affect({"happy": 0.4, "surprise": 0.35, "neutral": 0.25}, mode="argmax")
    assert a == affect({"happy": 1.0})


@pytest.mark.parametrize("start,end", list(itertools.combinations(EMOTIONS, 2)))
def test_a_mixture_moves_monotonically_between_its_endpoints(start, end):
    t = np.linspace(0.0, 1.0, 21)
    probs = (1 - t)[:, None] * one_hot(start) + t[:, None] * one_hot(end)
    aus, valence, arousal = affect_batch(probs)
    for series in (valence, arousal, *aus.T):
        steps = np.diff(series)
        assert (steps >= -1e-12).all() or (steps <= 1e-12).all()
        assert min(series[0], series[-1]) - 1e-12 <= series.min()
        assert series.max() <= max(series[0], series[-1]) + 1e-12
    assert (valence[0], arousal[0]) == pytest.approx(CIRCUMPLEX[start], abs=0.01)
    assert (valence[-1], arousal[-1]) == pytest.approx(CIRCUMPLEX[end], abs=0.01)


def test_outputs_stay_in_range_for_random_probabilities():
    probs = np.random.default_rng(0).dirichlet(np.full(len(EMOTIONS), 0.3), size=2000)
    for mode in ("soft", "argmax"):
        aus, valence, arousal = affect_batch(probs, mode)
        assert ((aus >= 0) & (aus <= 1)).all()
        assert ((valence >= -1) & (valence <= 1) & (arousal >= -1) & (arousal <= 1)).all()


def test_valence_and_arousal_are_clamped(tmp_path):
    doc = json.loads(AU_TO_VA_PATH.read_text())
    doc["weights"]["AU12"] = {"valence": 5.0, "arousal": -5.0}
    path = tmp_path / "au_to_va.json"
    path.write_text(json.dumps(doc))
    a = load_mappings(EMOTION_TO_AU_PATH, path).affect({"happy": 1.0})
    assert (a.valence, a.arousal) == (1.0, -1.0)


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown mode 'hard'"):
        affect({"happy": 1.0}, mode="hard")


# --- inputs ----------------------------------------------------------------------------------------

def test_affect_returns_every_au_as_floats():
    a = affect([0.1, 0.0, 0.1, 0.5, 0.2, 0.05, 0.05])
    assert isinstance(a, Affect)
    assert tuple(a.aus) == mappings.AU_ORDER
    assert all(type(x) is float for x in a.aus.values())
    assert type(a.valence) is float and type(a.arousal) is float
    with pytest.raises(AttributeError):
        a.valence = 0.0  # frozen


def test_dict_array_and_list_inputs_agree():
    probs = np.array([0.05, 0.01, 0.04, 0.6, 0.2, 0.05, 0.05])
    from_dict = affect(dict(zip(EMOTIONS, probs.tolist(), strict=True)))
    assert affect(probs) == from_dict
    assert affect(probs.tolist()) == from_dict
    assert affect(probs.astype(np.float32)).valence == pytest.approx(from_dict.valence, abs=1e-6)


def test_missing_dict_keys_count_as_zero():
    assert affect({"happy": 1.0}) == affect(one_hot("happy"))


def test_probabilities_are_renormalised():
    probs = np.array([0.05, 0.01, 0.04, 0.6, 0.2, 0.05, 0.05])
    assert affect(probs * 3.0).valence == pytest.approx(affect(probs).valence)
    assert affect({"happy": 2.0, "sad": 2.0}) == affect({"happy": 0.5, "sad": 0.5})


def test_batch_matches_single_calls():
    probs = np.random.default_rng(1).dirichlet(np.ones(len(EMOTIONS)), size=50)
    for mode in ("soft", "argmax"):
        aus, valence, arousal = affect_batch(probs, mode)
        assert aus.shape == (50, len(mappings.AU_ORDER)) and valence.shape == arousal.shape == (50,)
        for i in (0, 17, 49):
            single = affect(probs[i], mode)
            assert list(single.aus.values()) == pytest.approx(aus[i].tolist())
            assert (single.valence, single.arousal) == pytest.approx((valence[i], arousal[i]))


def test_empty_batch():
    aus, valence, arousal = affect_batch(np.zeros((0, len(EMOTIONS))))
    assert aus.shape == (0, len(mappings.AU_ORDER)) and valence.shape == arousal.shape == (0,)


@pytest.mark.parametrize("probs,message", [
    ([0.5, 0.5], "expected 7 probabilities"),
    (np.ones((1, 7)) / 7, r"got shape \(1, 7\)"),
    ({"happy": 0.9, "contempt": 0.1}, "unknown emotion 'contempt'"),
    ({"Happy": 1.0}, "unknown emotion 'Happy'"),
    ([0.5, 0.5, 0, 0, 0, 0, -0.1], "negative probability"),
    ([np.nan, 0.5, 0, 0, 0, 0, 0.5], "NaN or infinite probability"),
    ([np.inf, 0, 0, 0, 0, 0, 0], "NaN or infinite probability"),
    ([0, 0, 0, 0, 0, 0, 0], "probabilities sum to 0"),
    (["a", "b", "c", "d", "e", "f", "g"], "probabilities must be numbers"),
    ({"happy": "lots"}, "probabilities must be numbers"),
])
def test_bad_probabilities_are_rejected(probs, message):
    with pytest.raises(ValueError, match=message):
        affect(probs)


def test_bad_batches_name_the_row():
    probs = np.full((3, len(EMOTIONS)), 1 / 7)
    probs[2, 0] = -1.0
    with pytest.raises(ValueError, match="negative probability in row 2"):
        affect_batch(probs)
    with pytest.raises(ValueError, match=r"shape \[N, 7\]"):
        affect_batch(np.ones(7))


# --- file validation -------------------------------------------------------------------------------

def _write(tmp_path: Path, name: str, doc) -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def _edited(path: Path, edit) -> dict:
    doc = copy.deepcopy(json.loads(path.read_text()))
    edit(doc)
    return doc


AU_TO_VA_CASES = [
    (lambda d: d["weights"].__setitem__("AU99", {"valence": 0.1, "arousal": 0.1}),
     "weights.AU99: unknown action unit"),
    (lambda d: d["weights"].pop("AU07"), "weights.AU07: missing (every action unit"),
    (lambda d: d["weights"]["AU12"].pop("arousal"), "weights.AU12: missing field 'arousal'"),
    (lambda d: d["weights"]["AU12"].__setitem__("valence", "high"),
     "weights.AU12.valence: expected a number, got a string"),
    (lambda d: d["weights"]["AU12"].__setitem__("valence", True),
     "weights.AU12.valence: expected a number, got a boolean"),
    (lambda d: d["weights"]["AU12"].__setitem__("dominance", 0.2), "weights.AU12: unknown field 'dominance'"),
    (lambda d: d["weights"].__setitem__("AU12", [0.6, 0.4]), "weights.AU12: expected an object, got a list"),
    (lambda d: d.pop("weights"), "missing field 'weights'"),
]


@pytest.mark.parametrize("edit,message", AU_TO_VA_CASES)
def test_malformed_au_to_va_is_rejected(tmp_path, edit, message):
    path = _write(tmp_path, "au_to_va.json", _edited(AU_TO_VA_PATH, edit))
    with pytest.raises(MappingError) as caught:
        load_mappings(EMOTION_TO_AU_PATH, path)
    assert str(caught.value).startswith(f"{path}: {message}")


def _set_intensity(value):
    return lambda d: d["emotions"]["happy"]["aus"]["AU12"].__setitem__("intensity", value)


EMOTION_TO_AU_CASES = [
    (lambda d: d["emotions"].__setitem__("contempt", {"aus": {}}), "emotions.contempt: unknown emotion"),
    (lambda d: d["emotions"].pop("fear"), "emotions.fear: missing emotion"),
    (lambda d: d["emotions"]["happy"]["aus"].__setitem__("AU99", {"intensity": 0.5}),
     "emotions.happy.aus.AU99: unknown action unit"),
    (_set_intensity(1.5), "emotions.happy.aus.AU12.intensity: 1.5 is out of range [0, 1]"),
    (_set_intensity(-0.1), "emotions.happy.aus.AU12.intensity: -0.1 is out of range [0, 1]"),
    (_set_intensity("1"), "emotions.happy.aus.AU12.intensity: expected a number, got a string"),
    (_set_intensity(None), "emotions.happy.aus.AU12.intensity: expected a number, got null"),
    (lambda d: d["emotions"]["happy"]["aus"]["AU12"].pop("intensity"),
     "emotions.happy.aus.AU12: missing field 'intensity'"),
    (lambda d: d["emotions"]["happy"]["aus"]["AU12"].__setitem__("intensty", 1.0),
     "emotions.happy.aus.AU12: unknown field 'intensty'"),
    (lambda d: d["emotions"]["sad"].pop("aus"), "emotions.sad: missing field 'aus'"),
    (lambda d: d["emotions"].__setitem__("sad", "1+4+15"), "emotions.sad: expected an object, got a string"),
    (lambda d: d["action_units"].__setitem__("AU6", "Cheek raiser"), "action_units.AU6: not an action unit key"),
    (lambda d: d["action_units"].__setitem__("AU12", ""), "action_units.AU12: the FACS name must be a non-empty"),
    (lambda d: d.pop("action_units"), "missing field 'action_units'"),
    (lambda d: d.pop("emotions"), "missing field 'emotions'"),
]


@pytest.mark.parametrize("edit,message", EMOTION_TO_AU_CASES)
def test_malformed_emotion_to_au_is_rejected(tmp_path, edit, message):
    path = _write(tmp_path, "emotion_to_au.json", _edited(EMOTION_TO_AU_PATH, edit))
    with pytest.raises(MappingError) as caught:
        load_mappings(path, AU_TO_VA_PATH)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_an_au_the_prototypes_drop_is_unknown_to_au_to_va(tmp_path):
    def drop_au16(d):
        d["action_units"].pop("AU16")
        d["emotions"]["disgust"]["aus"].pop("AU16")

    prototypes = _write(tmp_path, "emotion_to_au.json", _edited(EMOTION_TO_AU_PATH, drop_au16))
    with pytest.raises(MappingError, match="au_to_va.json: weights.AU16: unknown action unit"):
        load_mappings(prototypes, AU_TO_VA_PATH)


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
    ("[1, 2]", "expected a JSON object at the top level, got a list"),
    ('{"weights": {"AU01": {"valence": NaN, "arousal": 0}}}', "weights.AU01.valence: nan is not a finite number"),
])
def test_unreadable_files_are_rejected(tmp_path, content, message):
    path = _write(tmp_path, "au_to_va.json", content)
    with pytest.raises(MappingError) as caught:
        load_mappings(EMOTION_TO_AU_PATH, path)
    assert str(caught.value) == f"{path}: {message}"


def test_missing_file(tmp_path):
    with pytest.raises(MappingError, match="emotion_to_au.json: file not found"):
        load_mappings(tmp_path / "emotion_to_au.json", AU_TO_VA_PATH)


def test_mapping_error_is_a_value_error_and_names_repo_files_relatively():
    from mappings.mapper import _error

    error = _error(AU_TO_VA_PATH, "weights.AU99", "unknown action unit")
    assert isinstance(error, ValueError)
    assert str(error) == "mappings/au_to_va.json: weights.AU99: unknown action unit"


def test_importing_mappings_pulls_in_neither_torch_nor_scipy():
    code = "import sys, mappings; mappings.affect({'happy': 1}); print('torch' in sys.modules, 'scipy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
