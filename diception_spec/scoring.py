"""The scoring rules every part computes the same way: mask IoU, least-squares depth alignment, AbsRel and the
angular error of normals (PROTOCOLS.md). The evaluation's metrics (``evaluation.metrics``), the calibration
(``diception_core.calibrate``) and the fine-tuner's held-out metric (``diception_core.finetune``) all call these, so
they agree on every edge case; the evaluation adds batching, aggregation and bootstrap intervals around them.

Plain numpy in float64, imported inside the functions: the spec package stays light at import.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

DepthSpace = Literal["depth", "disparity"]
DISPARITY_FLOOR = 1e-3  # an aligned disparity below this is raised to it before inverting (genpercept-affine)
DEPTH_FLOOR = 1e-6  # every aligned depth is at least this


def _bool(array: Any, name: str) -> np.ndarray:
    import numpy as np

    a = np.asarray(array)
    if a.dtype != np.bool_:
        raise ValueError(f"{name}: expected a boolean mask, got dtype {a.dtype}")
    return a


def mask_iou(pred: np.ndarray | Any, gt: np.ndarray | Any) -> Any:
    """Intersection over union of binary masks, ``|P ∩ G| / |P ∪ G|``, a fraction in [0, 1]; higher is better.

    ``pred`` and ``gt`` are boolean arrays (numpy, or anything ``numpy.asarray`` takes) of one shape ``[..., H, W]``;
    the result is a float for one mask pair, a float64 array of shape ``[...]`` for stacks.

    The one answer for empty masks: two empty masks agree completely, IoU 1; an empty ground truth with a non-empty
    prediction gives 0 (the union is the prediction). PROTOCOLS.md's formula leaves 0/0 open; benchmarks never hold
    an empty ground-truth mask (the prepared format drops them), so this only decides cases like a fine-tuning
    validation image without the object.

    Raises ``ValueError`` on non-boolean input, a shape mismatch or fewer than two dimensions.
    """
    import numpy as np

    p, g = _bool(pred, "pred"), _bool(gt, "gt")
    for name, array in (("pred", p), ("gt", g)):
        if array.ndim < 2:
            raise ValueError(f"{name}: expected masks of shape [..., H, W], got {array.shape}")
    if p.shape != g.shape:
        raise ValueError(f"shape mismatch: pred {p.shape}, gt {g.shape}")
    axes = (-2, -1)
    inter = np.count_nonzero(p & g, axis=axes).astype(np.float64)
    union = np.count_nonzero(p | g, axis=axes).astype(np.float64)
    ious = np.divide(inter, union, out=np.ones_like(union), where=union > 0)
    return float(ious) if ious.ndim == 0 else ious


def _depth_inputs(pred: Any, gt: Any, valid: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import numpy as np

    p, g, v = np.asarray(pred), np.asarray(gt), _bool(valid, "valid")
    if not (p.shape == g.shape == v.shape):
        raise ValueError(f"shape mismatch: pred {p.shape}, gt {g.shape}, valid {v.shape}")
    if not v.any():
        raise ValueError("valid: no valid pixels")
    return p, g, v


def fit_scale_shift(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares ``argmin_{s,t} Σ (s·p + t − y)²`` on 1-D float64 vectors (centred closed form). A constant
    ``p`` has no unique solution; it then gets ``s = 0, t = mean(y)``."""
    p_mean, y_mean = float(p.mean()), float(y.mean())
    pc = p - p_mean
    var = float((pc * pc).sum())
    if var <= 0.0 or not math.isfinite(var):
        return 0.0, y_mean
    s = float((pc * (y - y_mean)).sum()) / var
    return s, y_mean - s * p_mean


