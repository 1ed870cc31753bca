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
``JOBS_BACKEND``: ``"inprocess"`` (default, one machine) or ``"celery"`` (Redis broker,
``kiosk worker`` processes on any number of machines; :mod:`kiosk.tasks`).

**The job API** (the code above it — the web, ``kiosk intake``, benches — does not know
which backend runs):

* :func:`start_intake` — start an intake job and return at once (the web upload);
* :func:`run_intake` — run it here and return the finished job (``kiosk intake``);
* :func:`is_active` / :func:`wait_job` — follow a job; its progress is in its row.

In-process, the runner thread does the whole job with its worker pool.  With Celery the
submitter only scans (every file to check goes into the shared photo store) and queues
check chunks; workers check and record them, and the worker that records the last file
queues the finish.  A broker that cannot be reached marks the job failed with the
reason (:class:`JobsError` ``broker``).
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

BACKENDS = ("inprocess", "celery")


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


def check_backend(name: str | None, config=None) -> str:
    """The backend's name, checked (``config``: also what it needs to run)."""
    name = name or "inprocess"
    if name not in BACKENDS:
        raise JobsError("backend", f"后台任务方式 JOBS_BACKEND={name!r} 不支持（可用：{', '.join(BACKENDS)}）")
    if name == "celery" and config is not None and not config.get("CELERY_BROKER_URL"):
        raise JobsError("config", "JOBS_BACKEND=celery 需要设置 CELERY_BROKER_URL（如 redis://host:6379/0）")
    return name


def backend(app) -> str:
    return check_backend(app.config.get("JOBS_BACKEND"), app.config)


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


def runner(app, name: str = "kiosk_jobs") -> Runner:
    """The app's job runner (created on first use).  Intake jobs share the default one;
    other jobs (batch builds …) have their own, so they never wait behind an intake."""
    r = app.extensions.get(name)
    if r is None:
        r = app.extensions.setdefault(name, Runner(app))
    return r


# ---------------------------------------------------------------------- the job API
def is_active(app, key: Any) -> bool:
    """True while job ``key`` may still be making progress although its heartbeat is
    old: this process still works on it (in-process: the whole job; Celery: the scan),
    or — Celery — tasks wait in the queue or are being worked on (a job's chunks can
    wait behind another school's big archive for longer than the stale limit).
    Otherwise the job row's heartbeat tells (``intake.is_stale``)."""
    if runner(app).is_active(key):
        return True
    return app.config.get("JOBS_BACKEND") == "celery" and queue_busy(app)


def queue_busy(app) -> bool:
    """Celery: messages wait in the queue or are unacknowledged (being worked on).
    ``False`` when Redis cannot be reached (jobs then go stale, as they should)."""
    try:
        import redis  # noqa: PLC0415

        r = redis.Redis.from_url(app.config["CELERY_BROKER_URL"], socket_timeout=1, socket_connect_timeout=1)
        try:
            queue = app.config.get("CELERY_QUEUE") or "kiosk"
            return bool(r.llen(queue) or r.hlen("unacked"))
        finally:
            r.close()
    except Exception:  # noqa: BLE001 - no broker: no evidence of progress
        return False


def sender(app):
    """The app's Celery instance for sending tasks (created on first use)."""
    c = app.extensions.get("kiosk_celery")
    if c is None:
        from .tasks import make_sender  # noqa: PLC0415

        c = app.extensions.setdefault("kiosk_celery", make_sender(app.config))
    return c


def _send_intake(app, job_id: int, chunks: list[list[dict]], profile: str) -> None:
    """Queue the check chunks (or, with nothing to check, the finish) of a job."""
    from .tasks import CHECK_TASK, FINISH_TASK  # noqa: PLC0415

    c = sender(app)
    queue = app.config.get("CELERY_QUEUE") or "kiosk"
    policy = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}
    with c.connection_for_write() as conn:
        conn.ensure_connection(max_retries=3, interval_start=0.2, interval_step=0.5, interval_max=1.0)
        for ch in chunks:
            c.send_task(CHECK_TASK, args=[job_id, ch, profile], queue=queue, connection=conn, retry=True,
                        retry_policy=policy)
        if not chunks:
            c.send_task(FINISH_TASK, args=[job_id], queue=queue, connection=conn, retry=True, retry_policy=policy)


