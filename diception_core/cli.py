"""``python -m diception_core``: predict, convert, calibrate."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger("diception_core")


def _parse_cli_points(text: str | None) -> list[list[float]] | None:
    """``"x,y;x,y"`` or a JSON list ``[[x, y], ...]`` -> [[x, y], ...] (numbers: the pipeline takes no text)."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text.startswith("["):
        from .points import parse_points_json

        return parse_points_json(text).tolist()
    points = []
    for pair in text.split(";"):
        parts = [p.strip() for p in pair.split(",")]
        if len(parts) != 2:
            raise ValueError(f"--points: {pair!r} is not 'x,y'; use e.g. --points \"412,230;455,260\"")
        try:
            points.append([float(parts[0]), float(parts[1])])
        except ValueError:
            raise ValueError(f"--points: {pair[:40]!r} is not two numbers 'x,y'") from None
    return points


def _load(args: argparse.Namespace):
    from .pipeline import from_official, load_pipeline
    from .runtime import RuntimeOptions

    runtime = RuntimeOptions(attention=args.attention, compile=args.compile, channels_last_vae=args.channels_last_vae)
    if args.base or args.checkpoint:
        if not (args.base and args.checkpoint):
            raise ValueError("--base and --checkpoint go together (SD3-medium folder/id + DICEPTION_v1.pth)")
        pipe = from_official(args.base, args.checkpoint, device=args.device, dtype=args.dtype)
    else:
        pipe = load_pipeline(args.model, device=args.device, dtype=args.dtype)
    pipe.set_runtime(runtime)
    return pipe


def cmd_predict(args: argparse.Namespace) -> int:
    from .downloads import write_prediction_files

    pipe = _load(args)
    if pipe.config.untrained:
        logger.warning("untrained weights (%s): outputs are noise", args.model)
    out = pipe(
        args.image, args.task, points=_parse_cli_points(args.points), category=args.category,
        num_inference_steps=args.steps, guidance_scale=args.guidance, seed=args.seed, normalized=args.normalized,
    )
    out_dir = Path(args.out)
    written: dict[str, Any] = {}
    for index, prediction in enumerate(out):
        stem = f"{Path(args.image).stem}_{out.settings['task']}" + (f"_{index}" if len(out) > 1 else "")
        written.update({f"{k}{'' if len(out) == 1 else index}": str(v)
                        for k, v in write_prediction_files(prediction, out_dir, stem=stem).items()})
    summary = {"settings": out.settings, "warnings": out.warnings, "files": written}
    (out_dir / "settings.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for warning in out.warnings:
        logger.warning(warning)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .loading import convert

    folder = convert(
        base=args.base, checkpoint=args.checkpoint, out=args.out, base_revision=args.base_revision,
        checkpoint_revision=args.checkpoint_revision, push_to_hub=args.push_to_hub, private=not args.public,
        device=args.device,
    )
    print(json.dumps({"model_folder": str(folder)}))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate

    pipe = _load(args)
    report = calibrate(
        pipe, sa1b_dir=args.sa1b, normals_dir=args.normals, normals_frame=args.normals_frame,
        max_masks=args.max_masks, steps=args.steps, guidance=args.guidance, seed=args.seed,
    )
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny", help="tiny | a converted model folder | a Hub id of one")
    parser.add_argument("--base", help="SD3-medium in diffusers layout (Hub id or folder), with --checkpoint")
    parser.add_argument("--checkpoint", help="DICEPTION_v1.pth path or Hub repo id, with --base")
    parser.add_argument("--device", default=None, help="cuda | cpu (default: cuda when available)")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                        help="default: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--attention", default="auto",
                        help="attention kernel: auto (default: PyTorch picks) | flash | efficient | cudnn | math")
    parser.add_argument("--compile", action="store_true", help="torch.compile the transformer (slow first call)")
    parser.add_argument("--channels-last-vae", action="store_true", help="channels-last VAE (faster on GPUs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diception_core", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    predict = sub.add_parser("predict", help="run one task on one image and write every output")
    predict.add_argument("image")
    predict.add_argument("--task", required=True,
                         help="depth | normal | point_segmentation | entity_segmentation | semantic_segmentation | "
                              "pose")
    _add_model_args(predict)
    predict.add_argument("--steps", type=int, default=None)
    predict.add_argument("--guidance", type=float, default=None)
    predict.add_argument("--seed", type=int, default=None)
    predict.add_argument("--points", default=None, help='"x,y;x,y" in pixels (or JSON [[x, y], ...])')
    predict.add_argument("--normalized", action="store_true", help="--points are in [0, 1] instead of pixels")
    predict.add_argument("--category", default=None, help="COCO category for semantic_segmentation")
    predict.add_argument("--out", required=True, help="output folder")
    predict.set_defaults(func=cmd_predict)

    conv = sub.add_parser("convert", help="SD3-medium + DICEPTION_v1.pth -> a self-contained model folder")
    conv.add_argument("--base", default="stabilityai/stable-diffusion-3-medium-diffusers")
    conv.add_argument("--checkpoint", default="Canyu/DICEPTION")
    conv.add_argument("--base-revision", default=None)
    conv.add_argument("--checkpoint-revision", default=None)
    conv.add_argument("--out", required=True)
    conv.add_argument("--device", default=None)
    conv.add_argument("--push-to-hub", default=None, metavar="REPO", help="upload the folder (private by default)")
    conv.add_argument("--public", action="store_true", help="make the pushed repo public (SD3 is gated: careful)")
    conv.set_defaults(func=cmd_convert)

    cal = sub.add_parser("calibrate", help="score both point orders (SA-1B) and normal frames (ground truth)")
    _add_model_args(cal)
    cal.add_argument("--sa1b", default=None, help="folder of SA-1B images + JSON annotations")
    cal.add_argument("--normals", default=None, help="folder of *_img.png + *_normal.png (or .npy) ground truth")
    cal.add_argument("--normals-frame", default="dsine", help="axis frame of the ground-truth normals")
    cal.add_argument("--max-masks", type=int, default=50)
    cal.add_argument("--steps", type=int, default=None)
    cal.add_argument("--guidance", type=float, default=None)
    cal.add_argument("--seed", type=int, default=None)
    cal.add_argument("--out", default=None, help="also write the JSON report here")
    cal.set_defaults(func=cmd_calibrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from .loading import ModelLoadError

    try:
        return args.func(args)
    except (ValueError, ModelLoadError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
