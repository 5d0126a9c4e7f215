"""The result schema's additions within format 1: code version and thumbnails are optional, bounded, and ignored by
comparable (they describe the run, not its outcome)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from diception_spec.results import THUMBNAIL_MAX_BYTES, THUMBNAIL_MAX_SIDE, comparable, validate_result


def result(**extra: Any) -> dict[str, Any]:
    out = {
        "format_version": 1,
        "model": {"name": "M", "variant": "", "kind": "sam", "model_type": "specialist", "revision": "r"},
        "settings": {"steps": None, "guidance": None, "seed": None, "tier": "quick"},
        "run": {"started_at": "t0", "finished_at": "t1", "hardware": "cpu", "host": "h", "packages": {}},
        "scores": [{"task": "depth", "benchmark": "nyuv2", "metric": "absrel", "value": 0.1, "unit": "fraction",
                    "higher_is_better": False, "protocol": "genpercept-affine", "tier": "quick", "ci_low": 0.09,
                    "ci_high": 0.11, "n": 2}],
        "samples": [{"task": "depth", "benchmark": "nyuv2", "sample_id": "a", "mask_id": "", "values": {},
                     "metrics": {"absrel": 0.1}, "seconds": 1.0}],
        "failures": [],
    }
    out.update(extra)
    return out


def item(**changes: Any) -> dict[str, Any]:
    image = base64.b64encode(b"RIFF....WEBP").decode()
    out = {"task": "depth", "benchmark": "nyuv2", "sample_id": "a", "mask_id": "", "metric": "absrel", "value": 0.1,
           "rank": "worst", "position": 0, "width": 64, "height": 48, "input": image, "truth": image,
           "prediction": image}
    out.update(changes)
    return out


def thumbnails(*items: dict[str, Any]) -> dict[str, Any]:
    return {"media_type": "image/webp", "max_side": 256, "per_dataset": 4, "bytes": 0, "items": list(items),
            "dropped": []}


def test_results_without_the_additions_still_validate() -> None:
    validate_result(result())


def test_comparable_ignores_thumbnails_and_the_code_version() -> None:
    plain = result()
    drawn = copy.deepcopy(plain)
    drawn["thumbnails"] = thumbnails(item())
    drawn["run"].update(code_version="src-0123456789abcdef", git_commit="f" * 40)
    validate_result(drawn)
    assert comparable(drawn) == comparable(plain)
    drawn["samples"][0]["metrics"]["absrel"] = 0.2  # per-item values are outcomes
    assert comparable(drawn) != comparable(plain)


@pytest.mark.parametrize(("changes", "match"), [
    ({"rank": "middle"}, "'rank'"),
    ({"width": THUMBNAIL_MAX_SIDE + 1}, "'width'"),
    ({"height": 0}, "'height'"),
    ({"input": "not base64!"}, "not valid base64"),
])
def test_malformed_thumbnails_are_refused(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_result(result(thumbnails=thumbnails(item(**changes))))


def test_thumbnails_over_the_run_budget_are_refused() -> None:
    image = base64.b64encode(b"\0" * (THUMBNAIL_MAX_BYTES // 6 + 1)).decode()
    items = [item(position=p, input=image, truth=image, prediction=image) for p in (0, 1)]
    with pytest.raises(ValueError, match=f"at most {THUMBNAIL_MAX_BYTES} per run"):
        validate_result(result(thumbnails=thumbnails(*items)))
    with pytest.raises(ValueError, match="media_type"):
        validate_result(result(thumbnails={**thumbnails(), "media_type": "image/gif"}))
