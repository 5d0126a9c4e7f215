"""``python -m diception_core.finetune``: train a LoRA adapter, or ``make-example`` a data folder to try it on.

    python -m diception_core.finetune make-example ./shapes --encoding mask --n 8
    python -m diception_core.finetune --data ./shapes --name shapes --new-task --encoding mask \\
        --prompt "[[image2shape]]" --model tiny --steps 50 --batch 2
    accelerate launch -m diception_core.finetune --data ... (multi-GPU, unchanged flags)

The adapter folder is written to ``<output>/adapter`` (checkpoints, previews, metrics and the held-out split sit
beside it in ``<output>``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from diception_spec.adapter_format import DEFAULT_TARGETS

logger = logging.getLogger("diception_core.finetune")


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    from .train import DEFAULT_LICENCE, MIXED_PRECISIONS, PROMPT_EMBEDDING_MODES, SAVE_DTYPES, TIMESTEP_SAMPLINGS

    parser = argparse.ArgumentParser(
        prog="python -m diception_core.finetune",
        description="Few-shot LoRA fine-tuning of DICEPTION (SD3 flow matching), writing an adapter folder "
                    "(ADAPTER_FORMAT.md). `python -m diception_core.finetune make-example DIR` writes a synthetic "
                    "data folder to try it on.",
    )
    data = parser.add_argument_group("data and task")
    data.add_argument("--data", required=True, help="data folder: images/ + targets/ with matching names, or a "
                      "manifest.json / manifest.jsonl listing {image, target, points} pairs")
    data.add_argument("--name", required=True, help="adapter name (and the new task's name)")
    data.add_argument("--task", help="an existing task to improve: depth, normal, point_segmentation, ...")
    data.add_argument("--new-task", action="store_true", help="train a new task (needs --encoding and --prompt)")
    data.add_argument("--encoding", choices=("mask", "depth", "normal", "rgb"), help="new task's output encoding")
    data.add_argument("--prompt", help="new task's prompt, e.g. '[[image2lung]]'")
    data.add_argument("--category", help="semantic_segmentation: the category of its prompt")
    data.add_argument("--depth-kind", choices=("depth", "disparity"), default="depth",
                      help="depth targets hold depth (inverted to disparity; default) or disparity")
    data.add_argument("--val-split", type=float, default=0.1, help="fraction of pairs held out (default 0.1)")
    model = parser.add_argument_group("model and LoRA")
    model.add_argument("--model", default="tiny", help="tiny | a converted model folder | a Hub id of one")
    model.add_argument("--rank", type=int, default=128, help="LoRA rank (<= 128; default 128 as in the paper)")
    model.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default: = rank)")
    model.add_argument("--targets", type=_csv, default=DEFAULT_TARGETS,
                       help=f"comma-separated attention projections (default {','.join(DEFAULT_TARGETS)})")
    model.add_argument("--prompt-embedding", choices=PROMPT_EMBEDDING_MODES, default="auto",
                       help="new task: encode with the text encoders, learn it, or auto (encode if possible)")
    train = parser.add_argument_group("training")
    train.add_argument("--steps", type=int, default=500)
    train.add_argument("--batch", type=int, default=8, help="micro-batch per process (default 8)")
    train.add_argument("--grad-accum", type=int, default=1)
    train.add_argument("--lr", type=float, default=2e-5)
    train.add_argument("--warmup-steps", type=int, default=0)
    train.add_argument("--weight-decay", type=float, default=1e-4)
    train.add_argument("--max-grad-norm", type=float, default=1.0, help="0 disables clipping")
    train.add_argument("--timestep-sampling", choices=TIMESTEP_SAMPLINGS, default="logit_normal")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--mixed-precision", choices=MIXED_PRECISIONS, default=None,
                       help="no | bf16 | fp16 (default: accelerate launch's --mixed_precision, else no)")
    train.add_argument("--gradient-checkpointing", action="store_true")
    train.add_argument("--val-every", type=int, default=100, help="held-out metric + preview every N steps (0: end)")
    train.add_argument("--val-inference-steps", type=int, default=None, help="sampling steps for validation "
                       "(default: the model's)")
    train.add_argument("--val-guidance", type=float, default=None)
    train.add_argument("--checkpoint-every", type=int, default=100, help="0: no checkpoints")
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output")
    out = parser.add_argument_group("output")
    out.add_argument("--output", help="run folder (default ./diception-finetune-<name>); the adapter is "
                     "<output>/adapter")
    out.add_argument("--save-dtype", choices=tuple(SAVE_DTYPES), default="float32")
    out.add_argument("--benchmarks", type=_csv, default=None, help="what the adapter asks to be scored on "
                     "(default: the task's benchmarks; a new task: its held-out split)")
    out.add_argument("--training-data", help="free-text description of the training data for the card")
    out.add_argument("--trained-on-benchmarks", type=_csv, default=())
    out.add_argument("--licence", default=DEFAULT_LICENCE)
    out.add_argument("--push-to-hub", metavar="REPO", help="upload the adapter folder to this Hub repo")
    out.add_argument("--public", action="store_true", help="with --push-to-hub: create the repo public (default "
                     "private)")
    return parser


def build_example_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diception_core.finetune make-example",
                                     description="Write a small synthetic data folder (random shapes) to try "
                                                 "fine-tuning end to end.")
    parser.add_argument("folder")
    parser.add_argument("--encoding", choices=("mask", "depth", "normal", "rgb"), default="mask")
    parser.add_argument("--n", type=int, default=8, help="number of pairs (default 8)")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if argv and argv[0] == "make-example":
        from .data import make_example

        args = build_example_parser().parse_args(argv[1:])
        try:
            folder = make_example(args.folder, encoding=args.encoding, n=args.n, size=args.size, seed=args.seed)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(folder)
        return 0

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.new_task == bool(args.task):
        parser.error("give exactly one of --task TASK or --new-task (with --encoding and --prompt)")
    from ..loading import ModelLoadError
    from .data import DataError
    from .train import FinetuneSettings, finetune

    try:
        settings = FinetuneSettings(
            data=args.data, name=args.name, task=args.task, encoding=args.encoding if args.new_task else None,
            prompt=args.prompt if args.new_task else None, category=args.category, model=args.model,
            output=args.output, rank=args.rank, lora_alpha=args.lora_alpha, targets=args.targets, steps=args.steps,
            batch=args.batch, grad_accum=args.grad_accum, lr=args.lr, warmup_steps=args.warmup_steps,
            weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm, val_split=args.val_split,
            val_every=args.val_every, val_inference_steps=args.val_inference_steps, val_guidance=args.val_guidance,
            checkpoint_every=args.checkpoint_every, seed=args.seed, resume=args.resume,
            mixed_precision=args.mixed_precision or os.environ.get("ACCELERATE_MIXED_PRECISION", "no"),
            gradient_checkpointing=args.gradient_checkpointing,
            prompt_embedding=args.prompt_embedding, depth_kind=args.depth_kind,
            timestep_sampling=args.timestep_sampling, save_dtype=args.save_dtype, benchmarks=args.benchmarks,
            training_data=args.training_data, trained_on_benchmarks=args.trained_on_benchmarks, licence=args.licence,
            push_to_hub=args.push_to_hub, public=args.public,
        ).check()
        result = finetune(settings)
    except (DataError, ValueError, ModelLoadError) as err:  # a refused run changes nothing in --output
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not result.main_process:
        return 0
    print(json.dumps({"adapter": str(result.adapter_dir), "steps": result.steps, "final_loss": result.final_loss,
                      "heldout": result.metrics, "hub_url": result.hub_url}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
