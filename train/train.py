"""Train an expression classifier on FER2013.

    python -m train.train --data ../shared/datasets/fer2013 --out runs/cnn --epochs 60
    python -m train.train --data ../shared/datasets/fer2013 --out runs/cnn --epochs 60 --resume

Every epoch writes `<out>/last.pth` (the exact training state, for --resume), and whenever
the selection split (PublicTest) improves, `<out>/best.pth` in the shipping format
(models/checkpoint.py). `<out>/history.json` and `<out>/curves.png` track loss and accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from errors import UserError
from models import EMOTIONS
from models.checkpoint import load_model, save_checkpoint
from models.device import autocast_for, resolve_device
from models.emotion_cnn import ModelConfig, build_model
from realtime.analysis import crop
from train.augment import AugmentConfig, BatchMix, augment_batch, mix_batch
from train.data import DataError, LoadReport, Split, load
from train.face_crops import FaceDetections, cached_detections, crop_detected
from train.metrics import classification_report
from train.predict import predict_probs
from train.swa import WeightAverage
from train.teacher import check_teacher_files, distillation_loss, soft_targets

SELECTION_SPLITS = ("PublicTest", "test")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the FER2013 expression classifier.")
    p.add_argument("--data", required=True, help="fer2013.csv, or a folder holding train/ and test/")
    p.add_argument("--out", default="runs/cnn", help="run folder for checkpoints, history and curves")
    p.add_argument("--arch", default="cnn", choices=["cnn", "cnn_rnn"])
    p.add_argument("--widths", default="32,64,128,256", help="channels per conv stage")
    p.add_argument("--convs", default="1,2,3,3", help="conv layers per stage")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--rnn", default="gru", choices=["gru", "lstm"])
    p.add_argument("--dropout", type=float, default=0.4)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05, help="peak SGD learning rate")
    p.add_argument("--warmup-epochs", type=float, default=2.0)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--class-weight-power", type=float, default=0.3,
                   help="loss weight per class = count^-power (0 = unweighted); lifts rare 'disgust'")
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="mixup: blend batches of faces with Beta(ALPHA, ALPHA) weights (0 = off; 0.2-0.4 is usual)")
    p.add_argument("--cutmix", type=float, default=0.0, metavar="ALPHA",
                   help="CutMix: paste a rectangle of another face, area share from Beta(ALPHA, ALPHA) (0 = off); "
                        "with --mixup too, each mixed batch uses one of the two at random")
    p.add_argument("--mix-prob", type=float, default=1.0, metavar="P",
                   help="share of batches that --mixup/--cutmix blend (the rest train on plain faces)")
    p.add_argument("--teacher", action="append", default=[], metavar="CHECKPOINT",
                   help="distil from this trained checkpoint (repeat for an ensemble of teachers)")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="share of the loss given to matching the teachers (the rest: the labels)")
    p.add_argument("--distill-temperature", type=float, default=2.0)
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="start from this trained checkpoint (its architecture and weights): fine-tuning")
    p.add_argument("--face-crops", type=float, default=0.0, metavar="P",
                   help="show each training image with probability P as the live app crops it "
                        "(detected and re-cropped, train/face_crops.py); also scores PublicTest that way")
    p.add_argument("--framing-jitter", type=float, nargs=2, default=(0.0, 0.0), metavar=("MARGIN", "OFFSET"),
                   help="with --face-crops: cut each live crop with margin and offset drawn uniformly within "
                        "these distances of the app's (realtime/analysis/crop.py), so the model learns a range of "
                        "framings")
    p.add_argument("--swa-epochs", type=int, default=0, metavar="K",
                   help="stochastic weight averaging: run the last K epochs at the constant --swa-lr and "
                        "evaluate (and select) the mean of their end-of-epoch weights (train/swa.py)")
    p.add_argument("--swa-lr", type=float, default=0.01, help="the constant learning rate of the averaged epochs")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--limit", type=int, default=0, help="train on a random subset of this many images (smoke tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--cache-dir", type=Path, default=None, help="decoded-dataset cache (default ~/.cache/emotion-fer)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pth")
    p.add_argument("--quiet", action="store_true", help="no progress bars (log lines only)")
    return p


def int_list(option: str, text: str) -> tuple[int, ...]:
    """"64,128,256" -> (64, 128, 256); anything else ends the run with one line naming the option."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise SystemExit(f"error: {option} takes positive whole numbers separated by commas, got {text!r}")
    return values


