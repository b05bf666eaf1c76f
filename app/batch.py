"""Many photos on every core: the engine behind ``facedepth predict IMAGE...``.

A photo's stages run one after another (decoding, detection, the generator, the mesh, the exports), and
Open3D's Poisson solve holds Python's GIL, so threads cannot overlap them. Instead ``jobs`` worker
processes each take whole photos, with one LiteRT thread each (the caller gives them one Poisson thread
too), so while one worker meshes a photo the other decodes, detects and runs the generator on the next.
Results come back in the order of the photos, whatever order the workers finish in, so the caller prints
its lines as a one-at-a-time run would. With one job (or one photo) everything runs in the calling
process, on the caller's warm pipeline.

Each photo's outputs are all-or-nothing (:func:`facedepth.app.pipeline.save_outputs`). Workers turn
SIGTERM into KeyboardInterrupt, so when the caller stops them mid-photo, that photo's files are removed
as on Ctrl+C. A photo whose worker died (killed, out of memory) is run again in the calling process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from facedepth.app.pipeline import Pipeline
from facedepth.model import resources

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
Task = Callable[[Pipeline, Any, Any], Any]
"""(pipeline, context, item) -> result; a module-level function, so that it reaches the workers."""

MAX_DEFAULT_JOBS = 8
"""Each worker holds its own models (about 0.4 GB), so the default stops here even on larger machines."""


def default_jobs(photos: int) -> int:
    """One worker per CPU, never more than there are photos or MAX_DEFAULT_JOBS."""
    return max(1, min(os.cpu_count() or 1, photos, MAX_DEFAULT_JOBS))


def run(task: Task, items: Sequence[Item], pipeline: Pipeline, context: Any, jobs: int = 1,
        worker_context: Any = None, weights: Path | None = None,
        quality: str = resources.DEFAULT_QUALITY) -> Iterator[Result]:
    """``task(pipeline, context, item)`` for every item, results in the items' order. ``jobs`` > 1 runs
    them in that many worker processes, each with its own pipeline for ``weights`` (its ``quality``'s generator
    loaded at start) and ``worker_context`` (default ``context``); both contexts and the results must be
    picklable."""
    if jobs <= 1 or len(items) <= 1:
        for item in items:
            yield task(pipeline, context, item)
        return
    pool = ProcessPoolExecutor(min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker,
                               initargs=(task, context if worker_context is None else worker_context, weights,
                                         quality))
    finished = False
    try:
        futures = [pool.submit(_work, item) for item in items]
        for item, future in zip(items, futures, strict=True):
            try:
                yield future.result()
            except BrokenProcessPool:  # a worker died (killed, out of memory): this photo again, here
                logger.warning("a worker process stopped unexpectedly; running the photo in the main process")
                yield task(pipeline, context, item)
        finished = True
    finally:
        if not finished:  # interrupted or failed: stop the workers mid-photo (there is no public way)
            workers = list((getattr(pool, "_processes", None) or {}).values())
            for process in workers:
                process.terminate()  # SIGTERM: a busy worker removes its half-written photo, then exits
            for process in workers:
                process.join()
        pool.shutdown(wait=True, cancel_futures=True)


_worker: tuple[Task, Any, Pipeline] | None = None
_busy = False


def _start_worker(task: Task, context: Any, weights: Path | None, quality: str) -> None:
    """Pool initializer: a pipeline with one generator thread, loaded once per worker (the caller has
    checked the weights); Ctrl+C is left to the caller, SIGTERM removes a half-written photo."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    pipeline = Pipeline(weights, num_threads=1)
    pipeline.service(quality)  # load the generator now, not inside the first photo's time
    _worker = (task, context, pipeline)


def _interrupt(_signum: int, _frame: object) -> None:
    if not _busy:  # between photos: nothing to clean up
        os._exit(1)
    raise KeyboardInterrupt("stopped")


def _work(item: Any) -> Any:
    global _busy
    assert _worker is not None, "worker not initialised"
    task, context, pipeline = _worker
    _busy = True
    try:
        return task(pipeline, context, item)
    except KeyboardInterrupt:  # the photo's files are removed by now; leave without a traceback
        os._exit(1)
    finally:
        _busy = False
