"""Train an expression classifier on FER2013.

    python -m train.train --data ../shared/datasets/fer2013 --out runs/cnn --epochs 60
    python -m train.train --data ../shared/datasets/fer2013 --out runs/cnn --epochs 60 --resume
    python -m train.train --data ../shared/datasets/fer2013 --out runs/s --labels votes --pixels original

Every epoch writes `<out>/last.pth` (the exact training state, for --resume), and whenever
the selection split (PublicTest) improves, `<out>/best.pth` in the shipping format
(models/checkpoint.py). `<out>/history.json` and `<out>/curves.png` track loss and accuracy.

Targets (--labels): FER2013's own labels (the class folders), the FER+ vote shares (the FER+
paper's "probability" mode: cross-entropy against the ten annotators' distribution; train/data.py
says how contempt, unknown and not-a-face are handled), or a mix of the two. Pixels (--pixels):
the dataset's histogram-equalised JPEGs or FER2013's original pixels. The training prior of the
targets is stored in the checkpoint, so that `train.prior` can take it out of the logits
(logit adjustment, Menon et al. 2021).

Model selection (--select): by default each epoch is scored against the training labels' own set
(the FER+ majority for votes and the mix, FER2013's labels otherwise). The two label sets pull one
argmax apart (`bench.label_agreement`), so an epoch picked on one of them is that set's most
partial one; `--select both` picks on the mean of the macro-F1s against both. When the votes are
at hand, every epoch's history row records both.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from errors import OptionError, UserError
from models import EMOTIONS
from models.checkpoint import load_model, save_checkpoint
from models.device import autocast_for, resolve_device
from models.emotion_cnn import ARCHITECTURES, ModelConfig, build_model
from train.augment import AugmentConfig, augment_batch
from train.data import PIXELS, DataError, LoadReport, Split, load, relative_key, with_original_pixels, with_votes
from train.face_crops import FaceDetections, cached_detections, crop_detected
from train.frozen import cached_features, head_probs
from train.metrics import classification_report
from train.predict import predict_probs
from train.teacher import check_teacher_files, distillation_loss, read_soft_targets, soft_targets

SELECTION_SPLITS = ("PublicTest", "test")
LABELS = ("fer2013", "votes", "mix")
SELECT = ("labels", "both")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the FER2013 expression classifier.")
    p.add_argument("--data", required=True, help="fer2013.csv, or a folder holding train/ and test/")
    p.add_argument("--out", default="runs/cnn", help="run folder for checkpoints, history and curves")
    p.add_argument("--arch", default="cnn", choices=list(ARCHITECTURES))
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
    p.add_argument("--labels", default="fer2013", choices=LABELS,
                   help="targets: FER2013's class folders, the FER+ vote shares (ferplus_votes.csv beside the "
                        "data; images without usable votes are left out), or --mix-weight of the votes and the "
                        "rest FER2013's label")
    p.add_argument("--mix-weight", type=float, default=0.5, help="with --labels mix: the votes' share of the target")
    p.add_argument("--select", default="labels", choices=SELECT,
                   help="what picks best.pth: macro-F1 against the training labels' own set (the FER+ majority "
                        "for votes and the mix, FER2013's labels otherwise), or the mean of the macro-F1s "
                        "against both")
    p.add_argument("--pixels", default="equalised", choices=PIXELS,
                   help="the dataset's histogram-equalised JPEGs, or FER2013's original pixels "
                        "(original_pixels.npz beside the data; the 159 images without one are left out)")
    p.add_argument("--gamma", type=float, default=0.0,
                   help="photometric augmentation: gamma drawn log-uniformly in [e^-G, e^G] (0 = off)")
    p.add_argument("--brightness", type=float, default=0.25, help="additive brightness jitter, pixel units")
    p.add_argument("--contrast", type=float, default=0.25, help="multiplicative contrast jitter")
    p.add_argument("--freeze-features", action="store_true",
                   help="with --init: train only the classifier head (the conv features and their BatchNorm "
                        "statistics stay as they are)")
    p.add_argument("--teacher", action="append", default=[], metavar="CHECKPOINT",
                   help="distil from this trained checkpoint (repeat for an ensemble of teachers)")
    p.add_argument("--soft-targets", metavar="FILE",
                   help="distil from teachers' soft targets written by train.soft_targets (for a machine the "
                        "teacher checkpoints cannot travel to); instead of --teacher")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="share of the loss given to matching the teachers (the rest: the labels)")
    p.add_argument("--distill-temperature", type=float, default=2.0)
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="start from this trained checkpoint (its architecture and weights): fine-tuning")
    p.add_argument("--face-crops", type=float, default=0.0, metavar="P",
                   help="show each training image with probability P as the live app crops it "
                        "(detected and re-cropped, train/face_crops.py); also scores PublicTest that way")
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
        raise OptionError(f"{option} takes positive whole numbers separated by commas, got {text!r}")
    return values


def selection_split(splits: dict[str, Split], rng: np.random.Generator) -> tuple[str, Split, Split]:
    """(name, train, selection): PublicTest when the data has it, else 10% held out of Training."""
    train = splits["Training"]
    for name in SELECTION_SPLITS:
        if name in splits and len(splits[name]):
            return name, train, splits[name]
    order = rng.permutation(len(train))
    cut = max(1, len(train) // 10)
    return "holdout", train.subset(order[cut:]), train.subset(order[:cut])


def lr_lambda(decay_steps: int, warmup_steps: int):
    """Linear warm-up, then cosine decay to 0 at decay_steps."""
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, decay_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return f


def train_one_epoch(model, images: torch.Tensor, targets: torch.Tensor, optimizer, scheduler, class_weights,
                    args, aug: AugmentConfig | None, mean: float, std: float, device, gen: torch.Generator,
                    epoch: int, teacher_log_probs: torch.Tensor | None = None,
                    live: FaceDetections | None = None, features: torch.Tensor | None = None) -> dict:
    """One pass over the data; targets = each image's class distribution [N, 7]; live = the training
    images' detections, for --face-crops; features = the frozen features of every image, to train the
    classifier head alone on (train/frozen.py)."""
    set_training_mode(model, args.freeze_features)
    channels_last = uses_channels_last(model)
    order = torch.randperm(len(targets), generator=gen)
    n_batches = len(order) // args.batch_size  # drop the ragged tail: BatchNorm dislikes tiny batches
    total_loss = correct = seen = 0
    bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{args.epochs}", leave=False, disable=args.quiet,
               unit="batch", dynamic_ncols=True)
    for b in bar:
        idx = order[b * args.batch_size:(b + 1) * args.batch_size]
        y = targets[idx].to(device)
        if features is not None:
            with autocast_for(device):
                logits = model.classifier(features[idx].to(device))
            loss = soft_cross_entropy(logits.float(), y, class_weights, args.label_smoothing)
            step(optimizer, scheduler, loss)
            total_loss += loss.detach() * len(y)
            correct += (logits.argmax(1) == y.argmax(1)).sum()
            seen += len(y)
            continue
        x = images[idx]
        if live is not None:
            use = torch.from_numpy(live.found)[idx] & (torch.rand(len(idx), generator=gen) < args.face_crops)
            x[use] = torch.from_numpy(crop_detected(images.numpy()[idx[use].numpy()],
                                                    live.subset(idx[use].numpy())).crops)
        # uint8 to the device first: there the augmentation runs too, so a GPU never waits on the CPU
        x = x.to(device, non_blocking=True).float().div_(255).unsqueeze(1)
        if aug is not None:
            x = augment_batch(x, aug, gen)
        x = (x - mean) / std
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast_for(device):
            logits = model(x)
        loss = soft_cross_entropy(logits.float(), y, class_weights, args.label_smoothing)
        if teacher_log_probs is not None:
            distill = distillation_loss(logits.float(), teacher_log_probs[idx].to(device), args.distill_temperature)
            loss = (1 - args.distill_weight) * loss + args.distill_weight * distill
        step(optimizer, scheduler, loss)
        # Running sums stay on the device: reading them every batch would stall a GPU.
        total_loss += loss.detach() * len(y)
        correct += (logits.argmax(1) == y.argmax(1)).sum()
        seen += len(y)
        if not args.quiet:
            bar.set_postfix(loss=f"{float(total_loss) / seen:.3f}", acc=f"{float(correct) / seen:.3f}",
                            lr=f"{scheduler.get_last_lr()[0]:.4f}")
    return {"train_loss": float(total_loss) / max(1, seen), "train_acc": float(correct) / max(1, seen)}


def step(optimizer, scheduler, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor,
                       smoothing: float) -> torch.Tensor:
    """Cross-entropy against class distributions [B, C] (one-hot labels, vote shares or a mix), smoothed
    towards uniform; each image weighs its target's mean class weight, and the loss is the weighted mean,
    as F.cross_entropy(weight=...) does for hard labels."""
    t = targets * (1 - smoothing) + smoothing / targets.shape[1]
    per_image = -(t * torch.log_softmax(logits, dim=1)).sum(1)
    w = targets @ class_weights
    return (per_image * w).sum() / w.sum()


def uses_channels_last(model: nn.Module) -> bool:
    """Channels-last speeds up full convolutions on CPUs and GPUs; depthwise ones train ~2x slower in it
    on the CPU (PyTorch 2.14, measured on an AVX-512 EPYC), so the separable net stays NCHW."""
    return getattr(model, "cfg", None) is None or model.cfg.arch != "sepcnn"


def set_training_mode(model: nn.Module, freeze_features: bool) -> None:
    model.train()
    if freeze_features:  # BatchNorm statistics are part of the frozen features
        for name, module in model.named_children():
            if name != "classifier":
                module.eval()


def training_targets(train: Split, labels: str, mix_weight: float) -> tuple[Split, np.ndarray]:
    """(the training images that have the targets, their class distributions [N, 7] float32)."""
    one_hot = np.eye(len(EMOTIONS), dtype=np.float32)[train.labels]
    if labels == "fer2013":
        return train, one_hot
    keep = np.flatnonzero(train.has_votes())
    if not len(keep):
        raise DataError("no training image has usable FER+ votes")
    train = train.subset(keep)
    if labels == "votes":
        return train, train.votes.astype(np.float32)
    return train, (mix_weight * train.votes + (1 - mix_weight) * one_hot[keep]).astype(np.float32)


@dataclass
class LabelSet:
    """One label set that the selection split is scored against each epoch: its rows of the split."""
    name: str
    index: np.ndarray
    labels: np.ndarray
    metrics_suffix: str  # its checkpoint metrics' name after the split's, as train.quantize names them


def selection_label_sets(sel: Split, labels: str) -> list[LabelSet]:
    """The label sets each epoch is scored against, the training labels' own first (FER+ majorities for
    votes and the mix, FER2013's labels otherwise); FER+ majorities only when the votes are loaded."""
    fer2013 = LabelSet("FER2013 labels", np.arange(len(sel)), sel.labels, "")
    voted = np.flatnonzero(sel.has_votes())
    ferplus = [LabelSet("FER+ majority", voted, sel.ferplus_majority()[voted], " FER+ majority")] if len(voted) else []
    if labels == "fer2013":
        return [fer2013, *ferplus]
    if not ferplus:
        raise DataError("no selection image has usable FER+ votes")
    return [*ferplus, fer2013]