def pick_device(name: str) -> torch.device:
    try:
        return resolve_device(name)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


def selection_split(splits: dict[str, Split], rng: np.random.Generator) -> tuple[str, Split, Split]:
    """(name, train, selection): PublicTest when the data has it, else 10% held out of Training."""
    train = splits["Training"]
    for name in SELECTION_SPLITS:
        if name in splits and len(splits[name]):
            return name, train, splits[name]
    order = rng.permutation(len(train))
    cut = max(1, len(train) // 10)
    return "holdout", train.subset(order[cut:]), train.subset(order[:cut])


def lr_lambda(decay_steps: int, warmup_steps: int, floor: float = 0.0):
    """Linear warm-up, then cosine decay to floor (a fraction of the peak) at decay_steps, then flat."""
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, decay_steps - warmup_steps)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return f


def train_one_epoch(model, images: torch.Tensor, labels: torch.Tensor, optimizer, scheduler, class_weights,
                    args, aug: AugmentConfig | None, mean: float, std: float, device, gen: torch.Generator,
                    epoch: int, teacher_log_probs: torch.Tensor | None = None,
                    live: FaceDetections | None = None) -> dict:
    """One pass over the data; live = the training images' detections, for --face-crops."""
    model.train()
    order = torch.randperm(len(labels), generator=gen)
    n_batches = len(order) // args.batch_size  # drop the ragged tail: BatchNorm dislikes tiny batches
    total_loss = correct = seen = 0
    bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{args.epochs}", leave=False, disable=args.quiet,
               unit="batch", dynamic_ncols=True)
    for b in bar:
        idx = order[b * args.batch_size:(b + 1) * args.batch_size]
        x = images[idx]
        if live is not None:
            use = torch.from_numpy(live.found)[idx] & (torch.rand(len(idx), generator=gen) < args.face_crops)
            x[use] = live_crops(images.numpy(), live, idx[use].numpy(), args.framing_jitter, gen)
        # uint8 to the device first: there the augmentation runs too, so a GPU never waits on the CPU
        x = x.to(device, non_blocking=True).float().div_(255).unsqueeze(1)
        if aug is not None:
            x = augment_batch(x, aug, gen)
        mix = None
        if (args.mixup > 0 or args.cutmix > 0) and torch.rand(1, generator=gen).item() < args.mix_prob:
            x, mix = mix_batch(x, args.mixup, args.cutmix, gen)
        x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
        y = labels[idx].to(device)
        with autocast_for(device):
            logits = model(x)
        loss = label_loss(logits.float(), y, mix, class_weights, args.label_smoothing)
        if teacher_log_probs is not None:
            targets = teacher_log_probs[idx].to(device)
            if mix is not None:
                targets = mix.blend_log_probs(targets)
            distill = distillation_loss(logits.float(), targets, args.distill_temperature)
            loss = (1 - args.distill_weight) * loss + args.distill_weight * distill
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        # Running sums stay on the device: reading them every batch would stall a GPU.
        total_loss += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if not args.quiet:
            bar.set_postfix(loss=f"{float(total_loss) / seen:.3f}", acc=f"{float(correct) / seen:.3f}",
                            lr=f"{scheduler.get_last_lr()[0]:.4f}")
    return {"train_loss": float(total_loss) / max(1, seen), "train_acc": float(correct) / max(1, seen)}


def label_loss(logits: torch.Tensor, y: torch.Tensor, mix: BatchMix | None, class_weights: torch.Tensor,
               smoothing: float) -> torch.Tensor:
    """Cross-entropy against the labels; for a mixed batch, the same blend of both images' labels."""
    loss = F.cross_entropy(logits, y, weight=class_weights, label_smoothing=smoothing)
    if mix is None:
        return loss
    other = F.cross_entropy(logits, y[mix.partner], weight=class_weights, label_smoothing=smoothing)
    return mix.lam * loss + (1 - mix.lam) * other


