"""Request batching in the serving layer: concurrent requests of one task and settings share one model run, and
each user gets what an unbatched run gives (their own seed); typed jobs."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from diception_app import serving
from diception_app.settings import AppSettings
from diception_spec.tasks import Task


@pytest.fixture()
def server(tiny_pipe, monkeypatch):
    srv = serving.ModelServer(AppSettings(model="tiny", max_batch_size=4), loader=lambda _settings: tiny_pipe)
    srv.start(background=False)
    monkeypatch.setattr(serving, "_SERVER", srv)
    return srv


def _image(seed: int, width: int = 40, height: int = 30) -> np.ndarray:
    return (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)


def _wait_until(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.005)


def _concurrently(server, calls: list[tuple]) -> list:
    """Run ``serving.run_jobs(*call)`` for each call in its own thread while the model is busy, so that all of
    them queue and run as one batch; returns their results in order."""
    results: list = [None] * len(calls)

    def work(index: int, call: tuple) -> None:
        results[index] = serving.run_jobs(*call)

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(calls)]
    with server.run_lock:  # the "previous" model run: everyone queues behind it
        blocker = threading.Thread(target=serving.run_jobs, args=([serving.Job(Task.DEPTH, _image(99))], 1, 1.0,
                                                                    0, None, 1.0))
        blocker.start()
        _wait_until(lambda: server.batcher._busy)
        for thread in threads:
            thread.start()
        _wait_until(lambda: len(server.batcher._queue) == len(calls))
    blocker.join()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_requests_share_one_run_and_equal_unbatched_runs(server) -> None:
    calls = [([serving.Job(Task.POINT_SEGMENTATION, _image(i, 40 + 8 * i), [[5 + i, 6]])], 2, 2.0, 100 + i, None,
              1.0) for i in range(3)]
    batched = _concurrently(server, calls)
    assert server.batcher.batch_sizes[-1] == 3  # one model run served the three requests
    for call, (output,) in zip(calls, batched, strict=True):
        (alone,) = serving.run_jobs(*call)
        assert server.batcher.batch_sizes[-1] == 1
        assert output.settings["seed"] == call[3] and output.settings == alone.settings
        assert output[0].points == alone[0].points and output[0].image is call[0][0].image
        np.testing.assert_allclose(output[0].model_rgb.numpy(), alone[0].model_rgb.numpy(), atol=1e-5)
        assert np.count_nonzero(output[0].mask != alone[0].mask) <= 0.001 * output[0].mask.size


def test_requests_with_other_settings_are_not_batched_together(server) -> None:
    image = _image(0)
    calls = [([serving.Job(Task.DEPTH, image)], 1, 1.0, 0, None, 1.0),
             ([serving.Job(Task.DEPTH, image)], 2, 1.0, 0, None, 1.0),  # other steps
             ([serving.Job(Task.NORMAL, image)], 1, 1.0, 0, None, 1.0),  # other task
             ([serving.Job(Task.DEPTH, image)], 1, 1.0, 5, None, 1.0)]  # another seed: batched with the first
    outputs = _concurrently(server, calls)
    assert sorted(server.batcher.batch_sizes[-3:]) == [1, 1, 2]
    assert [o[0].settings["steps"] for o in outputs] == [1, 2, 1, 1]
    assert outputs[2][0][0].encoding.value == "normal" and outputs[3][0].settings["seed"] == 5


def test_a_batch_is_bounded_by_max_batch_size(server) -> None:
    calls = [([serving.Job(Task.DEPTH, _image(i))], 1, 1.0, i, None, 1.0) for i in range(6)]
    outputs = _concurrently(server, calls)
    assert server.batcher.batch_sizes[-2:] == [4, 2]
    assert [o[0].settings["seed"] for o in outputs] == list(range(6))


def test_warnings_stay_with_their_request(server) -> None:
    calls = [([serving.Job(Task.DEPTH, _image(0, 120, 20))], 1, 1.0, 0, None, 1.0),
             ([serving.Job(Task.DEPTH, _image(1, 40, 30))], 1, 1.0, 0, None, 1.0)]
    wide, square = _concurrently(server, calls)
    assert len(wide[0].warnings) == 1 and square[0].warnings == []


def test_one_failing_request_does_not_fail_the_others() -> None:
    batcher = serving.RequestBatcher(max_batch_size=8)

    def execute(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("13 is refused")
        return [i * 2 for i in items]

    assert batcher.submit("k", 21, execute) == 42
    results: dict[int, object] = {}

    def work(item: int) -> None:
        try:
            results[item] = batcher.submit("k", item, execute)
        except ValueError as err:
            results[item] = err

    gate = threading.Event()
    blocker = threading.Thread(target=batcher.submit, args=("other", 0, lambda items: [gate.wait()] * len(items)))
    blocker.start()
    _wait_until(lambda: batcher._busy)
    threads = [threading.Thread(target=work, args=(i,)) for i in (1, 13, 3)]
    for thread in threads:
        thread.start()
    _wait_until(lambda: len(batcher._queue) == 3)
    gate.set()
    for thread in [blocker, *threads]:
        thread.join()
    assert results[1] == 2 and results[3] == 6 and isinstance(results[13], ValueError)
    assert batcher.batch_sizes[-1] == 3  # tried together first, then one by one


def test_jobs_are_typed() -> None:
    with pytest.raises(TypeError, match="task"):
        serving.Job("depth", np.zeros((4, 4, 3), np.uint8))
    job = serving.Job(serving.AdapterOwnTask("highlight"), np.zeros((4, 4, 3), np.uint8))
    assert job.name == "highlight" and serving.Job(Task.POSE, job.image).name == "pose"
