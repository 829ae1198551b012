"""``graintrace predict`` and ``graintrace train``: the lab's checkpoints from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..core.options import LOSS_NAMES, PRECISIONS  # light: no torch, so --help stays fast

FORMAT_CHOICES = ("png8", "png16", "tiff")  # core.io.PREDICTION_FORMATS (io is not imported: --help stays fast)


def register(subparsers: argparse._SubParsersAction) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="run a U-Net checkpoint on micrographs and write probability maps (8-bit PNG, or --format)",
        description=(
            "Run a lab-format U-Net checkpoint (NAME_EPOCH.pth) on each IMAGE and write DIR/predict_<stem>.png, "
            "the probability map x 255 as the lab's scripts do, at the micrograph's own size. By default the "
            "network sees the micrograph at its native size, in tiles; --resolution 1024 resizes its input to "
            "the lab's 1024 x 1024 square, and the map is resampled back to the micrograph's size either way, "
            "so grains and intercepts are measured on the micrograph's grid."
        ),
    )
    predict.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="a NAME_EPOCH.pth state_dict")
    predict.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="micrographs (grey or RGB)")
    predict.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="output folder")
    predict.add_argument("--resolution", default="native", metavar="PX|native",
                         help="the network's input: 'native' (default, in tiles: the pixel scale of its training "
                              "crops) or a square size such as 1024 (the lab's inference script); the map is "
                              "written at the micrograph's size either way")
    predict.add_argument("--tile", type=int, default=1024, metavar="PX",
                         help="tile side, a multiple of 16; 0 = one pass whatever the size (default 1024)")
    predict.add_argument("--overlap", type=int, default=112, metavar="PX",
                         help="context kept around each tile, a multiple of 16 (default 112: exact)")
    predict.add_argument("--precision", default="auto", choices=PRECISIONS,
                         help="auto = bf16 where the CPU has native bf16 (checked to match fp32), else fp32")
    predict.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N or mps")
    # every map is now written at its micrograph's size; the old switch is still accepted
    predict.add_argument("--input-size", action="store_true", help=argparse.SUPPRESS)
    predict.add_argument("--overwrite", action="store_true", help="replace existing files")
    predict.add_argument("--format", default="png8", choices=FORMAT_CHOICES,
                         help="png8 = p x 255, the lab's (default); png16 = p x 65535; tiff = float32 as "
                              "computed. 8 bits round the surest pixels to exactly 0 or 1, where BCE clamps")
    predict.add_argument("--scheduler", metavar="ADDRESS",
                         help="one task per image on a Dask cluster: tcp://HOST:PORT, or local:N for N worker "
                              "processes here (needs the [dask] extra; see docs/scale-out.md)")
    predict.add_argument("--worker-threads", type=int, metavar="N",
                         help="with --scheduler: torch threads per task (default: cores / N for local:N)")
    predict.set_defaults(run=run_predict)

    train = subparsers.add_parser(
        "train",
        help="train the U-Net on an image/ + label/ folder, writing NAME_EPOCH.pth checkpoints",
        description=(
            "Train the lab's U-Net on DATASET/image and DATASET/label (paired by file name) with BCE on "
            "logits (or a tolerant loss, see --loss), Adam and random flips. NAME_e.pth holds the weights "
            "after epoch e (counting from 0), written every --save-every epochs and after the last; a rerun "
            "resumes after the last file. Several DATASETs train as one, merged as `graintrace merge "
            "--on-clash rename` would. --init CKPT fine-tunes a checkpoint (its width, a fresh optimizer, "
            "epochs from 0 in DIR). Beside the checkpoints: .NAME.progress.json (where it is), "
            ".NAME.finished when every epoch ran; an empty file .NAME.stop stops it after the current batch."
        ),
    )
    train.add_argument("dataset", type=Path, nargs="+", metavar="DATASET",
                       help="folder with image/ and label/ (several: trained as one merged set)")
    train.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="checkpoint folder")
    train.add_argument("--epochs", type=int, default=10, help="total epochs, counting resumed ones (default 10)")
    train.add_argument("--init", type=Path, metavar="CKPT",
                       help="start from this checkpoint (the lab's .pth or ours, read weights-only): its weights "
                            "and width, a fresh optimizer, epochs from 0 in DIR")
    train.add_argument("--width", type=int, default=None,
                       help="base width; the lab's is 64 (default 64, or the --init checkpoint's)")
    train.add_argument("--save-every", type=int, default=1, metavar="N", help="save every N epochs (default 1)")
    train.add_argument("--name", default="unet", help="checkpoint name prefix (default unet)")
    train.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    train.add_argument("--batch-size", type=int, default=1, help="pairs per step (default 1)")
    train.add_argument("--size", default="256", metavar="PX|native",
                       help="square training size, or 'native' (default 256, the lab's)")
    train.add_argument("--loss", default="bce", choices=LOSS_NAMES,
                       help="bce (the lab's), tolerant = W (1 - tolerant F), bce+tolerant = BCE + W (1 - F); "
                            "tolerant F is the balanced spatially tolerant score of `graintrace score` (default bce)")
    train.add_argument("--tolerant-weight", type=float, default=1.0, metavar="W",
                       help="weight W of the tolerant term (default 1)")
    train.add_argument("--sigma", type=float, default=3.0,
                       help="Gaussian sigma of the tolerant term, in training pixels (default 3)")
    train.add_argument("--window", type=int, default=15, help="window of the tolerant term, odd (default 15)")
    train.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N or mps")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.set_defaults(run=run_train)


def _predict_options(args: argparse.Namespace):
    """The command line's choices as the one object inference and the Dask tasks take."""
    from ..core.options import PredictOptions

    return PredictOptions(resolution=args.resolution, tile=args.tile, overlap=args.overlap,
                          precision=args.precision, device=args.device)


