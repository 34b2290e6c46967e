"""Classification metrics from predictions, in plain numpy (no scikit-learn dependency)."""

from __future__ import annotations

import numpy as np

from models import EMOTIONS


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int = len(EMOTIONS)) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    return np.bincount(np.asarray(y_true) * n + np.asarray(y_pred), minlength=n * n).reshape(n, n)


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes=EMOTIONS) -> dict:
    """accuracy (0-1), macro_f1, per_class {name: precision, recall, f1, support}, confusion_matrix, n."""
    cm = confusion_matrix(y_true, y_pred, len(classes))
    tp = np.diag(cm).astype(float)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0  # macro averages over the classes that occur, as scikit-learn warns but we decide
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": cm.tolist(),
    }


def calibration_report(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> dict:
    """How far the top-class probability can be read as the chance of being right.

    ece: expected calibration error (Guo et al. 2017), the support-weighted gap between mean
    confidence and accuracy over `bins` equal-width confidence bins; nll: mean negative log
    likelihood of the true class. Both 0 for a perfect, certain classifier.
    """
    y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
    if len(y_true) == 0:
        return {"ece": 0.0, "nll": 0.0, "bins": bins}
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, correct, bins) - np.bincount(which, confidence, bins))
    nll = -np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, None)).mean()
    return {"ece": float(gap.sum() / count.sum()), "nll": float(nll), "bins": bins}