def live_crops(images: np.ndarray, detections: FaceDetections, index: np.ndarray,
               jitter: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    """The live crops of images[index], at the app's framing moved by up to +/- jitter (margin, offset)."""
    framing = []
    for centre, spread in zip((crop.MARGIN, crop.OFFSET), jitter, strict=True):
        draw = torch.rand(len(index), generator=gen, dtype=torch.float64).numpy() if spread else 0.0
        framing.append(centre + spread * (2 * draw - 1))
    return torch.from_numpy(crop_detected(images[index], detections.subset(index), *framing).crops)


def face_crops_for(args, train: Split, sel: Split) -> tuple[FaceDetections | None, Split | None]:
    """For --face-crops: the training images' detections, and the selection images that the
    detector finds, cropped as the live app would crop them."""
    if not args.face_crops:
        if any(args.framing_jitter):
            raise SystemExit("error: --framing-jitter needs --face-crops")
        return None, None
    if not 0 < args.face_crops <= 1:
        raise SystemExit(f"error: --face-crops must be in (0, 1], got {args.face_crops}")
    if min(args.framing_jitter) < 0:
        raise SystemExit(f"error: --framing-jitter must not be negative, got {args.framing_jitter}")
    t0 = time.time()
    tr = cached_detections(train.images, args.cache_dir)
    sc = crop_detected(sel.images, cached_detections(sel.images, args.cache_dir))
    print(f"face crops: the detector found {tr.found.mean():.1%} of the training and {sc.found.mean():.1%} "
          f"of the selection images ({time.time() - t0:.0f}s)", flush=True)
    found = np.flatnonzero(sc.found)
    sel_live = replace(sel.subset(found), images=sc.crops[found]) if len(found) else None
    return tr, sel_live


def evaluation_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1)).mean())