def selection_score(reports: dict[str, dict], select: str) -> float:
    """The score best.pth is picked on: the first label set's macro-F1, or the mean over all of them."""
    f1 = [r["macro_f1"] for r in reports.values()]
    return f1[0] if select == "labels" else float(np.mean(f1))


def face_crops_for(args, train: Split, sel: Split) -> tuple[FaceDetections | None, Split | None]:
    """For --face-crops: the training images' detections, and the selection images that the
    detector finds, cropped as the live app would crop them."""
    if not args.face_crops:
        return None, None
    if not 0 < args.face_crops <= 1:
        raise OptionError(f"--face-crops must be in (0, 1], got {args.face_crops}")
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


def distillation_targets(args, state: dict, train_by_pixels: dict[str, Split], device,
                         targets: np.ndarray) -> tuple[torch.Tensor | None, list[dict]]:
    """The teachers' soft targets: computed for a new run (each teacher on the pixels it was trained
    on) or read from --soft-targets, taken from last.pth on --resume, so a resumed run neither needs
    the teacher files nor sees different targets."""
    n = len(targets)
    saved = state.get("teacher_log_probs") if state else None
    if state and (saved is not None) != bool(args.teacher or args.soft_targets):
        started = "with" if saved is not None else "without"
        raise OptionError(f"this run was started {started} --teacher; resume it the same way")
    if saved is not None:
        if len(saved) != n:
            raise UserError(f"last.pth holds soft targets for {len(saved)} images, the data has {n}")
        return saved, state["teachers"]
    t0 = time.time()
    if args.soft_targets:
        soft = read_soft_targets(args.soft_targets, [relative_key(p) for p in train_by_pixels[args.pixels].paths])
        source = f"{args.soft_targets} ({len(soft.teachers)} teacher(s))"
    elif args.teacher:
        soft = soft_targets(args.teacher, {k: s.images for k, s in train_by_pixels.items()}, device, args.cache_dir)
        source = f"{len(args.teacher)} checkpoint(s)"
    else:
        return None, []
    agree = (soft.log_probs.argmax(1).numpy() == targets.argmax(1)).mean()
    print(f"teachers: {source}, soft targets for {n} images in {time.time() - t0:.0f}s; "
          f"their top class agrees with the target's on {agree:.1%}", flush=True)
    return soft.log_probs, soft.describe()