def run_predict(args: argparse.Namespace) -> int:
    from ..core.errors import InputError
    from ..core.io import PREDICTION_FORMATS, check_writable, encode_prediction, read_micrograph, write_image
    from ..core.model import (
        check_resolution,
        choose_device,
        load_checkpoint,
        predict_steps,
        resolve_precision,
    )
    from ..core.steps import run_steps
    from .options import progress_printer, require_files

    options = _predict_options(args)  # what a later step would refuse is refused now, before any work
    require_files([args.checkpoint], "the checkpoint")
    require_files(args.images)
    suffix = PREDICTION_FORMATS[args.format]
    targets = [args.output / f"predict_{image.stem}{suffix}" for image in args.images]
    seen: dict[Path, Path] = {}
    for image, target in zip(args.images, targets, strict=True):
        if target in seen:
            raise InputError(f"{seen[target]} and {image} would both be written to {target}")
        seen[target] = image
    check_writable(targets, args.overwrite, inputs=[args.checkpoint, *args.images])
    for image_path in args.images:  # every input is read once before anything is written
        shape = read_micrograph(image_path).shape
        try:
            check_resolution(shape, options.resolution)
        except InputError as exc:
            raise InputError(f"{image_path}: {exc}") from None
    if args.scheduler is not None:
        if args.format != "png8":
            raise InputError(f"--format {args.format} is not available with --scheduler (the cluster sends 8-bit "
                             "maps back); run without --scheduler to keep the precision")
        return _predict_on_cluster(args, options, targets)
    device = choose_device(options.device)
    options = dataclasses.replace(options, device=str(device),
                                  precision=resolve_precision(options.precision, device))
    model = load_checkpoint(args.checkpoint)
    size = "native size" if options.resolution is None else f"{options.resolution} x {options.resolution} input"
    print(f"{args.checkpoint.name}: base width {model.base_width}, {device.type}, {options.precision}, {size}; "
          "maps at each micrograph's size", file=sys.stderr)
    for index, (image_path, target) in enumerate(zip(args.images, targets, strict=True), start=1):
        image = read_micrograph(image_path)
        bar = progress_printer(f"[{index}/{len(targets)}] {image_path.name}")
        prob = run_steps(predict_steps(model, image, options), lambda step, bar=bar: bar(*step))
        write_image(target, encode_prediction(prob, args.format), overwrite=args.overwrite)
        print(f"wrote {target}  ({prob.shape[0]} x {prob.shape[1]})")
    return 0