def plot_curves(history: list[dict], path: Path, selection_name: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train (augmented; training loss)")
    ax1.plot(epochs, [h["val_loss"] for h in history], label=selection_name)
    ax1.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    ax2.plot(epochs, [100 * h["train_acc"] for h in history], label="train (augmented)")
    ax2.plot(epochs, [100 * h["val_acc"] for h in history], label=selection_name)
    ax2.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def distillation_targets(args, state: dict, train: Split, device) -> tuple[torch.Tensor | None, list[dict]]:
    """The teachers' soft targets: computed for a new run, taken from last.pth on --resume, so a
    resumed run neither needs the teacher files nor sees different targets."""
    saved = state.get("teacher_log_probs") if state else None
    if state and (saved is not None) != bool(args.teacher):
        started = "with" if saved is not None else "without"
        raise SystemExit(f"error: this run was started {started} --teacher; resume it the same way")
    if saved is not None:
        if len(saved) != len(train):
            raise SystemExit(f"error: last.pth holds soft targets for {len(saved)} images, the data has {len(train)}")
        return saved, state["teachers"]
    if not args.teacher:
        return None, []
    t0 = time.time()
    targets = soft_targets(args.teacher, train.images, device)
    agree = (targets.log_probs.argmax(1).numpy() == train.labels).mean()
    print(f"teachers: {len(args.teacher)} checkpoint(s), soft targets for {len(train)} images in "
          f"{time.time() - t0:.0f}s; their top class agrees with the label on {agree:.1%}", flush=True)
    return targets.log_probs, targets.describe()


def main(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    widths, convs = int_list("--widths", args.widths), int_list("--convs", args.convs)
    if len(widths) != len(convs):
        raise SystemExit(f"error: --widths and --convs name different numbers of stages "
                         f"({args.widths} / {args.convs})")
    torch.backends.cudnn.benchmark = True  # every training batch has the same shape: tune the kernels once
    if min(args.mixup, args.cutmix) < 0 or not 0 <= args.mix_prob <= 1:
        raise SystemExit(f"error: --mixup and --cutmix must not be negative and --mix-prob must be in [0, 1], "
                         f"got {args.mixup}, {args.cutmix} and {args.mix_prob}")
    if not args.resume:  # a resumed run takes its soft targets from last.pth
        check_teacher_files(args.teacher)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    report = LoadReport()
    splits = load(args.data, args.cache_dir, report)
    for line in report.lines():
        print(f"data: {line}")
    if "Training" not in splits or not len(splits["Training"]):
        raise DataError(f"{args.data}: no Training images found")
    rng = np.random.default_rng(args.seed)
    sel_name, train, sel = selection_split(splits, rng)
    if args.limit:
        train = train.subset(rng.permutation(len(train))[:args.limit])
        sel = sel.subset(rng.permutation(len(sel))[:max(64, args.limit // 4)])
    args.batch_size = min(args.batch_size, len(train))
    print(f"data: {len(train)} training images, {len(sel)} {sel_name} images for model selection; device {device}")

    init = load_model(args.init) if args.init else None
    if init:  # its input normalisation comes with its weights
        mean, std = init.mean, init.std
    else:
        mean = float(train.images.mean() / 255)
        std = float(train.images.std() / 255)
    counts = np.bincount(train.labels, minlength=len(EMOTIONS)).astype(float)
    weights = np.where(counts > 0, np.maximum(counts, 1) ** -args.class_weight_power, 0)
    weights = weights / (weights * counts).sum() * counts.sum()  # mean weight per sample = 1
    class_weights = torch.tensor(weights, dtype=torch.float32, device=device)

    if init:
        cfg, model = ModelConfig.from_dict(init.meta["model_config"]), init.model
    else:
        cfg = ModelConfig(arch=args.arch, widths=widths, convs_per_stage=convs,
                          hidden=args.hidden, rnn=args.rnn, dropout=args.dropout)
        model = build_model(cfg)
    model = model.to(device).to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]  # BatchNorm and biases
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=args.lr, momentum=0.9, nesterov=True)
    if not 0 <= args.swa_epochs <= args.epochs:
        raise SystemExit(f"error: --swa-epochs must be between 0 and --epochs ({args.epochs}), got {args.swa_epochs}")
    steps_per_epoch = len(train) // args.batch_size
    swa_floor = args.swa_lr / args.lr if args.swa_epochs else 0.0
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda((args.epochs - args.swa_epochs) * steps_per_epoch,
                             int(args.warmup_epochs * steps_per_epoch), swa_floor))
    gen = torch.Generator().manual_seed(args.seed)
    aug = None if args.no_augment else AugmentConfig()

    start_epoch, best_acc, history, wall = 0, -1.0, [], 0.0
    state = {}
    average = WeightAverage()
    # BatchNorm statistics of averaged weights come from a fixed sample of the training images.
    bn_images = train.images[np.sort(rng.permutation(len(train))[:10_000])] if args.swa_epochs else None
    last_path, best_path = out / "last.pth", out / "best.pth"
    if args.resume:
        if not last_path.is_file():
            raise SystemExit(f"error: --resume given but {last_path} does not exist")
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        if "torch_rng" in state:  # dropout draws from torch's global generators
            torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"])
        start_epoch, best_acc, history, wall = state["epoch"], state["best_acc"], state["history"], state["wall_time_s"]
        average = WeightAverage(state.get("swa"))
        print(f"resumed from {last_path} at epoch {start_epoch} (best {sel_name} accuracy {best_acc:.4f})")
        if not best_path.is_file():
            # last.pth travelled without best.pth (it is not committed): the best weights so far are gone,
            # so select again among the epochs still to run rather than end with no shipping checkpoint.
            print(f"note: {best_path} is missing; the best of the remaining epochs will be written there")
            best_acc = -1.0
    teacher_log_probs, teachers = distillation_targets(args, state, train, device)

    live, sel_live = face_crops_for(args, train, sel)
    command = "python -m train.train " + " ".join(sys.argv[1:])
    images_t = torch.from_numpy(train.images)
    labels_t = torch.from_numpy(train.labels)
    print(f"model: {cfg.arch} {cfg.widths} convs {cfg.convs_per_stage}, {n_params / 1e6:.2f}M parameters")

    plotted = 0.0
    epochs_bar = tqdm(range(start_epoch, args.epochs), desc="training", unit="epoch", disable=args.quiet,
                      initial=start_epoch, total=args.epochs, dynamic_ncols=True)
    for epoch in epochs_bar:
        t0 = time.time()
        stats = train_one_epoch(model, images_t, labels_t, optimizer, scheduler, class_weights, args, aug,
                                mean, std, device, gen, epoch, teacher_log_probs, live)
        evaluated, last_acc = model, None
        if epoch >= args.epochs - args.swa_epochs:
            average.update(model)
            last_probs = predict_probs(model, sel.images, mean, std, device)
            last_acc = classification_report(sel.labels, last_probs.argmax(1))["accuracy"]
            evaluated = average.averaged_model(model, bn_images, mean, std, device)
        probs = predict_probs(evaluated, sel.images, mean, std, device)
        val = classification_report(sel.labels, probs.argmax(1))
        live_acc = None
        if sel_live is not None:
            live_probs = predict_probs(evaluated, sel_live.images, mean, std, device)
            live_acc = classification_report(sel_live.labels, live_probs.argmax(1))["accuracy"]
        wall += time.time() - t0
        row = {"epoch": epoch + 1, **stats, "val_loss": evaluation_loss(probs, sel.labels),
               "val_acc": val["accuracy"], "val_macro_f1": val["macro_f1"], "val_live_acc": live_acc,
               "val_acc_last_weights": last_acc, "epochs_averaged": average.count if last_acc is not None else 0,
               "seconds": time.time() - t0}
        history.append(row)
        improved = val["accuracy"] > best_acc
        if improved:
            best_acc = val["accuracy"]
            training = {"command": command, "data": str(args.data), "train_images": len(train),
                        "selection_split": sel_name, "epoch": epoch + 1, "epochs": args.epochs,
                        "wall_time_s": round(wall, 1), "seed": args.seed, "device": str(device),
                        "torch": torch.__version__, "augment": asdict(aug) if aug else None,
                        "distillation": {"teachers": teachers, "weight": args.distill_weight,
                                         "temperature": args.distill_temperature} if teachers else None,
                        "swa": {"epochs_averaged": average.count, "lr": args.swa_lr} if last_acc is not None else None,
                        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
            metrics = {sel_name: val}
            if live_acc is not None:
                metrics[f"{sel_name} live crops"] = {"accuracy": live_acc, "n": len(sel_live)}
            save_checkpoint(best_path, evaluated, cfg, mean, std, training, metrics)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "generator": gen.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None, "epoch": epoch + 1,
                    "best_acc": best_acc, "history": history, "wall_time_s": wall,
                    "teacher_log_probs": teacher_log_probs, "teachers": teachers, "swa": average.state_dict()},
                   out / "last.tmp")
        os.replace(out / "last.tmp", last_path)
        (out / "history.json").write_text(json.dumps(history, indent=1))
        if epoch + 1 == args.epochs or time.time() - plotted > 60:  # a plot can outlast a GPU epoch
            plot_curves(history, out / "curves.png", sel_name)
            plotted = time.time()
        line = (f"epoch {epoch + 1}/{args.epochs}: train loss {stats['train_loss']:.3f} acc {stats['train_acc']:.4f} | "
                f"{sel_name} loss {row['val_loss']:.3f} acc {val['accuracy']:.4f} macro-F1 {val['macro_f1']:.4f}"
                f"{f' | live crops acc {live_acc:.4f}' if live_acc is not None else ''}"
                f"{f' | mean of {average.count} epochs (last alone {last_acc:.4f})' if last_acc is not None else ''}"
                f"{' *best' if improved else ''} | {row['seconds']:.0f}s")
        epochs_bar.write(line) if not args.quiet else print(line, flush=True)
    print(f"done: best {sel_name} accuracy {best_acc:.4f}; weights in {best_path}")
    return {"best_acc": best_acc, "best_path": str(best_path), "history": history}


def cli(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        main(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: the last finished epoch is saved in {Path(args.out) / 'last.pth'}; "
              "continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(cli())