def align_depth_least_squares(
    pred: Any,
    gt: Any,
    valid: Any,
    space: DepthSpace = "depth",
    *,
    min_depth: float | None = None,
    max_depth: float | None = None,
    fit_max_side: int | None = None,
) -> np.ndarray:
    """Per-image least-squares scale-and-shift alignment of an affine-invariant prediction (``genpercept-affine``).

    ``space="depth"``: ``[s, t] = argmin Σ_V (s·p + t − d)²`` and ``d̂ = s·p + t``.
    ``space="disparity"``: ``D = 1/d``; fit ``s·p + t`` to ``D`` on ``V ∧ d > 0``; ``D̂ = max(s·p + t, 1e-3)``;
    ``d̂ = 1/D̂``. Then ``d̂`` is clipped to ``[min_depth, max_depth]`` (either bound may be None) and finally
    ``d̂ = max(d̂, 1e-6)``. Returns the aligned depth with ``pred``'s shape, float64.

    ``fit_max_side`` (ETH3D: 1024): ``s, t`` are fitted on a nearest-neighbour subsample whose longer side is at
    most that, then applied to the full-resolution prediction, so the metrics stay at the ground truth's resolution.

    Raises ``ValueError`` on shape mismatches, a non-bool ``valid``, an unknown ``space``, or an empty fit set.
    """
    import numpy as np

    p_all, g_all, v_all = _depth_inputs(pred, gt, valid)
    if space not in ("depth", "disparity"):
        raise ValueError(f"space: expected 'depth' or 'disparity', got {space!r}")
    fit_p, fit_g, fit_v = p_all, g_all, v_all
    if fit_max_side is not None and max(p_all.shape[-2:]) > fit_max_side:
        height, width = p_all.shape[-2:]
        scale = fit_max_side / max(height, width)
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        rows, cols = np.arange(h) * height // h, np.arange(w) * width // w
        fit_p, fit_g, fit_v = (a[..., rows, :][..., :, cols] for a in (p_all, g_all, v_all))
    fit_mask = fit_v if space == "depth" else fit_v & (fit_g > 0)
    if not fit_mask.any():
        raise ValueError("valid: no valid pixels with gt > 0 to fit the alignment")
    p = fit_p[fit_mask].astype(np.float64)  # [N]
    y = fit_g[fit_mask].astype(np.float64)  # [N]
    if space == "disparity":
        y = 1.0 / y
    s, t = fit_scale_shift(p, y)
    aligned = p_all.astype(np.float64) * s + t  # [H, W], in the fitted space
    if space == "disparity":
        aligned = 1.0 / np.maximum(aligned, DISPARITY_FLOOR)
    if min_depth is not None or max_depth is not None:
        aligned = np.clip(aligned, min_depth, max_depth)
    return np.maximum(aligned, DEPTH_FLOOR)


def valid_depth_vectors(pred: Any, gt: Any, valid: Any) -> tuple[np.ndarray, np.ndarray]:
    """The valid pixels of a prediction and its ground truth as float64 vectors; ``gt`` must be > 0 there."""
    import numpy as np

    p_all, g_all, v_all = _depth_inputs(pred, gt, valid)
    p, g = p_all[v_all].astype(np.float64), g_all[v_all].astype(np.float64)
    if (g <= 0).any():
        raise ValueError("gt: must be > 0 wherever valid is True")
    return p, g


def absrel_of_vectors(p: np.ndarray, g: np.ndarray) -> float:
    """``mean |p − g| / g`` over matching float64 vectors of predicted and true depths (``g > 0``)."""
    return float((abs(p - g) / g).mean())


def absrel(pred: Any, gt: Any, valid: Any) -> float:
    """Absolute relative error ``mean_V |d̂ − d| / d`` (a fraction); lower is better. Raises ``ValueError`` on shape
    mismatches, an empty ``valid`` or ``gt <= 0`` where valid."""
    return absrel_of_vectors(*valid_depth_vectors(pred, gt, valid))


def angular_error_deg(pred: Any, gt: Any, valid: Any) -> np.ndarray:
    """Per valid pixel, ``e = acos(clamp(<n̂, n>, −1, 1))`` in degrees; lower is better.

    ``pred`` and ``gt`` are ``[..., 3]`` normals in the same frame (both are normalised to unit length here; a zero
    prediction gets 90°); ``valid`` is ``[...]``. Returns a 1-D float64 array of the valid pixels' errors in
    row-major order. Raises ``ValueError`` on shape mismatches, a last dimension other than 3, an empty ``valid``
    or a zero-length ground-truth normal where valid.
    """
    import numpy as np

    n_hat_all, n_all, v = np.asarray(pred), np.asarray(gt), _bool(valid, "valid")
    if n_hat_all.shape != n_all.shape:
        raise ValueError(f"shape mismatch: pred {n_hat_all.shape}, gt {n_all.shape}")
    if n_hat_all.ndim < 1 or n_hat_all.shape[-1] != 3:
        raise ValueError(f"pred: expected normals of shape [..., 3], got {n_hat_all.shape}")
    if v.shape != n_hat_all.shape[:-1]:
        raise ValueError(f"shape mismatch: valid {v.shape} vs normals {n_hat_all.shape}")
    if not v.any():
        raise ValueError("valid: no valid pixels")
    n_hat, n = n_hat_all[v].astype(np.float64), n_all[v].astype(np.float64)  # [N, 3]
    gt_norm = np.linalg.norm(n, axis=-1)
    if (gt_norm == 0).any():
        raise ValueError("gt: zero-length normal where valid is True")
    pred_norm = np.maximum(np.linalg.norm(n_hat, axis=-1), 1e-12)
    cos = (n_hat * n).sum(axis=-1) / (pred_norm * gt_norm)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))