def load_training_data(args) -> tuple[str, dict[str, Split], Split, np.ndarray]:
    """(selection split name, the training split under each pixel kind at hand, the selection split in
    args.pixels, the training targets), every split restricted to the images the options can use."""
    report = LoadReport()
    splits = load(args.data, args.cache_dir, report)
    for line in report.lines():
        print(f"data: {line}")
    if "Training" not in splits or not len(splits["Training"]):
        raise DataError(f"{args.data}: no Training images found")
    if args.labels != "fer2013" or args.select == "both":
        splits = with_votes(splits, args.data)
    by_pixels = {"equalised": splits}
    if args.pixels == "original":
        by_pixels["original"], dropped = with_original_pixels(splits, args.data)
        print(f"data: original pixels; {dropped} image(s) without one left out")
        # the equalised copy keeps to the same images, for teachers trained on it
        kept = {k: set(s.paths) for k, s in by_pixels["original"].items()}
        by_pixels["equalised"] = {k: s.subset(np.array([i for i, p in enumerate(s.paths) if p in kept[k]], int))
                                  for k, s in splits.items()}
    rng = np.random.default_rng(args.seed)
    order = None
    trains, sels = {}, {}
    for kind, kind_splits in by_pixels.items():
        sel_name, train, sel = selection_split(kind_splits, np.random.default_rng(args.seed))
        if args.limit:
            order = order if order is not None else (rng.permutation(len(train))[:args.limit],
                                                     rng.permutation(len(sel))[:max(64, args.limit // 4)])
            train, sel = train.subset(order[0]), sel.subset(order[1])
        train, targets = training_targets(train, args.labels, args.mix_weight)
        trains[kind], sels[kind] = train, sel
    return sel_name, trains, sels[args.pixels], targets


def main(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    widths, convs = int_list("--widths", args.widths), int_list("--convs", args.convs)
    if len(widths) != len(convs):
        raise OptionError(f"--widths and --convs name different numbers of stages ({args.widths} / {args.convs})")
    if not 0 <= args.mix_weight <= 1:
        raise OptionError(f"--mix-weight must be in [0, 1], got {args.mix_weight}")
    if args.freeze_features and not args.init:
        raise OptionError("--freeze-features needs --init (features to keep)")
    torch.backends.cudnn.benchmark = True  # every training batch has the same shape: tune the kernels once
    if args.teacher and args.soft_targets:
        raise OptionError("give --teacher or --soft-targets, not both")
    if not args.resume:  # a resumed run takes its soft targets from last.pth
        check_teacher_files(args.teacher)
        if args.soft_targets and not Path(args.soft_targets).is_file():
            raise UserError(f"{args.soft_targets}: soft-targets file not found")
    out = Path(args.out)
    try:  # before the data: a run that cannot write its checkpoints fails now, not after an epoch
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out}: cannot write ({e.strerror or e})") from None

    sel_name, train_by_pixels, sel, targets = load_training_data(args)
    train = train_by_pixels[args.pixels]
    label_sets = selection_label_sets(sel, args.labels)
    if args.select == "both" and len(label_sets) < 2:
        raise DataError("--select both needs FER+ votes for the selection images")
    own = label_sets[0]
    sel_labels = own.name
    args.batch_size = min(args.batch_size, len(train))
    print(f"data: {len(train)} training images ({args.labels} targets, {args.pixels} pixels), {len(sel)} "
          f"{sel_name} images for model selection against "
          f"{' and '.join(s.name for s in label_sets) if args.select == 'both' else sel_labels}; device {device}")

    init = load_model(args.init) if args.init else None
    if init:  # its input normalisation comes with its weights
        mean, std = init.mean, init.std
    else:
        mean = float(train.images.mean() / 255)
        std = float(train.images.std() / 255)
    counts = targets.sum(0).astype(float)
    prior = counts / counts.sum()
    weights = np.where(counts > 0, np.maximum(counts, 1) ** -args.class_weight_power, 0)
    weights = weights / (weights * counts).sum() * counts.sum()  # mean weight per sample = 1
    class_weights = torch.tensor(weights, dtype=torch.float32, device=device)

    if init:
        cfg, model = ModelConfig.from_dict(init.meta["model_config"]), init.model
    else:
        cfg = ModelConfig(arch=args.arch, widths=widths, convs_per_stage=convs,
                          hidden=args.hidden, rnn=args.rnn, dropout=args.dropout)
        model = build_model(cfg)
    model = model.to(device)
    if uses_channels_last(model):
        model = model.to(memory_format=torch.channels_last)
    if args.freeze_features:
        if not hasattr(model, "classifier"):
            raise OptionError("--freeze-features needs a model with a classifier head")
        for name, param in model.named_parameters():
            param.requires_grad_(name.startswith("classifier."))
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in trained if p.ndim > 1]
    no_decay = [p for n, p in trained if p.ndim <= 1]  # BatchNorm and biases
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = len(train) // args.batch_size
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(args.epochs * steps_per_epoch, int(args.warmup_epochs * steps_per_epoch)))
    gen = torch.Generator().manual_seed(args.seed)
    aug = None if args.no_augment else AugmentConfig(brightness=args.brightness, contrast=args.contrast,
                                                     gamma=args.gamma)

    start_epoch, best_f1, history, wall = 0, -1.0, [], 0.0
    state = {}
    last_path, best_path = out / "last.pth", out / "best.pth"
    if args.resume:
        if not last_path.is_file():
            raise OptionError(f"--resume given but {last_path} does not exist")
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        if "torch_rng" in state:  # dropout draws from torch's global generators
            torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"])
        start_epoch, history, wall = state["epoch"], state["history"], state["wall_time_s"]
        started = state.get("select", "labels")
        if started != args.select:
            raise OptionError(f"this run was started with --select {started}; resume it the same way")
        best_f1 = state["best_macro_f1"]
        print(f"resumed from {last_path} at epoch {start_epoch} (best {sel_name} score {best_f1:.4f})")
        if not best_path.is_file():
            # last.pth travelled without best.pth (it is not committed): the best weights so far are gone,
            # so select again among the epochs still to run rather than end with no shipping checkpoint.
            print(f"note: {best_path} is missing; the best of the remaining epochs will be written there")
            best_f1 = -1.0
    teacher_log_probs, teachers = distillation_targets(args, state, train_by_pixels, device, targets)

    live, sel_live = face_crops_for(args, train, replace(sel.subset(own.index), labels=own.labels))
    train_features = sel_features = None
    if args.freeze_features and args.no_augment and not args.face_crops:
        t0 = time.time()
        train_features = cached_features(model, args.init, train.images, mean, std, device, args.cache_dir)
        sel_features = cached_features(model, args.init, sel.images, mean, std, device, args.cache_dir)
        print(f"frozen features of {len(train)} + {len(sel)} images ready ({time.time() - t0:.0f}s)", flush=True)
    command = "python -m train.train " + " ".join(sys.argv[1:])
    images_t = torch.from_numpy(train.images)
    targets_t = torch.from_numpy(targets)
    print(f"model: {cfg.arch} {cfg.widths} convs {cfg.convs_per_stage}, {n_params / 1e6:.2f}M parameters"
          f"{' (head only trained)' if args.freeze_features else ''}")

    plotted = 0.0
    epochs_bar = tqdm(range(start_epoch, args.epochs), desc="training", unit="epoch", disable=args.quiet,
                      initial=start_epoch, total=args.epochs, dynamic_ncols=True)
    for epoch in epochs_bar:
        t0 = time.time()
        stats = train_one_epoch(model, images_t, targets_t, optimizer, scheduler, class_weights, args, aug,
                                mean, std, device, gen, epoch, teacher_log_probs, live, train_features)
        probs = (head_probs(model, sel_features, device) if sel_features is not None
                 else predict_probs(model, sel.images, mean, std, device))
        reports = {s.name: classification_report(s.labels, probs[s.index].argmax(1)) for s in label_sets}
        val, score = reports[own.name], selection_score(reports, args.select)
        live_acc = None
        if sel_live is not None:
            live_probs = predict_probs(model, sel_live.images, mean, std, device)
            live_acc = classification_report(sel_live.labels, live_probs.argmax(1))["accuracy"]
        wall += time.time() - t0
        row = {"epoch": epoch + 1, **stats, "val_loss": evaluation_loss(probs[own.index], own.labels),
               "val_acc": val["accuracy"], "val_macro_f1": val["macro_f1"],
               "val_macro_f1_by_labels": {k: r["macro_f1"] for k, r in reports.items()},
               "val_score": score, "val_live_acc": live_acc, "seconds": time.time() - t0}
        history.append(row)
        improved = score > best_f1
        if improved:
            best_f1 = score
            training = {"command": command, "data": str(args.data), "train_images": len(train),
                        "labels": args.labels, "pixels": args.pixels,
                        "prior": {c: round(float(p), 6) for c, p in zip(EMOTIONS, prior, strict=True)},
                        "selection_split": sel_name, "selection_labels": sel_labels, "select": args.select,
                        "epoch": epoch + 1,
                        "epochs": args.epochs, "wall_time_s": round(wall, 1), "seed": args.seed,
                        "device": str(device), "torch": torch.__version__, "augment": asdict(aug) if aug else None,
                        "distillation": {"teachers": teachers, "weight": args.distill_weight,
                                         "temperature": args.distill_temperature} if teachers else None,
                        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
            metrics = {sel_name + s.metrics_suffix: {**reports[s.name], "labels": s.name} for s in label_sets}
            if live_acc is not None:
                metrics[f"{sel_name} live crops"] = {"accuracy": live_acc, "n": len(sel_live)}
            save_checkpoint(best_path, model, cfg, mean, std, training, metrics)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "generator": gen.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None, "epoch": epoch + 1,
                    "best_macro_f1": best_f1, "select": args.select, "history": history, "wall_time_s": wall,
                    "teacher_log_probs": teacher_log_probs, "teachers": teachers},
                   out / "last.tmp")
        os.replace(out / "last.tmp", last_path)
        (out / "history.json").write_text(json.dumps(history, indent=1))
        if epoch + 1 == args.epochs or time.time() - plotted > 60:  # a plot can outlast a GPU epoch
            plot_curves(history, out / "curves.png", sel_name)
            plotted = time.time()
        others = "".join(f" | {k} macro-F1 {r['macro_f1']:.4f}" for k, r in reports.items() if k != own.name)
        line = (f"epoch {epoch + 1}/{args.epochs}: train loss {stats['train_loss']:.3f} acc {stats['train_acc']:.4f} | "
                f"{sel_name} ({sel_labels}) loss {row['val_loss']:.3f} acc {val['accuracy']:.4f} "
                f"macro-F1 {val['macro_f1']:.4f}{others}"
                f"{f' | live crops acc {live_acc:.4f}' if live_acc is not None else ''}"
                f"{' *best' if improved else ''} | {row['seconds']:.0f}s")
        epochs_bar.write(line) if not args.quiet else print(line, flush=True)
    print(f"done: best {sel_name} {'macro-F1' if args.select == 'labels' else 'mean macro-F1'} {best_f1:.4f}; "
          f"weights in {best_path}")
    return {"best_macro_f1": best_f1, "best_path": str(best_path), "history": history}


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