def run_intake(app, session, job, source, *, manifest=None, workers: int | None = None, on_progress=None,
               wait: bool = True, poll: float = 0.5):
    """Run intake job ``job`` (a queued :class:`~kiosk.models.IntakeJob`, committed) on
    ``source`` with the configured backend; return the job row.

    In-process: the whole job runs here (``workers`` processes, default ``JOBS_WORKERS``).
    Celery: the scan runs here, the chunks go to the workers, and with ``wait`` this
    returns when the job is ``done`` or ``failed`` (``on_progress`` is called as its row
    changes).  Raises :class:`kiosk.services.intake.IntakeError` when the archive cannot
    be read and :class:`JobsError` (``broker``) when the broker cannot be reached — the
    job is marked failed with the reason either way.
    """
    from .models import IntakeJob  # noqa: PLC0415
    from .services import intake  # noqa: PLC0415

    be = backend(app)
    store = app.extensions["kiosk_store"]
    profile = app.config.get("QC_PROFILE") or "chsi_xueli_v1"
    if be == "inprocess":
        n = worker_count(app.config.get("JOBS_WORKERS") if workers is None else workers)
        return intake.run_job(session, store, job, source, manifest=manifest, workers=n, profile=profile,
                              commit=session.commit, on_progress=on_progress)

    def broker_failed(e: Exception, scanned: bool):
        log.error("intake job %s: broker unreachable: %s", job.id, e)
        session.rollback()
        j = session.get(IntakeJob, job.id)
        msg = (f"无法连接任务队列（Redis，{type(e).__name__}）：" +
               ("文件已读取并保存，但检查任务未能排队；请确认 Redis 正在运行后重新提交（已导入的照片会被识别并跳过）"
                if scanned else "任务未开始；请确认 Redis 正在运行后重新提交"))
        intake.fail_job(session, j, "broker", msg)
        session.commit()
        return JobsError("broker", msg)

    try:                                        # before the scan: a missing broker fails the job untouched
        with sender(app).connection_for_write() as conn:
            conn.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.3, interval_max=0.5)
    except Exception as e:  # noqa: BLE001 - kombu/redis raise several kinds; all mean "no broker"
        raise broker_failed(e, False) from None
    chunks = intake.start_distributed(session, store, job, source, manifest=manifest, commit=session.commit,
                                      on_progress=on_progress,
                                      chunk_size=int(app.config.get("CELERY_CHUNK_SIZE") or 8))
    try:
        _send_intake(app, job.id, chunks, profile)
    except Exception as e:  # noqa: BLE001
        raise broker_failed(e, True) from None
    if not wait:
        return job
    return wait_job(app, session, job.id, on_progress=on_progress, poll=poll)


def wait_job(app, session, job_id: int, *, on_progress=None, poll: float = 0.5, timeout: float | None = None):
    """Poll job ``job_id``'s row until it is ``done`` or ``failed`` (``None`` on timeout)."""
    import time  # noqa: PLC0415

    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from .models import IntakeJob  # noqa: PLC0415

    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        try:
            session.rollback()                  # a fresh snapshot (SQLite) every poll
            job = session.get(IntakeJob, job_id, populate_existing=True)
        except DBAPIError as e:                 # the database restarts: the workers retry, so do we
            if deadline is not None and time.monotonic() > deadline:
                raise
            log.warning("job %s: database unreachable while waiting (%s); retrying", job_id, type(e).__name__)
            time.sleep(max(poll, 1.0))
            continue
        seen = (job.status, job.phase, job.processed, job.post_done)
        if on_progress is not None and seen != last:
            on_progress(job)
        last = seen
        if job.status in ("done", "failed"):
            return job
        if deadline is not None and time.monotonic() > deadline:
            return None
        time.sleep(poll)


def start_intake(app, job_id: int, source, manifest=None, *, workers: int | None = None,
                 delete_source: bool = False) -> None:
    """Start intake job ``job_id`` in the background and return at once (the web upload).
    Failures are recorded on the job row; ``delete_source`` removes the upload after
    the scan (every photo's bytes are in the store by then)."""
    backend(app)
    runner(app).submit(job_id, _intake_background, app, job_id, str(source), manifest, workers, delete_source)


