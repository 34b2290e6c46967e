"""Train the fusion head (models/fusion.py) on FER2013 Training, select it on PublicTest.

    python -m train.fusion --data ../shared/datasets/fer2013 --out runs/fusion/fusion_head.pth

Features per face: the shipped CNN's log-probabilities on the live crop (train/face_crops.py,
the app's framing) and the raw measured AU scores of the mesh (train/face_mesh.py, both cached),
for the faces where both the detector and the landmarker found the face. A multinomial logistic
regression, started at the CNN's own answer, is fitted by full-batch L-BFGS with an L2 penalty
pulling it back towards that start; the penalty is chosen on PublicTest. Prints PublicTest
accuracy and macro-F1 of the CNN alone and of each fit on the same faces.

The CNN has seen these Training faces, so its log-probabilities there are more confident than on
new faces: the head learns to trust the CNN more than it should, which the PublicTest selection
can only partly undo. The model card reports the outcome either way.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models.checkpoint import DEFAULT_WEIGHTS, load_model
from models.fusion import FusionHead, save_fusion
from train.data import default_cache_dir, load
from train.face_crops import cached_detections, crop_detected
from train.face_mesh import cached_meshes
from train.metrics import classification_report
from train.predict import predict_probs

PENALTIES = (1e-1, 1e-2, 1e-3, 1e-4)


def live_probs(images: np.ndarray, weights: str) -> np.ndarray:
    """The CNN's probabilities on the live crops, cached (minutes for Training on a CPU)."""
    key = hashlib.sha1(images.tobytes())
    key.update(Path(weights).read_bytes()[-4096:])
    path = default_cache_dir() / f"live-probs-{key.hexdigest()[:16]}.npy"
    if path.exists():
        return np.load(path)
    model = load_model(weights)
    crops = crop_detected(images, cached_detections(images)).crops
    probs = predict_probs(model.model, crops, model.mean, model.std, torch.device("cpu"))
    np.save(path, probs)
    return probs


def fit(x: np.ndarray, y: np.ndarray, penalty: float, n_classes: int = 7) -> tuple[np.ndarray, np.ndarray]:
    x_t, y_t = torch.from_numpy(x).double(), torch.from_numpy(y)
    start = torch.zeros(n_classes, x.shape[1], dtype=torch.float64)
    start[:, :n_classes] = torch.eye(n_classes)
    w = start.clone().requires_grad_(True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x_t @ w.T + b, y_t) + penalty * ((w - start) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    splits = load(args.data)
    sets = {}
    from mappings import default_measured

    au_order = default_measured().au_order
    for name in ("Training", "PublicTest"):
        s = splits[name]
        meshes = cached_meshes(s.images, progress=True)
        found = meshes.found & cached_detections(s.images).found
        probs = live_probs(s.images, args.weights)
        head = FusionHead(au_order, np.zeros((7, 7 + len(au_order))), np.zeros(7), {})
        sets[name] = (head.features(probs[found], meshes.blendshapes[found]), s.labels[found], probs[found])
    x_train, y_train, _ = sets["Training"]
    x_test, y_test, p_test = sets["PublicTest"]
    cnn = classification_report(y_test, p_test.argmax(1))
    print(f"PublicTest faces with a mesh: {len(y_test)}; CNN alone: accuracy {cnn['accuracy']:.4f}, "
          f"macro-F1 {cnn['macro_f1']:.4f}\n\n| penalty | accuracy | macro-F1 |\n|---:|---:|---:|")
    best = None
    for penalty in PENALTIES:
        w, b = fit(x_train, y_train, penalty)
        r = classification_report(y_test, (x_test @ w.T + b).argmax(1))
        print(f"| {penalty:g} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} |")
        if best is None or (r["accuracy"], r["macro_f1"]) > (best[0]["accuracy"], best[0]["macro_f1"]):
            best = (r, penalty, w, b)
    r, penalty, w, b = best
    args.out.parent.mkdir(parents=True, exist_ok=True)
    training = {"command": "python -m train.fusion " + " ".join(sys.argv[1:] if argv is None else argv),
                "data": "FER2013 Training (fit), PublicTest (penalty selection)", "penalty": penalty,
                "train_faces": int(len(y_train)), "wall_time_s": round(time.time() - t0, 1),
                "PublicTest": {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "faces": int(len(y_test)),
                               "cnn_accuracy": cnn["accuracy"], "cnn_macro_f1": cnn["macro_f1"]}}
    save_fusion(FusionHead(au_order, w, b, training), args.out)
    print(f"\nbest penalty {penalty:g}: accuracy {r['accuracy']:.4f} (CNN alone {cnn['accuracy']:.4f}); "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
