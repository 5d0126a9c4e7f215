"""``python -m evaluation``: ``list`` the benchmark registry, ``prepare`` a benchmark's data, ``run`` an evaluation.

Each subcommand is one ``_add_<name>(subparsers)`` builder plus one ``_cmd_<name>(args) -> int`` handler; heavy
modules are imported inside the handlers, so ``--help`` and ``list`` stay quick.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from diception_spec.benchmarks import TIERS
from diception_spec.errors import Refused
from diception_spec.json_input import parse_json
from diception_spec.models import ModelKind
from diception_spec.results import THUMBNAILS_PER_DATASET

logger = logging.getLogger("evaluation")


# --------------------------------------------------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------------------------------------------------


def _add_list(subparsers: Any) -> None:
    p = subparsers.add_parser("list", help="print the benchmark registry", description="Print the benchmark registry.")
    p.add_argument("--task", help="only this task's benchmarks (e.g. depth, point_segmentation)")
    p.add_argument("--ranked-only", action="store_true", help="hide benchmarks never ranked publicly (synthetic)")
    p.add_argument("--json", action="store_true", help="print the full specs as JSON")
    p.set_defaults(handler=_cmd_list)


def _format_tiers(tiers: Any) -> str:
    return ", ".join(f"{name}={'all' if size is None else size}" for name, size in tiers.items())


def write_registry(out: TextIO, task: str | None = None, ranked_only: bool = False) -> None:
    """The registry as readable text, grouped by task."""
    from diception_spec.benchmarks import list_benchmarks

    current = None
    for spec in list_benchmarks(task, ranked_only=ranked_only):
        if spec.task_id != current:
            current = spec.task_id
            out.write(f"\n== {current} ==\n")
        protocols = ", ".join(f"{p}*" if p == spec.default_protocol else p for p in spec.protocols)
        size = "?" if spec.num_samples is None else f"{spec.num_samples}"
        images = "" if spec.num_images is None or spec.item == "image" else f" in {spec.num_images} images"
        flags = "" if spec.ranked else "  [not ranked]"
        out.write(f"{spec.id}  (v{spec.version}, data {spec.data_revision}){flags}\n")
        out.write(f"    {spec.title}; domain: {spec.domain}\n")
        out.write(f"    protocols: {protocols}   (* = default)\n")
        out.write(f"    main metric: {spec.main_metric}; metrics: {', '.join(spec.metrics)}\n")
        per = " per member" if spec.members else ""
        out.write(f"    samples: {size} {spec.item}s{images}; tiers{per}: {_format_tiers(spec.tiers)}\n")
        if spec.members:
            out.write(f"    members ({len(spec.members)}, unweighted mean): {', '.join(spec.members)}\n")
        if spec.depth is not None:
            d = spec.depth
            rng = f"[{d.min_depth:g}, {'inf' if d.max_depth is None else f'{d.max_depth:g}'}]"
            extra = ", ".join(
                x for x in (
                    f"crop {d.eval_crop}" if d.eval_crop else "",
                    "KB crop" if d.kb_crop else "",
                    "mask file" if d.mask_file else "",
                    f"fit at max side {d.fit_max_side}" if d.fit_max_side else "",
                ) if x
            )
            out.write(f"    depth: {d.decode}; range {rng}" + (f"; {extra}" if extra else "") + "\n")
        if spec.normals is not None:
            n = spec.normals
            out.write(f"    normals: frame {n.frame.value}; {n.decode}; valid where {n.valid_rule}\n")
        src = spec.source
        checks = "none published" if src.checksums is None else f"{len(src.checksums)} files"
        out.write(f"    data: {src.url or 'n/a'} ({'verified' if src.verified else 'unverified'})\n")
        out.write(f"    licence: {src.licence}; checksums: {checks}\n")
        out.write(f"    layout: {src.layout}\n")


def _cmd_list(args: argparse.Namespace) -> int:
    from diception_spec.benchmarks import list_benchmarks

    if args.json:
        specs = [s.to_dict() for s in list_benchmarks(args.task, ranked_only=args.ranked_only)]
        json.dump(specs, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        write_registry(sys.stdout, args.task, args.ranked_only)
    return 0


# --------------------------------------------------------------------------------------------------------------------
# prepare (evaluation.data.prepare does the work)
# --------------------------------------------------------------------------------------------------------------------


def _parse_option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--option: expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), parse_json(value, name=f"--option {key.strip()}")  # numbers, booleans, lists
    except Refused:
        return key.strip(), value  # a plain string (a path or a pattern)


def _add_prepare(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "prepare", help="convert a benchmark's native release into the prepared format",
        description="Convert a benchmark's native files into the prepared format (see evaluation.data).",
    )
    p.add_argument("name", help="benchmark id, e.g. ADE20K, nyuv2, depth/kitti, normal/ibims")
    p.add_argument("--source", required=True, help="folder of the native release")
    p.add_argument("--dest", required=True, help="prepared folder to write")
    p.add_argument("--task", help="task id, when the name exists for several tasks")
    p.add_argument("--format", dest="fmt", help="converter to use instead of the benchmark's default")
    p.add_argument("--seed", type=int, default=0, help="seed of the ~10k-mask subsampling (default 0)")
    p.add_argument("--frame", help="normal frame to write (default: the source's)")
    p.add_argument("--source-frame", help="normal frame the source files are in, when the registry does not say")
    p.add_argument("--overwrite", action="store_true", help="replace an existing prepared folder")
    p.add_argument(
        "--option", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
        help="converter option (repeatable), e.g. --option annotations=ann.json --option scale=256",
    )
    p.set_defaults(handler=_cmd_prepare)


def _cmd_prepare(args: argparse.Namespace) -> int:
    from evaluation.data.prepare import run_prepare

    manifest = run_prepare(
        args.name, args.source, args.dest,
        task=args.task, fmt=args.fmt, seed=args.seed, frame=args.frame, source_frame=args.source_frame,
        overwrite=args.overwrite, **dict(args.option),
    )
    failures = getattr(manifest, "failures", [])
    samples = getattr(manifest, "samples", [])
    logger.info("prepared %s: %d samples, %d failures -> %s", args.name, len(samples), len(failures), args.dest)
    return 0


# --------------------------------------------------------------------------------------------------------------------
# run (evaluation.runner does the work)
# --------------------------------------------------------------------------------------------------------------------


def _add_run(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run", help="score a model on benchmarks",
        description="Score a model on benchmarks and write a versioned result JSON. Under `accelerate launch` the "
        "same command shards the images across processes; rank 0 merges and writes the result.",
    )
    p.add_argument("--model", required=True, choices=[k.value for k in ModelKind],
                   help="predictor kind")
    p.add_argument("--model-id", help="'tiny', a model folder or a Hub id (default: the kind's reference model)")
    p.add_argument("--predictions", help="folder of prediction files (--model files)")
    p.add_argument("--depth-kind", choices=("disparity", "depth"), default="disparity",
                   help="what depth prediction files hold (--model files)")
    p.add_argument("--name", help="model name recorded for prediction files (--model files)")
    p.add_argument("--benchmarks", required=True,
                   help="comma-separated benchmark names (e.g. synthetic, nyuv2, depth/nyuv2, sa23, or a prepared "
                   "folder for a user split)")
    p.add_argument("--data-root", help="folder of prepared benchmark folders, one per benchmark")
    p.add_argument("--tier", choices=TIERS, default="quick")
    p.add_argument("--protocol", action="append", default=[],
                   help="protocol to use where a benchmark offers it (repeatable; default: each benchmark's own)")
    p.add_argument("--adapter", help="adapter folder, or OWNER/NAME@COMMIT on the Hub (--model diception)")
    p.add_argument("--adapter-scale", type=float, default=1.0)
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the model's)")
    p.add_argument("--seed", type=int, help="noise seed (default: the model's)")
    p.add_argument("--batch-size", type=int, default=8,
                   help="predictions per denoising batch (--model diception; default 8; larger is faster on a GPU "
                        "while memory allows)")
    p.add_argument("--device", help="torch device (default: the local accelerator, else CPU)")
    p.add_argument("--out", default="results.json", help="result JSON path (default results.json)")
    p.add_argument("--cache-dir", help="per-sample cache folder (default $DICEPTION_EVAL_CACHE or "
                   "~/.cache/diception/evaluation)")
    p.add_argument("--record", action="store_true", help="write the scores to the leaderboard database")
    p.add_argument("--database-url", help="leaderboard database URL (default: the leaderboard's settings)")
    p.add_argument("--synthetic-samples", type=int, help="scenes of the synthetic benchmark (default: the spec's)")
    p.add_argument("--synthetic-size", type=int, default=96, help="side of the synthetic scenes in pixels")
    p.add_argument("--synthetic-seed", type=int, default=0, help="seed of the synthetic scenes (default 0)")
    p.add_argument("--depth-scale", type=float, help="divisor of 16-bit depth PNGs (--model files; default: the "
                   "prediction-file layout's)")
    p.add_argument("--normal-frame", help="frame of normal prediction files (--model files; default: the layout's)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                   help="model dtype (--model diception; default: bfloat16 on CUDA, float32 on CPU)")
    p.add_argument("--thumbnails", type=int, metavar="N",
                   help="draw the N worst and N best items of every dataset into the result (default: "
                   f"{THUMBNAILS_PER_DATASET} with --record, else 0)")
    # A leaderboard row's reproduce command carries these: a mismatch refuses the run (the code version only warns).
    p.add_argument("--model-revision", help="refuse unless the loaded model has this revision")
    p.add_argument("--adapter-sha256", help="refuse unless the adapter folder has this content hash")
    p.add_argument("--benchmark-version", action="append", default=[], metavar="TASK/ID=VERSION@DATA_REVISION",
                   help="refuse unless the benchmark has this version and data revision (repeatable)")
    p.add_argument("--code-version", help="warn unless the scoring code has this version (src-...)")
    p.add_argument("--rank", type=int, help=argparse.SUPPRESS)  # explicit sharding (tests); else accelerate's
    p.add_argument("--world-size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_run)


def _distributed_state(args: argparse.Namespace) -> tuple[int, int, Any]:
    """(rank, world size, barrier): explicit options, else accelerate's PartialState when launched by it."""
    if args.rank is not None or args.world_size is not None:
        return args.rank or 0, args.world_size or 1, lambda: None
    if "WORLD_SIZE" in os.environ or "ACCELERATE_MIXED_PRECISION" in os.environ:
        from accelerate import PartialState

        state = PartialState()
        return state.process_index, state.num_processes, state.wait_for_everyone
    return 0, 1, lambda: None