def _intake_background(app, job_id: int, source: str, manifest, workers, delete_source: bool) -> None:
    from pathlib import Path  # noqa: PLC0415

    from .db import get_db  # noqa: PLC0415
    from .models import IntakeJob  # noqa: PLC0415
    from .services import intake  # noqa: PLC0415

    s = get_db(app).sessionmaker()
    try:
        job = s.get(IntakeJob, job_id)
        run_intake(app, s, job, source, manifest=manifest, workers=workers, wait=False)
    except (intake.IntakeError, JobsError):
        pass                                    # recorded on the job
    except Exception:  # noqa: BLE001 - recorded on the job; the trace goes to the log
        log.exception("intake job %s failed", job_id)
        s.rollback()
        job = s.get(IntakeJob, job_id)
        if job is not None and job.status not in ("done", "failed"):
            intake.fail_job(s, job, "internal", "服务器内部错误，任务中止；已处理的文件已保存")
            s.commit()
    finally:
        s.close()
        if delete_source:
            Path(source).unlink(missing_ok=True)


# ---------------------------------------------------------------------- other long jobs
#: Job kinds → ``"module:function"``; the function is ``fn(app, session, params, progress)
#: -> result dict`` (``progress(done, total)``), commits its own work through
#: ``session`` or leaves it for the runner's commit, and raises :class:`JobFailed` for
#: an expected failure.  Looked up by name so a Celery worker imports only what it runs.
JOB_KINDS: dict[str, str] = {
    "batch_build": "kiosk.web.batches:build_job",
    "reference_import": "kiosk.web.identity:references_job",
    "confirm_list": "kiosk.web.coverage:confirm_list_job",
}


class JobFailed(Exception):
    """An expected failure of a job (bad options, nothing to do …): ``result`` is kept."""

    def __init__(self, code: str, message: str, result: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.result = dict(result or {})


def _job_fn(kind: str) -> Callable:
    import importlib  # noqa: PLC0415

    mod, _, name = JOB_KINDS[kind].partition(":")
    return getattr(importlib.import_module(mod), name)


def submit_job(app, session, kind: str, params: dict, *, actor=None):
    """Record a job of ``kind`` (committed) and start it with the configured backend;
    returns its :class:`~kiosk.models.BackgroundJob` row (``row.key`` is its public id).
    Raises :class:`JobsError` ``broker`` when Celery's broker cannot be reached (the row
    is then failed with that reason)."""
    import uuid  # noqa: PLC0415

    from .models import BackgroundJob, utcnow  # noqa: PLC0415

    if kind not in JOB_KINDS:
        raise JobsError("kind", f"未知的任务类型：{kind}")
    be = backend(app)
    row = BackgroundJob(key=uuid.uuid4().hex[:16], kind=kind, status="queued", params=dict(params), result={},
                        done=0, total=0, attempts=0, created_by_id=getattr(actor, "id", None))
    session.add(row)
    session.commit()
    if be == "inprocess":
        runner(app, "kiosk_bg_jobs").submit(row.key, run_job_row, app, row.key)
        return row
    from .tasks import JOB_TASK  # noqa: PLC0415

    c = sender(app)
    try:
        with c.connection_for_write() as conn:
            conn.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.3, interval_max=0.5)
            c.send_task(JOB_TASK, args=[row.key], queue=app.config.get("CELERY_QUEUE") or "kiosk", connection=conn,
                        retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3,
                                                  "interval_max": 0.5})
    except Exception as e:  # noqa: BLE001 - kombu/redis raise several kinds; all mean "no broker"
        msg = f"无法连接任务队列（Redis，{type(e).__name__}）：任务未开始；请确认 Redis 正在运行后重试"
        row.status, row.error_code, row.error, row.finished_at = "failed", "broker", msg, utcnow()
        session.commit()
        raise JobsError("broker", msg) from None
    return row


def call_job(app, session, kind: str, params: dict, *, actor=None, timeout: float = 3600, poll: float = 0.3):
    """Run a job of ``kind`` and wait for it (a page that shows the result at once, such
    as a reference import): in-process it runs in this thread; with Celery a worker runs
    it — the web process only waits, its CPU stays free.  Returns the finished
    :class:`~kiosk.models.BackgroundJob` row.  Raises :class:`JobsError` ``broker`` (no
    broker) or ``timeout``."""
    import time  # noqa: PLC0415

    from .models import BackgroundJob  # noqa: PLC0415

    if backend(app) == "inprocess":
        import uuid  # noqa: PLC0415

        row = BackgroundJob(key=uuid.uuid4().hex[:16], kind=kind, status="queued", params=dict(params), result={},
                            done=0, total=0, attempts=0, created_by_id=getattr(actor, "id", None))
        session.add(row)
        session.commit()
        run_job_row(app, row.key)
    else:
        row = submit_job(app, session, kind, params, actor=actor)
    deadline = time.monotonic() + timeout
    key = row.key
    while True:
        session.rollback()
        row = session.scalar(select_job(key))
        if row.status in ("done", "failed"):
            return row
        if time.monotonic() > deadline:
            raise JobsError("timeout", f"任务 {key} 超过 {timeout:.0f} 秒仍未完成（后台仍在处理，可稍后查看）")
        time.sleep(poll)


