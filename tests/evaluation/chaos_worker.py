"""A worker process for the chaos test: the real ``evaluation.worker.Worker`` loop and the real SQLite store, with a
stub scorer (sleeps, then returns a valid result, refuses the submission or fails as the host).

    python -m tests.evaluation.chaos_worker DATABASE_URL WORKER_ID STOP_FILE SEED SECONDS [GO_FILE]

Settings (lease, attempts) come from the environment, as for ``python -m evaluation.worker``. Prints ``ready`` once
imported; with GO_FILE it then waits for that file (a warm spare that replaces a killed worker at once). Scoring a
job takes up to SECONDS. Runs until STOP_FILE exists.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path


def main(url: str, worker_id: str, stop_file: str, seed: int, seconds: float, go_file: str | None) -> None:
    from diception_spec.errors import Refused
    from evaluation.worker import Worker
    from leaderboard.store import ClaimedJob, Store
    from tests.leaderboard import make_result

    rng = random.Random(seed)

    class ChaosWorker(Worker):
        def score(self, job: ClaimedJob) -> dict:
            time.sleep(rng.uniform(seconds / 3, seconds))
            roll = rng.random()
            if roll < 0.1:
                raise Refused(f"chaos: submission {job.submission_id} is refused")
            if roll < 0.2:
                raise RuntimeError("chaos: the host failed")
            return make_result(float(job.submission_id))

    print("ready", flush=True)
    while go_file is not None and not Path(go_file).exists() and not Path(stop_file).exists():
        time.sleep(0.01)
    store = Store(url, seed=False)
    worker = ChaosWorker(store, worker_id=worker_id, cache_dir=Path(stop_file).parent / f"cache-{worker_id}",
                         poll_seconds=0.02)  # fmt: skip
    while not Path(stop_file).exists():
        if not worker.run_once():
            time.sleep(0.02)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]),
         sys.argv[6] if len(sys.argv) > 6 else None)