def _cmd_run(args: argparse.Namespace) -> int:
    from evaluation import reproduce
    from evaluation.predictors import build_predictor
    from evaluation.results import write_result
    from evaluation.runner import SyntheticOptions, run_evaluation

    if args.thumbnails is not None and args.thumbnails < 0:
        raise ValueError(f"--thumbnails: expected 0 (none) or more items per dataset, got {args.thumbnails}")
    reproduce.check_benchmark_versions(args.benchmark_version)
    reproduce.check_code_version(args.code_version)
    rank, world_size, barrier = _distributed_state(args)
    device = args.device
    if device is None and world_size > 1:
        import torch

        device = f"cuda:{rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"
    opts: dict[str, Any] = {}
    if args.model == "diception":
        if args.adapter:
            args.adapter = str(reproduce.resolve_adapter(args.adapter))
            reproduce.check_adapter_hash(args.adapter, args.adapter_sha256)
        opts = {"steps": args.steps, "guidance": args.guidance, "seed": args.seed, "adapter": args.adapter,
                "adapter_scale": args.adapter_scale, "dtype": args.dtype, "batch_size": args.batch_size}
    elif args.model == "files":
        opts = {"predictions": args.predictions, "depth_kind": args.depth_kind}
        if args.name:
            opts["name"] = args.name
        if args.depth_scale is not None:
            opts["depth_scale"] = args.depth_scale
        if args.normal_frame:
            opts["normal_frame"] = args.normal_frame
    elif args.adapter or args.steps is not None or args.guidance is not None or args.dtype:
        raise ValueError("--adapter, --steps, --guidance and --dtype apply to --model diception only")
    predictor = build_predictor(args.model, args.model_id, device=device, **opts)
    reproduce.check_model_revision(predictor.describe(), args.model_revision)
    thumbnails = args.thumbnails if args.thumbnails is not None else (THUMBNAILS_PER_DATASET if args.record else 0)
    result = run_evaluation(
        predictor, [b for b in args.benchmarks.split(",") if b.strip()], tier=args.tier, protocols=args.protocol,
        data_root=args.data_root, cache_dir=args.cache_dir, rank=rank, world_size=world_size, barrier=barrier,
        synthetic=SyntheticOptions(samples=args.synthetic_samples, size=args.synthetic_size, seed=args.synthetic_seed),
        progress=not args.no_progress, thumbnails=thumbnails,
    )
    if result is None:  # not rank 0: rank 0 writes the result
        return 0
    write_result(args.out, result)
    for score in result["scores"]:
        ci = "" if score["ci_low"] is None else f" [{score['ci_low']:.4g}, {score['ci_high']:.4g}]"
        logger.info("%s/%s %s (%s): %.4g%s n=%d", score["task"], score["benchmark"], score["metric"],
                    score["protocol"], score["value"], ci, score["n"])
    if result["failures"]:
        logger.warning("%d samples failed (listed in %s)", len(result["failures"]), args.out)
    logger.info("result written to %s", args.out)
    if args.record:
        from leaderboard.store import Store

        store = Store(args.database_url)
        try:
            run_id = store.record_evaluation(result, provenance="self-submitted" if args.model == "files" else
                                             "measured")
        finally:
            store.close()
        logger.info("recorded as evaluation run %d", run_id)
    return 0


# --------------------------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------------------------

_SUBCOMMANDS = (_add_list, _add_prepare, _add_run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="{list,prepare,run}")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return int(args.handler(args))
    except BrokenPipeError:  # e.g. `python -m evaluation list | head`: the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0
    except (KeyError, ValueError, FileNotFoundError, FileExistsError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        logger.error("%s", message)
        return 2
    except RuntimeError as exc:  # a model that cannot be loaded: one line saying what to do (no torch import here)
        loading = sys.modules.get("diception_core.loading")
        if loading is None or not isinstance(exc, loading.ModelLoadError):
            raise
        logger.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
