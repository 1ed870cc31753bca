"""Background jobs: a worker pool for the CPU part, an in-process runner for the rest.

Two small pieces any long job can use (bulk intake is the first):

* :class:`WorkerPool` — a :class:`concurrent.futures.ProcessPoolExecutor` whose workers
  are *spawned* (never forked from a Flask process holding threads and database
  connections), run numerical libraries single-threaded (one worker = one core) and
  set themselves up once (``initializer``: face models, profile).
  :meth:`WorkerPool.map_chunks` feeds it a stream of chunks with a bounded number in
  flight (memory stays flat for 10 000 files) and yields results **in submission
  order**, so the caller can write them to the database as they come.  A worker that
  dies (a crash in native code) breaks a process pool; the pool is rebuilt, the chunk
  that was at the head is retried one item at a time, and an item that kills a worker
  twice comes back as :class:`WorkerCrash` — the rest of the job goes on.
  ``workers=0`` runs everything inline in the calling thread (tests, tiny jobs).
* :class:`Runner` — runs job functions one after another in a background thread of
  this process, each inside an app context.  Progress and state live in the job's
  database row (the job writes them), so a page reload or another process sees them;
  the runner itself keeps nothing that matters.

Configuration: ``JOBS_WORKERS`` (``None`` → CPU count, ``0`` → inline) and
``JOBS_BACKEND`` (``"inprocess"``; ``"celery"`` is reserved and refused clearly until a
Celery worker is wired up).
"""
from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import threading
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

log = logging.getLogger(__name__)

BACKENDS = ("inprocess",)


class JobsError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class WorkerCrash:
    """Result for an item whose processing killed its worker process (twice)."""

    code: str = "worker_crash"
    message_zh: str = "处理该文件时工作进程异常退出"
    message_en: str = "the worker process died while processing this file"


def worker_count(config_value: Any) -> int:
    """``JOBS_WORKERS`` → a worker count (``None``/empty → CPUs; ``0`` → inline)."""
    if config_value in (None, ""):
        return max(1, os.cpu_count() or 1)
    n = int(config_value)
    if n < 0:
        raise JobsError("config", f"JOBS_WORKERS 不能为负数：{n}")
    return n


def check_backend(name: str | None) -> None:
    if (name or "inprocess") not in BACKENDS:
        raise JobsError("backend", f"后台任务方式 JOBS_BACKEND={name!r} 暂不支持（可用：{', '.join(BACKENDS)}）")


def _single_threaded_env() -> None:
    """Children inherit the environment at spawn: keep BLAS/OpenMP to one thread each.
    ``setdefault``: an operator's explicit setting wins."""
    from capture.bulk import SINGLE_THREAD_ENV  # noqa: PLC0415

    for k, v in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(k, v)


class WorkerPool:
    """A process pool for ``fn(list_of_items) -> list_of_results`` functions.

    Parameters
    ----------
    workers : int
        Processes (0: run inline).
    initializer, initargs :
        Called once in each worker process (and once in the calling process when inline).
    """

    def __init__(self, workers: int, initializer: Callable | None = None, initargs: Sequence = ()):
        self.workers = int(workers)
        self.initializer = initializer
        self.initargs = tuple(initargs)
        self._pool: ProcessPoolExecutor | None = None
        self._inline_ready = False
        self._generation = 0
        self.restarts = 0

    # ------------------------------------------------------------------ lifecycle
    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            _single_threaded_env()
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=self.initializer, initargs=self.initargs)
        return self._pool

    def _reset(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._generation += 1
        self.restarts += 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def warm_up(self) -> None:
        """Start the workers now (so their set-up is not timed as the first chunk's work)."""
        if self.workers == 0:
            self._inline_init()
            return
        ex = self._executor()
        for f in [ex.submit(_noop) for _ in range(self.workers)]:
            f.result()

    def _inline_init(self) -> None:
        if not self._inline_ready and self.initializer is not None:
            self.initializer(*self.initargs)
        self._inline_ready = True

    # ------------------------------------------------------------------ work
    def map_chunks(self, fn: Callable[[list], list], chunks: Iterable[list], *,
                   window: int | None = None) -> Iterator[tuple[list, list]]:
        """Yield ``(chunk, results)`` in submission order; ``results[i]`` belongs to
        ``chunk[i]`` (a :class:`WorkerCrash` for an item that killed its worker).

        At most ``window`` chunks are in flight (default ``2 × workers + 1``).
        """
        if self.workers == 0:
            self._inline_init()
            for chunk in chunks:
                yield chunk, fn(chunk)
            return
        window = window or 2 * self.workers + 1
        pending: collections.deque[tuple[list, Future, int]] = collections.deque()
        it = iter(chunks)

        def submit(chunk: list) -> tuple[list, Future, int]:
            try:
                fut = self._executor().submit(fn, chunk)
            except BrokenProcessPool:       # broke since the last look: start a new one
                self._reset()
                fut = self._executor().submit(fn, chunk)
            return chunk, fut, self._generation

        def refill() -> None:
            while len(pending) < window:
                nxt = next(it, None)
                if nxt is None:
                    return
                pending.append(submit(nxt))

        refill()
        while pending:
            chunk, fut, gen = pending.popleft()
            try:
                results = fut.result()
            except (BrokenProcessPool, CancelledError):
                log.warning("worker pool broke; retrying %d item(s) one by one", len(chunk))
                if gen == self._generation:
                    self._reset()
                results = self._retry_singly(fn, chunk)
                # Whatever was in flight on a pool that is gone goes again, in order.
                again = [submit(c) if g != self._generation else (c, f, g) for c, f, g in pending]
                pending.clear()
                pending.extend(again)
            yield chunk, results
            refill()

    def _retry_singly(self, fn: Callable[[list], list], chunk: list) -> list:
        out = []
        for item in chunk:
            try:
                out.extend(self._executor().submit(fn, [item]).result())
            except BrokenProcessPool:
                self._reset()
                out.append(WorkerCrash())
        return out


def _noop() -> None:
    return None


# ---------------------------------------------------------------------- runner
class Runner:
    """Runs submitted job functions one at a time in a background thread.

    One at a time on purpose: each job already uses every core through its worker
    pool, so a second job would only make both slower.  Jobs submitted meanwhile wait
    (their rows say ``queued``).
    """

    def __init__(self, app=None):
        self.app = app
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-job")
        self._lock = threading.Lock()
        self.futures: dict[Any, Future] = {}

    def submit(self, key: Any, fn: Callable, *args, **kwargs) -> Future:
        def run():
            try:
                if self.app is not None:
                    with self.app.app_context():
                        return fn(*args, **kwargs)
                return fn(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the job records its own failure; log the trace
                log.exception("background job %r failed", key)
                raise

        fut = self._executor.submit(run)
        with self._lock:
            self.futures[key] = fut
            for k in [k for k, f in self.futures.items() if f.done()][:-100]:
                del self.futures[k]
        return fut

    def is_active(self, key: Any) -> bool:
        """True while the job ``key`` is queued or running in this process."""
        with self._lock:
            f = self.futures.get(key)
        return f is not None and not f.done()

    def wait(self, key: Any, timeout: float | None = None) -> Any:
        with self._lock:
            f = self.futures.get(key)
        return None if f is None else f.result(timeout)


def runner(app) -> Runner:
    """The app's job runner (created on first use)."""
    r = app.extensions.get("kiosk_jobs")
    if r is None:
        r = app.extensions.setdefault("kiosk_jobs", Runner(app))
    return r
