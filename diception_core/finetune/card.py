"""The adapter's model card (README.md): what it does, what it was trained on, how, and how well."""

from __future__ import annotations

import json
from typing import Any

_METRIC_NOTES = {
    "miou": "mean IoU of the decoded masks, percent, higher is better",
    "absrel": "AbsRel after least-squares scale/shift alignment in disparity space, lower is better",
    "mean_deg": "mean angular error of the normals, degrees, lower is better",
    "mae": "mean absolute RGB error, lower is better",
}
_SETTINGS_SHOWN = (
    "model", "rank", "lora_alpha", "targets", "steps", "batch", "grad_accum", "lr", "warmup_steps", "weight_decay",
    "max_grad_norm", "val_split", "seed", "mixed_precision", "gradient_checkpointing", "timestep_sampling",
    "logit_mean", "logit_std", "prompt_embedding", "depth_kind", "save_dtype",
)


def _yaml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def model_card(
    *,
    settings: dict[str, Any],
    task_info: dict[str, Any],
    prompt_learned: bool,
    num_train: int,
    num_heldout: int,
    metrics: dict[str, float],
    steps: int,
    final_loss: float | None,
    num_lora_parameters: int,
    resolution: int,
) -> str:
    """The README.md of an adapter folder (Hub model-card front matter, then Markdown)."""
    base = task_info["base_model"]
    new_task = task_info.get("new_task")
    if new_task:
        what = (f"new task **{new_task['name']}** (prompt `{new_task['prompt']}`, output encoding "
                f"`{new_task['encoding']}`)")
    else:
        what = f"the existing task **{task_info['task']}**"
    lines = [
        "---",
        "library_name: diception",
        f"base_model: {_yaml_string(base['id'])}",
        "license: other",
        "tags: [diception, lora, dense-prediction]",
        "---",
        "",
        f"# {settings['name']}: a DICEPTION LoRA adapter",
        "",
        f"A LoRA adapter for DICEPTION (`{base['id']}`, revision `{base['revision']}`) trained for {what} with "
        "`python -m diception_core.finetune`. Load it with `pipe.load_adapter(folder)` and run "
        "`pipe(image, pipe.adapter_task())`; the folder follows ADAPTER_FORMAT.md.",
        "",
        "## Intended use",
        "",
        f"Dense prediction for the task above on images like the training data. Scored on: "
        f"{', '.join(f'`{b}`' for b in task_info['benchmarks'])}. Outputs of a few-shot adapter can be wrong; "
        "check them before relying on them.",
        "",
        "## Training data",
        "",
        task_info["training_data"],
        "",
        f"{num_train} pairs trained on, {num_heldout} held out for validation. Trained on standard benchmarks: "
        f"{', '.join(task_info['trained_on_benchmarks']) or 'none'}.",
        "",
        "## Training",
        "",
        "SD3 flow matching (velocity target = noise - target latents, timesteps from the logit-normal training "
        f"density), conditioned exactly as at inference; images and targets at {resolution}x{resolution}. LoRA "
        f"weights only ({num_lora_parameters:,} parameters); the base model is frozen.",
        "",
    ]
    if new_task:
        how = ("learned during training, starting from the empty prompt's embedding" if prompt_learned
               else "computed once with SD3's text encoders")
        lines += [f"The task's prompt embedding is {how}, and ships as `task_embedding.safetensors`, so serving this "
                  "adapter needs no text encoder.", ""]
    lines += ["| setting | value |", "|---|---|"]
    for key in _SETTINGS_SHOWN:
        if key in settings:
            value = settings[key]
            if key == "lora_alpha" and value is None:
                value = f"{settings['rank']} (= rank)"
            lines.append(f"| {key} | `{value}` |")
    lines += ["", f"Trained for {steps} steps; final training loss "
              f"{'n/a' if final_loss is None else f'{final_loss:.4f}'}.", "", "## Held-out metric", ""]
    if metrics:
        for key, value in metrics.items():
            note = _METRIC_NOTES.get(key, key)
            lines.append(f"- `{key}` = {value:.4f} ({note}), on {num_heldout} held-out pair(s).")
    else:
        lines.append("No held-out split (val_split 0): no metric was measured.")
    lines += ["", "## Licence", "", task_info["licence"], ""]
    return "\n".join(lines)