def select_job(key: str):
    from sqlalchemy import select  # noqa: PLC0415

    from .models import BackgroundJob  # noqa: PLC0415

    return select(BackgroundJob).where(BackgroundJob.key == key).execution_options(populate_existing=True)


def job_status(session, key: str) -> dict | None:
    """A job's state for pollers: ``state`` running|done|error, ``done``/``total``, the
    result's fields, and ``code``/``message`` when it failed.  ``None``: no such job."""
    from sqlalchemy import select  # noqa: PLC0415

    from .models import BackgroundJob  # noqa: PLC0415

    row = session.scalar(select(BackgroundJob).where(BackgroundJob.key == key))
    if row is None:
        return None
    out = {"state": {"done": "done", "failed": "error"}.get(row.status, "running"), "status": row.status,
           "kind": row.kind, "done": row.done, "total": row.total, **(row.result or {})}
    if row.status == "failed":
        out.update(code=row.error_code, message=row.error)
    return out


def active_jobs(session, kind: str) -> int:
    """Jobs of ``kind`` queued or running whose heartbeat is recent (any process)."""
    import datetime as dt  # noqa: PLC0415

    from sqlalchemy import func, or_, select  # noqa: PLC0415

    from .models import BackgroundJob, utcnow  # noqa: PLC0415

    recent = utcnow() - dt.timedelta(minutes=10)
    return session.scalar(select(func.count()).select_from(BackgroundJob).where(
        BackgroundJob.kind == kind, BackgroundJob.status.in_(("queued", "running")),
        or_(BackgroundJob.heartbeat_at >= recent, BackgroundJob.created_at >= recent))) or 0


def run_job_row(app, key: str, *, reraise: tuple[type[BaseException], ...] = ()) -> str | None:
    """Run the job ``key`` here (the in-process runner or a Celery task); idempotent:
    a job already done or failed is left alone, one delivered again after its worker
    died runs again.  Errors in ``reraise`` (transient ones, under Celery) propagate
    for a retry after the row is put back to ``queued``; any other error fails the job
    with the reason.  Returns the final status."""
    from sqlalchemy import select, update  # noqa: PLC0415

    from .db import get_db  # noqa: PLC0415
    from .models import BackgroundJob, utcnow  # noqa: PLC0415

    d = get_db(app)
    with d.session() as s:
        row = s.scalar(select(BackgroundJob).where(BackgroundJob.key == key).with_for_update())
        if row is None or row.status in ("done", "failed"):
            return None if row is None else row.status
        row.status, row.attempts = "running", row.attempts + 1
        row.started_at = row.heartbeat_at = utcnow()
        kind, params = row.kind, dict(row.params or {})

    def progress(done: int, total: int) -> None:
        with d.session() as ps:
            ps.execute(update(BackgroundJob).where(BackgroundJob.key == key).values(
                done=done, total=total, heartbeat_at=utcnow()))

    def finish(**values) -> None:
        with d.session() as fs:
            fs.execute(update(BackgroundJob).where(BackgroundJob.key == key).values(
                finished_at=utcnow(), heartbeat_at=utcnow(), **values))

    s = d.sessionmaker()
    try:
        result = _job_fn(kind)(app, s, params, progress) or {}
        s.commit()
        finish(status="done", result=result)
        return "done"
    except JobFailed as e:
        s.rollback()
        finish(status="failed", error_code=e.code, error=e.message, result=e.result)
        return "failed"
    except reraise:
        s.rollback()
        try:
            with d.session() as rs:
                rs.execute(update(BackgroundJob).where(BackgroundJob.key == key).values(status="queued"))
        except Exception:  # noqa: BLE001 - the database is what failed; the retry sets it again
            pass
        raise
    except Exception as e:  # noqa: BLE001 - the job records its failure; the trace goes to the log
        log.exception("background job %s (%s) failed", key, kind)
        s.rollback()
        finish(status="failed", error_code="internal", error=f"服务器内部错误（{type(e).__name__}），任务未完成")
        return "failed"
    finally:
        s.close()
