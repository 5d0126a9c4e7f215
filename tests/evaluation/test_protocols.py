"""Click simulation on hand-drawn masks, random points, and the protocol registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evaluation import protocols as P


def _mask(rows: list[str]) -> np.ndarray:
    """A mask drawn as text: '#' is inside."""
    return np.array([[c == "#" for c in row] for row in rows], dtype=bool)


# --------------------------------------------------------------------------------------------------------------------
# the first click
# --------------------------------------------------------------------------------------------------------------------


def test_first_click_rectangle_centre() -> None:
    # A 5 x 7 rectangle (rows 1-5, cols 2-8): the DT is min(y, 6 - y, x - 1, 9 - x); its maximum 3 lies on
    # row 3 at cols 4, 5, 6, and the first in row-major order is (x=4, y=3).
    gt = _mask([
        "...........",
        "..#######..",
        "..#######..",
        "..#######..",
        "..#######..",
        "..#######..",
        "...........",
    ])
    click = P.next_click(gt)
    assert click == P.Click(x=4, y=3, positive=True)
    assert click.as_point() == [4, 3]


def test_first_click_image_border_counts_as_boundary() -> None:
    # The mask fills the whole 5 x 5 image; without padding the distance transform would have no zero pixel.
    # With the border as boundary the centre pixel (2, 2) is 3 away from outside, the unique maximum.
    gt = np.ones((5, 5), dtype=bool)
    assert P.next_click(gt) == P.Click(2, 2, True)
    # Touching the left border: a 3-row band over cols 0-5 of a 3 x 8 image -> centre row, the leftmost pixel two
    # away from every side is x=1; x=2.. are also 2 away (top/bottom) -> first maximum x=1.
    band = _mask(["######..", "######..", "######.."])
    assert P.next_click(band) == P.Click(1, 1, True)


def test_first_click_l_shape() -> None:
    # An L: a thick vertical bar (cols 1-4, rows 1-9) and a thinner foot (rows 7-9, cols 5-12).
    gt = _mask([
        ".............",
        ".####........",
        ".####........",
        ".####........",
        ".####........",
        ".####........",
        ".####........",
        ".############",
        ".############",
        ".############",
        ".............",
    ])
    # In the bar (width 4) and the foot (height 3) no pixel is more than 2 from the outside. At the inner corner
    # pixel (x=3, y=7) the nearest outside pixel is (x=5, y=6), the notch above the foot: sqrt(2² + 1²) = sqrt(5);
    # the left edge (col 0) and the bottom (row 10) are 3 away. It is the unique maximum.
    dt = P.distance_transform_padded(gt)
    assert dt.max() == pytest.approx(np.sqrt(5.0), abs=1e-4)
    assert P.next_click(gt) == P.Click(3, 7, True)


def test_distance_transform_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    gt = rng.random((12, 15)) > 0.3
    dt = P.distance_transform_padded(gt)
    padded = np.pad(gt, 1)
    outside = np.argwhere(~padded)
    for y, x in np.argwhere(gt):
        expected = np.sqrt(((outside - (y + 1, x + 1)) ** 2).sum(1)).min()
        assert dt[y, x] == pytest.approx(expected, abs=1e-4)


# --------------------------------------------------------------------------------------------------------------------
# the next clicks
# --------------------------------------------------------------------------------------------------------------------


def test_next_click_in_false_negative_region() -> None:
    gt = np.zeros((10, 12), bool)
    gt[1:9, 1:11] = True  # 8 x 10
    pred = gt.copy()
    pred[1:9, 6:11] = False  # the right half is missed: FN = rows 1-8, cols 6-10 (8 x 5)
    # FN touches pred (not boundary for the DT: only non-FN pixels are), so its DT is 1 at col 6 .. 3 at col 8;
    # rows 3..6 are >= 3 away from top/bottom -> first maximum (x=8, y=3). No FP -> positive.
    click = P.next_click(gt, pred, [P.Click(5, 4, True)])
    assert click == P.Click(8, 3, True)


def test_negative_click_when_false_positives_dominate() -> None:
    gt = np.zeros((12, 12), bool)
    gt[1:4, 1:4] = True  # small object, perfectly covered
    pred = gt.copy()
    pred[5:12, 3:10] = True  # a big false-positive blob (7 x 7, touching the bottom border)
    fn_click = P.next_click(gt, pred, [P.Click(2, 2, True)])
    # FP blob rows 5-11, cols 3-9; the image border counts as boundary -> the centre (x=6, y=8) with DT 4.
    assert fn_click == P.Click(6, 8, False)
    # The positive-only variant never clicks FP: no FN -> no click.
    assert P.next_click(gt, pred, [P.Click(2, 2, True)], positive_only=True) is None


def test_tie_goes_to_negative_and_clicked_pixels_are_excluded() -> None:
    gt = np.zeros((7, 14), bool)
    gt[2:5, 1:4] = True  # FN: 3 x 3, DT max 2 at (2, 3)
    pred = np.zeros_like(gt)
    pred[2:5, 9:12] = True  # FP: 3 x 3, DT max 2 at (10, 3)
    assert P.next_click(gt, pred) == P.Click(10, 3, False)  # equal maxima: negative
    # With the FP centre already clicked, the FP maximum drops to 1 and FN wins.
    assert P.next_click(gt, pred, [P.Click(10, 3, False)]) == P.Click(2, 3, True)


def test_next_click_none_when_perfect_and_raises() -> None:
    gt = np.zeros((5, 5), bool)
    gt[1:4, 1:4] = True
    assert P.next_click(gt, gt.copy()) is None
    with pytest.raises(ValueError, match="empty"):
        P.next_click(np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="shape mismatch"):
        P.next_click(gt, np.zeros((5, 6), bool))
    with pytest.raises(ValueError, match="bool"):
        P.next_click(gt.astype(np.uint8))


def test_run_clicks_with_a_scripted_predictor() -> None:
    gt = np.zeros((10, 12), bool)
    gt[1:9, 1:11] = True
    seen: list[list[P.Click]] = []

    def predict(clicks: list[P.Click]) -> torch.Tensor:
        seen.append(list(clicks))
        pred = np.zeros_like(gt)
        if len(clicks) == 1:
            pred[1:9, 1:6] = True  # left half
        else:
            pred = gt.copy()  # perfect from click 2 on
        return torch.from_numpy(pred)

    ious = P.run_clicks(predict, gt, max_clicks=4)
    assert ious == pytest.approx([0.5, 1.0, 1.0, 1.0])
    assert len(seen) == 2  # no error left after click 2: no further predictions
    assert seen[0] == [P.Click(4, 4, True)]  # DT = min(x, 11 - x, y, 9 - y): 4 first at (4, 4)
    assert seen[1][1] == P.Click(8, 3, True)


def test_run_clicks_positive_only_and_bad_prediction() -> None:
    gt = np.zeros((8, 8), bool)
    gt[2:6, 2:6] = True
    clicks_seen: list[P.Click] = []

    def overshoot(clicks: list[P.Click]) -> np.ndarray:
        clicks_seen.extend(clicks[-1:])
        return np.ones_like(gt)  # FP everywhere around the object

    ious = P.run_clicks(overshoot, gt, max_clicks=3, positive_only=True)
    assert ious == pytest.approx([16 / 64] * 3)
    assert len(clicks_seen) == 1 and clicks_seen[0].positive  # no FN left: positive-only makes no more clicks
    with pytest.raises(ValueError, match="pred"):
        P.run_clicks(lambda clicks: np.ones((3, 3), bool), gt, max_clicks=1)


# --------------------------------------------------------------------------------------------------------------------
# random points, seeds, registry
# --------------------------------------------------------------------------------------------------------------------


def test_random_points_inside_distinct_and_stable() -> None:
    mask = np.zeros((40, 50), bool)
    mask[10:20, 5:45] = True
    points = P.random_points(mask, 5, benchmark="ADE20K", sample_id="img1", mask_id=3)
    assert len(points) == 5 and len({tuple(p) for p in points}) == 5
    assert all(mask[y, x] for x, y in points)  # [x, y]: x is the column
    again = P.random_points(mask, 5, benchmark="ADE20K", sample_id="img1", mask_id=3)
    other = P.random_points(mask, 5, benchmark="ADE20K", sample_id="img1", mask_id=4)
    assert points == again and points != other
    # An independent reference of the draw.
    seed = P.stable_seed("random-points", "ADE20K", "img1", 3)
    flat = np.flatnonzero(mask)
    chosen = flat[np.random.default_rng(seed).choice(flat.size, 5, replace=False)]
    assert points == [[int(c % 50), int(c // 50)] for c in chosen]


def test_random_points_small_mask_and_raises() -> None:
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    assert P.random_points_seeded(mask, 5, seed=0) == [[2, 1]]
    with pytest.raises(ValueError, match="empty"):
        P.random_points_seeded(np.zeros((4, 4), bool), 1, seed=0)


def test_stable_seed_is_a_known_constant() -> None:
    # sha256("a\x1fb\x1f3")[:8] >> 1, computed independently of the project
    import hashlib

    expected = int.from_bytes(hashlib.sha256(b"a\x1fb\x1f3").digest()[:8], "big") >> 1
    assert P.stable_seed("a", "b", 3) == expected
    assert 0 <= expected < 2**63


def test_protocol_registry_has_ids_md_protocols() -> None:
    ids_md = (
        "sam-center-click", "sam-center-click-positive-only", "random-points", "diception-paper", "genpercept-affine",
        "depth-anything-disparity", "stablenormal", "dsine", "marigold-normals", "coco-keypoints", "painter-topdown",
        "class-agnostic-cocoeval", "coco-instance",
    )
    for protocol_id in ids_md:
        assert P.get_protocol(protocol_id).id == protocol_id
    assert not P.get_protocol("diception-paper").ranked
    with pytest.raises(KeyError, match="known protocols"):
        P.get_protocol("center-click")
