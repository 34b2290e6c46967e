"""Which crop framing makes detected faces look like FER2013's own 48x48 crops to the classifier?

Each PublicTest image is upscaled (4x, cubic) and centred on a mid-grey canvas, so the detector
sees a whole face with context; the real detector (IMAGE mode) and realtime.analysis.crop.crop_face then
cut it out again, and the classifier's accuracy on those crops is compared with its accuracy on
the raw images, on the same detected subset. Two things are reported:

  geometry  where the FER2013 square lies relative to the detection (its exact answer for
            margin and offset, as medians over the detected faces);
  accuracy  a sweep of margin x offset, plus two references: box-only framing (keypoints
            dropped, so no rotation) and the exact FER square pushed through the same
            upscale + warp path (what resampling alone costs). Every row also gives its paired
            difference from the current default framing (same faces), with its standard error.

    python -m bench.crop_framing --data ../shared/datasets/fer2013/test [--weights models/emotion_cnn.pth]

The images are the pixels the checkpoint was trained on (--pixels auto: equalised JPEGs or FER2013's
originals). At the app's framing it also prints accuracy and macro-F1 against FER2013's labels and,
when ferplus_votes.csv lies beside the data, against the FER+ majority.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from models.checkpoint import DEFAULT_WEIGHTS, load_model
from realtime.analysis import crop
from realtime.analysis.detect import FaceDetector
from realtime.analysis.faces import Detection
from train.data import PIXELS, load, with_original_pixels
from train.evaluate import with_votes_if_present
from train.face_crops import CANVAS, UPSCALE, canvas, most_central
from train.metrics import classification_report
from train.predict import predict_probs


def crops(frames: list[np.ndarray], dets: list[Detection], margin: float, offset: float) -> np.ndarray:
    return np.stack([crop.crop_face(f, d, margin=margin, offset=offset) for f, d in zip(frames, dets, strict=True)])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="FER2013 test folder (class subfolders of PublicTest_* images)")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    p.add_argument("--limit", type=int, default=0, help="use a random subset of this many images (0: all)")
    p.add_argument("--model", default="short", help='detector: "short", "full" or a .tflite path')
    p.add_argument("--upscale", type=int, default=UPSCALE)
    p.add_argument("--canvas", type=int, default=CANVAS)
    p.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.4])
    p.add_argument("--offsets", type=float, nargs="+", default=[0.05, 0.0, -0.05, -0.1])
    p.add_argument("--box-offsets", type=float, nargs="+", default=[0.0, -0.1],
                   help="offsets for the box-only reference rows")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--pixels", default="auto", choices=["auto", *PIXELS],
                   help="auto: the pixels the checkpoint was trained on")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    lm = load_model(args.weights)
    pixels = lm.meta.get("training", {}).get("pixels", "equalised") if args.pixels == "auto" else args.pixels
    splits = with_votes_if_present(load(args.data), args.data)
    if pixels == "original":
        splits, _ = with_original_pixels(splits, args.data)
    split = splits["PublicTest"] if "PublicTest" in splits else next(iter(splits.values()))
    index = np.arange(len(split))
    if 0 < args.limit < len(split):
        index = np.sort(np.random.default_rng(0).permutation(len(split))[:args.limit])
    split = split.subset(index)
    images, labels = split.images, split.labels
    saved_acc = lm.meta.get("metrics", {}).get("PublicTest", {}).get("accuracy", float("nan"))
    print(f"{len(images)} images ({pixels} pixels) from {args.data}; detector {args.model}; weights {args.weights} "
          f"(its PublicTest accuracy when saved: {saved_acc:.3f})")

    side = 48 * args.upscale
    frames, dets, hit = [], [], np.zeros(len(images), bool)
    t_det = 0.0
    with FaceDetector(args.model, video=False) as det:
        for i, img in enumerate(images):
            frame = canvas(img, args.upscale, args.canvas)
            t0 = time.perf_counter()
            found = det.detect(frame)
            t_det += time.perf_counter() - t0
            if found:
                frames.append(frame)
                dets.append(most_central(found, args.canvas))
                hit[i] = True
    print(f"detected {hit.sum()}/{len(hit)} ({hit.mean():.1%}); detection {1000 * t_det / len(hit):.2f} ms per "
          f"{args.canvas}x{args.canvas} frame")
    y = labels[hit]
    pad = (args.canvas - side) // 2
    print_geometry(dets, pad, side)

    def score(faces: np.ndarray) -> tuple[float, float, np.ndarray]:
        probs = predict_probs(lm.model, faces, lm.mean, lm.std, torch.device("cpu"))
        correct = probs.argmax(1) == y
        return float(correct.mean()), float(probs[np.arange(len(y)), y].mean()), correct

    raw_acc, raw_p, _ = score(images[hit])
    all_acc = classification_report(labels, predict_probs(lm.model, images, lm.mean, lm.std,
                                                          torch.device("cpu")).argmax(1))["accuracy"]
    rows = []
    exact = Detection((pad, pad, side, side), 1.0)  # no keypoints: box framing, no rotation
    rows.append(("exact FER square (resampling only)", 0.0, 0.0, *score(crops(frames, [exact] * len(frames), 0, 0))))
    t_crop, n_crops = 0.0, 0
    keypoint_framings = [(m, o) for m in args.margins for o in args.offsets]
    if (crop.MARGIN, crop.OFFSET) not in keypoint_framings:  # the reference of the paired differences
        keypoint_framings.append((crop.MARGIN, crop.OFFSET))
    for m, o in keypoint_framings:
        t0 = time.perf_counter()
        faces = crops(frames, dets, m, o)
        t_crop += time.perf_counter() - t0
        n_crops += len(faces)
        rows.append(("keypoints", m, o, *score(faces)))
    boxes = [replace(d, keypoints=d.keypoints[:0]) for d in dets]
    for m in args.margins:
        for o in args.box_offsets:
            rows.append(("box only (no rotation)", m, o, *score(crops(frames, boxes, m, o))))

    print(f"\naccuracy on raw 48x48: all {len(labels)} images {all_acc:.4f}; detected subset {raw_acc:.4f} "
          f"(mean p(true class) {raw_p:.4f})")
    print(f"crop_face: {1e6 * t_crop / max(n_crops, 1):.0f} us per face (grayscale canvas)\n")
    default = next(r for r in rows if r[:3] == ("keypoints", crop.MARGIN, crop.OFFSET))
    print("Paired difference: accuracy minus the default framing's on the same faces, in points, "
          "+/- one standard error.\n")
    print("| framing | margin | offset | accuracy | gap vs raw | vs default (paired) | mean p(true) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    best = max((r for r in rows if r[0] == "keypoints"), key=lambda r: (r[3], r[4]))
    for name, m, o, acc, pt, correct in rows:
        mark = " **best**" if (name, m, o) == best[:3] else ""
        mark += " (default)" if (name, m, o) == default[:3] else ""
        print(f"| {name}{mark} | {m:.2f} | {o:+.2f} | {acc:.4f} | {acc - raw_acc:+.4f} "
              f"| {paired_difference(correct, default[5])} | {pt:.4f} |")
    print(f"\ncurrent defaults: margin {crop.MARGIN}, offset {crop.OFFSET}; best in sweep: margin {best[1]}, "
          f"offset {best[2]}")
    live = predict_probs(lm.model, crops(frames, dets, crop.MARGIN, crop.OFFSET), lm.mean, lm.std,
                         torch.device("cpu")).argmax(1)
    print(f"\nlive crops at the app's framing ({hit.sum()} detected faces):")
    r = classification_report(y, live)
    print(f"  FER2013 labels: accuracy {r['accuracy']:.4f}, macro-F1 {r['macro_f1']:.4f}")
    voted = split.has_votes()[hit]
    if voted.any():
        r = classification_report(split.ferplus_majority()[hit][voted], live[voted])
        print(f"  FER+ majority ({voted.sum()} with usable votes): accuracy {r['accuracy']:.4f}, "
              f"macro-F1 {r['macro_f1']:.4f}")


def paired_difference(correct: np.ndarray, reference: np.ndarray) -> str:
    """Accuracy difference in points with its paired standard error, and the discordant faces (won/lost)."""
    d = correct.astype(float) - reference
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    return f"{100 * d.mean():+.2f} +/- {100 * se:.2f} ({int((d > 0).sum())}/{int((d < 0).sum())})"


def print_geometry(dets: list[Detection], pad: int, side: int) -> None:
    """Where the FER square (pad, pad, side, side) lies relative to each detection, as medians."""
    box = np.array([max(d.box[2], d.box[3]) for d in dets], float)
    box_cy = np.array([d.box[1] + d.box[3] / 2 for d in dets])
    kp = np.stack([d.keypoints for d in dets]).astype(float)
    eyes = (kp[:, crop.LEFT_EYE] + kp[:, crop.RIGHT_EYE]) / 2
    mouth = kp[:, crop.MOUTH]
    span = np.maximum(np.linalg.norm(kp[:, crop.LEFT_EYE] - kp[:, crop.RIGHT_EYE], axis=1),
                      np.linalg.norm(mouth - eyes, axis=1))
    kp_cy = (eyes[:, 1] + mouth[:, 1]) / 2
    centre = pad + side / 2

    def line(name: str, v: np.ndarray) -> None:
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        print(f"  {name:52s} median {med:+.3f}  (IQR {q1:+.3f} .. {q3:+.3f})")

    print("geometry (FER square = the 48x48 image's footprint on the canvas):")
    line("box side / keypoint span  [BOX_PER_KEYPOINT_SPAN]", box / span)
    line("FER side / box side - 1  [margin, box framing]", side / box - 1)
    line("FER side / (BOX_PER_KEYPOINT_SPAN * span) - 1  [margin]", side / (crop.BOX_PER_KEYPOINT_SPAN * span) - 1)
    line("(FER centre - keypoint centre) / FER side  [offset]", (centre - kp_cy) / side)
    line("(FER centre - box centre) / FER side  [offset, box framing]", (centre - box_cy) / side)


if __name__ == "__main__":
    main()
