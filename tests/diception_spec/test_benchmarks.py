"""The benchmark registry: SA-23 names, ids of IDS.md, consistency, lookups, tiers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from diception_spec import benchmarks as BM
from diception_spec.metrics import METRICS
from diception_spec.protocols import PROTOCOLS
from diception_spec.tasks import Task

# Written out from ../shared/reference/sam23_datasets.csv (name, images, masks), so the test runs without ../shared.
SA23 = [
    ("PPDLS", 182, 2347), ("BBBC038v1", 227, 10506), ("DOORS", 10000, 10000), ("TimberSeg", 220, 2487),
    ("NDD20", 4402, 6100), ("LVIS", 945, 9642), ("STREETS", 819, 9854), ("ZeroWaste-f", 2947, 6155),
    ("iShape", 754, 9742), ("ADE20K", 302, 10128), ("OVIS", 2044, 10011), ("Hypersim", 338, 9445),
    ("NDISPark", 111, 2577), ("VISOR", 1864, 10141), ("Plittersdorf", 187, 546), ("EgoHOS", 2940, 9961),
    ("IBD", 467, 11953), ("WoodScape", 107, 10266), ("Cityscapes", 293, 9973), ("PIDRay", 3733, 8892),
    ("DRAM", 718, 1179), ("TrashCan", 5936, 9540), ("GTEA", 652, 1208),
]



def test_sa23_has_the_23_datasets_with_sams_counts() -> None:
    members = BM.get_benchmark("sa23").members
    assert list(members) == [name for name, _, _ in SA23]
    for name, images, masks in SA23:
        spec = BM.get_benchmark(Task.POINT_SEGMENTATION, name)
        assert (spec.num_images, spec.num_samples, spec.item) == (images, masks, "mask")
        assert spec.default_protocol == "sam-center-click" and spec.main_metric == "miou_1pt"
    assert BM.get_benchmark("sa23").num_samples == sum(m for _, _, m in SA23)


def test_sa23_names_match_the_shared_csv(shared_fixtures: Path) -> None:
    csv_path = shared_fixtures.parent / "reference" / "sam23_datasets.csv"
    if not csv_path.is_file():
        pytest.skip(f"{csv_path} not found")
    with csv_path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == list(BM.get_benchmark("sa23").members)
    for row in rows:
        spec = BM.get_benchmark("point_segmentation", row["name"])
        assert spec.domain == row["domain"]
        assert spec.num_samples == int(row["masks_sampled_by_sam"])
        assert spec.source.layout == row["likely_native_format"]


def test_ids_md_benchmarks_are_registered() -> None:
    expected = {
        "depth": {"kitti", "nyuv2", "scannet", "diode", "eth3d", "sintel"},
        "normal": {"nyuv2", "scannet", "diode_indoor", "ibims", "sintel"},
        "pose": {"coco_val2017"}, "entity_segmentation": {"coco_val2017"}, "semantic_segmentation": {"coco_val2017"},
    }
    for task, names in expected.items():
        registered = {s.id for s in BM.list_benchmarks(task, ranked_only=True)}
        assert names <= registered, task


def test_every_spec_is_consistent() -> None:
    assert len(set(BM.BENCHMARKS.values())) == len(BM.BENCHMARKS)  # hashable, distinct
    for spec in BM.BENCHMARKS.values():
        assert spec.default_protocol in spec.protocols
        assert all(p in PROTOCOLS for p in spec.protocols)
        assert spec.main_metric in spec.metrics and all(m in METRICS for m in spec.metrics)
        assert set(spec.tiers) == {"quick", "standard", "full"} and spec.tiers["full"] is None
        assert spec.version and spec.data_revision
        json.dumps(spec.to_dict())  # JSON-safe
        if spec.task is Task.DEPTH:
            assert spec.depth is not None
        if spec.task is Task.NORMAL:
            assert spec.normals is not None and spec.normal_frame in {"x_right_y_up_z_viewer", "x_left_y_up_z_viewer"}


def test_depth_rules_follow_protocols_md() -> None:
    nyu = BM.get_benchmark("depth", "nyuv2").depth
    kitti = BM.get_benchmark("depth", "kitti").depth
    diode = BM.get_benchmark("depth", "diode").depth
    eth3d = BM.get_benchmark("depth", "eth3d").depth
    assert (nyu.min_depth, nyu.max_depth, nyu.eval_crop) == (1e-3, 10.0, "eigen_nyu")
    assert (kitti.min_depth, kitti.max_depth, kitti.kb_crop, kitti.eval_crop) == (1e-5, 80.0, True, "eigen_kitti")
    assert (diode.min_depth, diode.max_depth, diode.mask_file) == (0.6, 350.0, True)
    assert (eth3d.max_depth, eth3d.fit_max_side) == (None, 1024)
    assert BM.get_benchmark("depth", "sintel").protocols == ("depth-anything-disparity",)


def test_lookup_by_name_and_unknown_names_list_known_ones() -> None:
    assert BM.get_benchmark("kitti").key == ("depth", "kitti")
    assert BM.get_benchmark("normal/nyuv2").task is Task.NORMAL
    assert BM.get_benchmark(Task.NORMAL, "ibims").id == "ibims"
    with pytest.raises(KeyError, match="known benchmarks: .*point_segmentation/GTEA"):
        BM.get_benchmark("not-a-benchmark")
    with pytest.raises(ValueError, match="known for depth: .*depth/nyuv2"):
        BM.get_benchmark("depth", "ibims")
    with pytest.raises(ValueError, match="several tasks"):
        BM.get_benchmark("nyuv2")
    with pytest.raises(ValueError, match="known tasks"):
        BM.get_benchmark("sound", "nyuv2")


def test_synthetic_is_never_ranked() -> None:
    specs = [s for s in BM.BENCHMARKS.values() if s.id == "synthetic"]
    assert {s.task_id for s in specs} >= {"point_segmentation", "depth", "normal"}
    assert all(not s.ranked for s in specs)
    assert all(s.id != "synthetic" for s in BM.list_benchmarks(ranked_only=True))


def test_select_tier_is_deterministic_nested_and_order_free() -> None:
    ids = [f"img{i:04d}" for i in range(1200)]
    quick = BM.select_tier(ids, "quick", seed=7)
    standard = BM.select_tier(ids, "standard", seed=7)
    assert len(quick) == 50 and len(standard) == 500 and set(quick) <= set(standard)
    assert BM.select_tier(list(reversed(ids)), "quick", seed=7) == quick
    assert BM.select_tier(ids, "quick", seed=8) != quick
    assert BM.select_tier(ids, "full", seed=7) == sorted(ids)
    assert BM.select_tier(ids[:30], "quick", seed=7) == sorted(ids[:30])
    # independent reference of the rule
    order = np.random.default_rng(7).permutation(1200)[:50]
    assert quick == sorted(sorted(ids)[i] for i in order)
    with pytest.raises(ValueError, match="tier"):
        BM.select_tier(ids, "huge", seed=0)
    with pytest.raises(ValueError, match="duplicate"):
        BM.select_tier(["a", "a"], "quick", seed=0)


def test_spec_select_uses_a_fixed_seed_per_member() -> None:
    sa23 = BM.get_benchmark("sa23")
    ids = [str(i) for i in range(300)]
    assert sa23.select(ids, "quick", "GTEA") == sa23.select(ids, "quick", "GTEA")
    assert sa23.select(ids, "quick", "GTEA") != sa23.select(ids, "quick", "DRAM")
    with pytest.raises(ValueError, match="not a member"):
        sa23.select(ids, "quick", "kitti")
