"""``torchrun --nproc-per-node N -m napari_graintrace.train DATASET -o DIR [graintrace train options]``.

Multi-process (DDP) training with the options of ``graintrace train``, which this reuses, so both
accept the same arguments. Each process runs one rank (``core.ddp``); rank 0 prints progress and
writes the checkpoints; every rank prints the sha256 of its final weights, and the ranks check
that theirs agree. Without torchrun (no ``RANK`` in the environment) this is plain
``graintrace train``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``graintrace train`` arguments and train on this rank; returns the exit code."""
    from .cli import build_parser
    from .cli import main as cli_main
    from .core.errors import InputError

    argv = list(sys.argv[1:] if argv is None else argv)
    if "RANK" not in os.environ:
        return cli_main(["train", *argv])
    args = build_parser().parse_args(["train", *argv])
    rank = int(os.environ["RANK"])
    try:
        return _run(args)
    except InputError as exc:
        if rank == 0:
            print(f"graintrace train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if rank == 0:
            print("graintrace train: interrupted", file=sys.stderr)
        return 130


def _run(args) -> int:
    import torch.distributed as dist

    from .cli.model import train_options
    from .core.model import torchrun as ddp
    from .core.model import training

    options = train_options(args)  # the flags are checked before joining the process group
    context = ddp.init_from_env(options.device)
    try:
        if context.rank == 0:
            print(f"DDP training on {context.world_size} processes ({context.backend}, {context.device.type}); "
                  f"batch size {args.batch_size} per process", flush=True)

        def report(step: training.TrainProgress) -> None:
            if context.rank == 0 and step.batch == step.batches:
                saved = f"  -> {step.saved}" if step.saved else ""
                print(f"epoch {step.epoch}: mean training loss {step.loss:.5f}{saved}", flush=True)

        dataset = args.dataset[0] if len(args.dataset) == 1 else args.dataset
        losses, model_hash = ddp.train_ddp(context, dataset, args.output, options, progress=report,
                                           init=args.init)
        # one write per line, so the ranks' lines do not interleave on a shared terminal
        sys.stdout.write(f"rank {context.rank} of {context.world_size}: parameters sha256 {model_hash}\n")
        sys.stdout.flush()
        if context.rank == 0 and not losses:
            print(f"{args.output}: {args.name} already has {args.epochs} epochs; nothing to do")
        dist.barrier()  # every rank is done before any tears the group down
        return 0
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
