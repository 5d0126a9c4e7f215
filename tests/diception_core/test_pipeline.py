"""DiceptionPipeline on the tiny preset: determinism, batching, CFG, points, prompts, inputs."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from diception_core.image_io import ImageInputError
from diception_core.pipeline import DiceptionPipeline


def _image(width: int = 40, height: int = 30, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)


def test_same_seed_gives_bit_identical_output(tiny_pipe: DiceptionPipeline) -> None:
    a = tiny_pipe(_image(), "depth", num_inference_steps=2, seed=7, decode=False)
    b = tiny_pipe(_image(), "depth", num_inference_steps=2, seed=7, decode=False)
    assert np.array_equal(a.rgb, b.rgb)


def test_different_seeds_give_different_output(tiny_pipe: DiceptionPipeline) -> None:
    a = tiny_pipe(_image(), "depth", num_inference_steps=2, seed=1, decode=False)
    b = tiny_pipe(_image(), "depth", num_inference_steps=2, seed=2, decode=False)
    assert not np.array_equal(a.rgb, b.rgb)


def test_output_has_the_input_size(tiny_pipe: DiceptionPipeline) -> None:
    out = tiny_pipe(_image(53, 29), "normal", num_inference_steps=1, decode=False)
    assert out.rgb.shape == (29, 53, 3) and out.rgb.dtype == np.float32
    assert out.rgb.min() >= 0.0 and out.rgb.max() <= 1.0


def test_batch_equals_one_by_one(tiny_pipe: DiceptionPipeline) -> None:
    images = [_image(seed=1), _image(seed=2)]
    batch = tiny_pipe(images, "depth", num_inference_steps=2, seed=3, decode=False)
    single = [tiny_pipe(img, "depth", num_inference_steps=2, seed=3, decode=False).rgb for img in images]
    for got, want in zip(batch, single, strict=True):
        np.testing.assert_allclose(got.rgb, want, atol=1e-5)


def test_point_sets_on_one_image_share_one_encode(tiny_pipe: DiceptionPipeline, monkeypatch) -> None:
    calls = {"encode": 0, "batches": []}
    original_encode = tiny_pipe.vae.encode
    original_forward = tiny_pipe.transformer.forward

    def counting_encode(x, *args, **kwargs):
        calls["encode"] += 1
        return original_encode(x, *args, **kwargs)

    def recording_forward(*args, **kwargs):
        calls["batches"].append(kwargs["hidden_states"].shape[0])
        return original_forward(*args, **kwargs)

    monkeypatch.setattr(tiny_pipe.vae, "encode", counting_encode)
    monkeypatch.setattr(tiny_pipe.transformer, "forward", recording_forward)
    sets = [[[5, 5]], [[10, 12], [20, 3]], [[39, 29]]]
    out = tiny_pipe(_image(), "point_segmentation", points=sets, num_inference_steps=2, guidance_scale=1.0,
                    decode=False)
    assert len(out) == 3 and calls["encode"] == 1
    assert calls["batches"] == [3, 3]  # one batched loop, 2 steps
    assert [p.points for p in out] == [[[5.0, 5.0]], [[10.0, 12.0], [20.0, 3.0]], [[39.0, 29.0]]]


def test_point_sets_batched_equal_separate_calls(tiny_pipe: DiceptionPipeline) -> None:
    sets = [[[5, 5]], [[30, 20], [2, 3]]]
    together = tiny_pipe(_image(), "point_segmentation", points=sets, num_inference_steps=2, decode=False)
    for prediction, point_set in zip(together, sets, strict=True):
        alone = tiny_pipe(_image(), "point_segmentation", points=point_set, num_inference_steps=2, decode=False)
        np.testing.assert_allclose(prediction.rgb, alone.rgb, atol=1e-5)


def test_points_change_the_prediction(tiny_pipe: DiceptionPipeline) -> None:
    a = tiny_pipe(_image(), "point_segmentation", points=[[5, 5]], num_inference_steps=2, decode=False)
    b = tiny_pipe(_image(), "point_segmentation", points=[[35, 25]], num_inference_steps=2, decode=False)
    # Everything else is deterministic, so ignored points would give bit-identical outputs.
    assert np.abs(a.rgb - b.rgb).mean() > 1e-6


def test_guidance_one_skips_the_unconditional_branch(tiny_pipe: DiceptionPipeline, monkeypatch) -> None:
    batches = []
    original = tiny_pipe.transformer.forward

    def recording_forward(*args, **kwargs):
        batches.append(kwargs["hidden_states"].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(tiny_pipe.transformer, "forward", recording_forward)
    tiny_pipe(_image(), "depth", num_inference_steps=1, guidance_scale=1.0, decode=False)
    tiny_pipe(_image(), "depth", num_inference_steps=1, guidance_scale=2.0, decode=False)
    assert batches == [1, 2]  # CFG runs both branches in one batched forward


def test_guidance_changes_the_output(tiny_pipe: DiceptionPipeline) -> None:
    a = tiny_pipe(_image(), "depth", num_inference_steps=2, guidance_scale=1.0, decode=False)
    b = tiny_pipe(_image(), "depth", num_inference_steps=2, guidance_scale=3.0, decode=False)
    assert np.abs(a.rgb - b.rgb).mean() > 1e-4


def test_explicit_latents_reproduce_seeded_noise(tiny_pipe: DiceptionPipeline) -> None:
    from diffusers.utils.torch_utils import randn_tensor

    res = tiny_pipe.config.resolution // 8
    noise = randn_tensor((1, 16, res, res), generator=torch.Generator("cpu").manual_seed(11), dtype=torch.float32)
    a = tiny_pipe(_image(), "depth", num_inference_steps=2, seed=11, decode=False)
    b = tiny_pipe(_image(), "depth", num_inference_steps=2, latents=noise, decode=False)
    assert np.array_equal(a.rgb, b.rgb)


def test_callback_reports_every_step(tiny_pipe: DiceptionPipeline) -> None:
    seen = []
    tiny_pipe(_image(), "depth", num_inference_steps=3, callback=lambda done, total: seen.append((done, total)),
              decode=False)
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_fixed_prompts_never_construct_a_text_encoder(fresh_tiny_pipe: DiceptionPipeline) -> None:
    for task in ("depth", "normal", "entity_segmentation", "pose"):
        fresh_tiny_pipe(_image(), task, num_inference_steps=1, decode=False)
    fresh_tiny_pipe(_image(), "semantic_segmentation", category="giraffe", num_inference_steps=1, decode=False)
    assert fresh_tiny_pipe.text_encoders.load_count == 0 and not fresh_tiny_pipe.text_encoders.loaded


def test_uncached_category_loads_text_encoders_once_and_extends_cache(fresh_tiny_pipe: DiceptionPipeline) -> None:
    fresh_tiny_pipe(_image(), "semantic_segmentation", category="zebra crossing", num_inference_steps=1, decode=False)
    fresh_tiny_pipe(_image(), "semantic_segmentation", category="lamp post", num_inference_steps=1, decode=False)
    assert fresh_tiny_pipe.text_encoders.load_count == 1
    assert "[[image2semantic]] zebra crossing" in fresh_tiny_pipe.prompt_cache


def test_cached_embedding_equals_text_encoder_output(fresh_tiny_pipe: DiceptionPipeline) -> None:
    cached, cached_pooled = fresh_tiny_pipe.prompt_cache.get("[[image2depth]]")
    fresh, fresh_pooled = fresh_tiny_pipe.text_encoders.encode(["[[image2depth]]"])
    torch.testing.assert_close(cached, fresh[0])
    torch.testing.assert_close(cached_pooled, fresh_pooled[0])


def test_extreme_aspect_ratio_warns(tiny_pipe: DiceptionPipeline) -> None:
    out = tiny_pipe(_image(120, 20), "depth", num_inference_steps=1, decode=False)
    assert out.warnings and "stretched" in out.warnings[0]


def test_settings_are_reported(tiny_pipe: DiceptionPipeline) -> None:
    out = tiny_pipe(_image(), "depth", num_inference_steps=2, guidance_scale=1.5, seed=5, decode=False)
    assert {k: out.settings[k] for k in ("steps", "guidance", "seed")} == {"steps": 2, "guidance": 1.5, "seed": 5}
    assert out.settings["model_revision"] == tiny_pipe.config.model_revision


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "depth", "num_inference_steps": 0}, "num_inference_steps"),
        ({"task": "depth", "guidance_scale": float("nan")}, "guidance_scale"),
        ({"task": "segment everything"}, "unknown task"),
        ({"task": "point_segmentation"}, "at least one point"),
        ({"task": "point_segmentation", "points": [[1, 1]] * 6}, "at most 5"),
        ({"task": "point_segmentation", "points": [[400, 1]]}, "outside"),
        ({"task": "semantic_segmentation"}, "category"),
        ({"task": "depth", "points": [[1, 1]]}, "takes no points"),
        ({"task": "depth", "category": "cat"}, "takes no category"),
        ({"task": "depth", "seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(tiny_pipe: DiceptionPipeline, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_pipe(_image(), num_inference_steps=kwargs.pop("num_inference_steps", 1), **kwargs)


def test_runs_at_the_release_resolution_768(tiny_model_dir) -> None:
    pipe = DiceptionPipeline.from_pretrained(tiny_model_dir, device="cpu")
    pipe.config = pipe.config.replace(resolution=768)
    out = pipe(_image(96, 80), "depth", num_inference_steps=1, guidance_scale=1.0, decode=False)
    assert out.rgb.shape == (80, 96, 3)


def test_corrupt_bytes_are_refused(tiny_pipe: DiceptionPipeline) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_image()).save(buffer, format="PNG")
    with pytest.raises(ImageInputError, match="corrupt or truncated"):
        tiny_pipe(buffer.getvalue()[:200], "depth", num_inference_steps=1)


@pytest.mark.parametrize(
    ("task", "kwargs", "guidance"),
    [
        ("depth", {}, 1.0), ("depth", {}, 2.0), ("normal", {}, 2.0),
        ("point_segmentation", {"points": [[10, 12]]}, 1.0), ("point_segmentation", {"points": [[10, 12]]}, 2.0),
        ("point_segmentation", {"points": [[3, 4], [30, 20], [38, 28]]}, 2.0),
    ],
)
def test_bf16_agrees_with_float32_within_the_parity_tolerance(tiny_model_dir, tiny_pipe, task, kwargs, guidance):
    """The release runs in bf16; our bf16 path (bf16 point encoding included) stays within the 0.004 mean absolute
    difference the acceptance check allows, measured here against our own float32 run on identical noise."""
    bf16 = DiceptionPipeline.from_pretrained(tiny_model_dir, device="cpu", dtype="bfloat16")
    a = tiny_pipe(_image(), task, num_inference_steps=3, guidance_scale=guidance, decode=False, **kwargs)
    b = bf16(_image(), task, num_inference_steps=3, guidance_scale=guidance, decode=False, **kwargs)
    assert np.abs(a.rgb - b.rgb).mean() <= 0.004


def test_points_in_the_last_half_pixel_are_drawn_on_the_last_pixel(tiny_pipe, tmp_path) -> None:
    from diception_core.downloads import write_prediction_files

    out = tiny_pipe(_image(40, 30), "point_segmentation", points=[[39.7, 29.6]], num_inference_steps=1)
    files = write_prediction_files(out[0], tmp_path)
    assert files["visualization"].is_file()
    edge = tiny_pipe(_image(40, 30), "point_segmentation", points=[[1.0, 1.0]], normalized=True,
                     num_inference_steps=1)
    assert write_prediction_files(edge[0], tmp_path / "edge")["mask"].is_file()


def test_bfloat16_tensor_image_is_accepted(tiny_pipe) -> None:
    out = tiny_pipe(torch.rand(3, 30, 40, generator=torch.Generator().manual_seed(0)).bfloat16(), "depth",
                    num_inference_steps=1, decode=False)
    assert out.rgb.shape == (30, 40, 3)


def test_rgb_of_differently_sized_batch_explains_itself(tiny_pipe) -> None:
    out = tiny_pipe([_image(40, 30), _image(40, 20)], "depth", num_inference_steps=1, decode=False)
    assert [p.rgb.shape for p in out] == [(30, 40, 3), (20, 40, 3)]
    with pytest.raises(ValueError, match="differ in size"):
        _ = out.rgb


def test_one_image_in_a_list_takes_a_plain_point_set(tiny_pipe) -> None:
    out = tiny_pipe([_image()], "point_segmentation", points=[[5, 5], [10, 12]], num_inference_steps=1, decode=False)
    assert len(out) == 1 and out[0].points == [[5.0, 5.0], [10.0, 12.0]]


def test_bilinear_resize_to_the_input_size_matches_a_plain_interpolate(tiny_pipe: DiceptionPipeline) -> None:
    rgb = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0)) * 1.2 - 0.1  # [3, R, R], some outside
    got = tiny_pipe.resize_output(rgb, 45, 70)
    reference = torch.nn.functional.interpolate(rgb[None], size=(45, 70), mode="bilinear", align_corners=False)[0]
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, reference.clamp(0, 1).permute(1, 2, 0).numpy())


def test_points_as_text_are_refused(tiny_pipe) -> None:
    # JSON is an edge format (the app's textbox, the CLI); the pipeline takes numbers.
    with pytest.raises(ValueError, match="not text"):
        tiny_pipe(_image(), "point_segmentation", points="[[5, 5]]", num_inference_steps=1)
    with pytest.raises(ValueError, match="not text"):
        tiny_pipe([_image()], "point_segmentation", points=["[[5, 5]]"], num_inference_steps=1)


def test_points_as_arrays_give_one_prediction_per_set(tiny_pipe) -> None:
    sets = np.array([[[5.0, 5.0]], [[30.0, 20.0]]])  # [N, K, 2]
    out = tiny_pipe(_image(), "point_segmentation", points=sets, num_inference_steps=1, decode=False)
    assert [p.points for p in out] == [[[5.0, 5.0]], [[30.0, 20.0]]]


def test_a_decoded_uint8_image_is_used_without_a_copy(tiny_pipe) -> None:
    image = _image()
    out = tiny_pipe(image, "depth", num_inference_steps=1, decode=False)
    assert out[0].image is image


def test_each_prediction_carries_its_own_input_warning(tiny_pipe) -> None:
    out = tiny_pipe([_image(120, 20), _image(40, 30)], "depth", num_inference_steps=1, decode=False)
    assert len(out[0].warnings) == 1 and out[1].warnings == [] and out.warnings == out[0].warnings


def test_preprocessing_equals_the_plain_torch_formula(tiny_pipe) -> None:
    rgb = _image(151, 97, seed=4)
    x = torch.from_numpy(rgb).permute(2, 0, 1).float().unsqueeze(0) / 255.0
    size = tiny_pipe.config.resolution
    reference = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                                align_corners=False) * 2.0 - 1.0
    assert torch.equal(tiny_pipe.preprocess([rgb]), reference)