def _predict_on_cluster(args: argparse.Namespace, options, targets: list[Path]) -> int:
    """``predict --scheduler``: each image is a Dask task; the maps come back and are written here."""
    from ..core import sweep
    from ..core.io import read_micrograph, write_image
    from ..core.model import load_checkpoint
    from .options import progress_printer

    model = load_checkpoint(args.checkpoint)  # refuse a bad file here, before any task is sent
    print(f"{args.checkpoint.name}: base width {model.base_width}, on {args.scheduler} (device {options.device} "
          f"on each worker)", file=sys.stderr)
    images = [read_micrograph(path) for path in args.images]

    def write(outcome: sweep.PredictOutcome) -> None:  # as each map arrives: Ctrl-C keeps those done
        if outcome.image is not None:
            target = targets[outcome.index]
            write_image(target, outcome.image, overwrite=args.overwrite)
            print(f"wrote {target}  ({outcome.image.shape[0]} x {outcome.image.shape[1]})")

    outcomes = sweep.predict_many(args.scheduler, args.checkpoint, images, options,
                                        progress=progress_printer("predict"), on_done=write,
                                        names=[path.name for path in args.images],
                                        torch_threads=args.worker_threads)
    failed = [(args.images[o.index], o.failure) for o in outcomes if o.failure]
    for image, failure in failed:
        print(f"graintrace predict: skipped {image}: {failure}", file=sys.stderr)
    return 1 if failed else 0


def train_options(args: argparse.Namespace):
    """``graintrace train`` flags as a :class:`~..core.options.TrainOptions` (also the torchrun entry's)."""
    from ..core.options import TrainOptions

    return TrainOptions(name=args.name, epochs=args.epochs, base_width=args.width, lr=args.lr,
                        batch_size=args.batch_size, save_every=args.save_every, size=args.size,
                        device=args.device, loss=args.loss, seed=args.seed,
                        tolerant_weight=args.tolerant_weight, sigma=args.sigma, window=args.window)


def run_train(args: argparse.Namespace) -> int:
    from ..core.io import check_output_folder
    from ..core.model import TrainProgress, train_steps
    from ..core.steps import run_steps
    from .options import progress_printer, require_files

    options = train_options(args)
    if args.init is not None:
        require_files([args.init], "the --init checkpoint")
    # checkpoints are added to the folder (a rerun resumes): it may exist, but must be writable now,
    # not after the first epoch
    check_output_folder(args.output, inputs=[*args.dataset, *([args.init] if args.init else [])], replaced=False)
    bar: list = []
    stopped: list[TrainProgress] = []

    def report(step: TrainProgress) -> None:
        if step.stopped:
            stopped.append(step)
            return
        if step.batch == 1 or not bar:
            bar[:] = [progress_printer(f"epoch {step.epoch}/{step.epochs - 1}")]
        bar[0](step.batch, step.batches, f"loss {step.loss:.4f}")
        if step.batch == step.batches:
            saved = f"  -> {step.saved}" if step.saved else ""
            print(f"epoch {step.epoch}: mean training loss {step.loss:.5f}{saved}", flush=True)

    dataset = args.dataset[0] if len(args.dataset) == 1 else args.dataset
    losses = run_steps(train_steps(dataset, args.output, options, init=args.init), report)
    if stopped:
        step = stopped[0]
        print(f"stopped as asked in epoch {step.epoch} after batch {step.batch} of {step.batches}; the same "
              "command resumes after the last checkpoint", flush=True)
    elif not losses:
        print(f"{args.output}: {options.name} already has {options.epochs} epochs; nothing to do")
    return 0
