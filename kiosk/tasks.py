"""Celery tasks: the ``celery`` job backend (``JOBS_BACKEND = "celery"``).

Redis is the broker; no result backend (progress and results live in the database
rows, as with the in-process backend).  Web processes and ``kiosk intake`` only *send*
tasks (:func:`kiosk.jobs.start_intake`); ``kiosk worker`` (:mod:`kiosk.cli_worker`)
runs them.  Every task is

* **acknowledged late** (``acks_late``, ``reject_on_worker_lost``): a worker killed in
  the middle of a task leaves its message unacknowledged; Redis hands it to another
  worker after ``CELERY_VISIBILITY_TIMEOUT`` seconds (a worker process that dies under
  a live worker is noticed at once and its task requeued);
* **idempotent**: a chunk delivered twice skips the files already recorded and the
  unique ``(job_id, position)`` index rolls back a second recording that slips
  through; the finish locks the job row and does nothing for a job already done;
* **retried with exponential back-off** on transient errors (database or Redis
  unreachable, a shared mount hiccup) up to ``CELERY_MAX_RETRIES`` times; a chunk that
  fails for another reason records its files as ``error`` with the reason, so the job
  still ends with one outcome per file.

The worker's Flask app is created once per worker (``KIOSK_*`` environment, like the
web); each pool process drops the database connections it inherited and loads the face
models once (``worker_process_init``).
"""
from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

log = logging.getLogger(__name__)

CHECK_TASK = "kiosk.intake.check"
FINISH_TASK = "kiosk.intake.finish"
JOB_TASK = "kiosk.job.run"

#: The worker's instance (``kiosk worker`` configures it from the app's config).
celery = Celery("kiosk", set_as_current=False)
_state: dict[str, Any] = {"app": None}


def celery_settings(config) -> dict[str, Any]:
    """Celery settings from the kiosk configuration (the sender's and the worker's)."""
    url = config.get("CELERY_BROKER_URL")
    return {
        "broker_url": url,
        # Redelivery of a vanished worker's task: older than the visibility timeout, found
        # by a live worker's periodic scan (every CELERY_RESTORE_INTERVAL s, not throttled).
        "broker_transport_options": {"visibility_timeout": int(config.get("CELERY_VISIBILITY_TIMEOUT") or 3600),
                                     "unacked_restore_interval": int(config.get("CELERY_RESTORE_INTERVAL") or 60),
                                     "unacked_restore_throttle": 1},
        "broker_connection_retry_on_startup": True,
        "task_default_queue": config.get("CELERY_QUEUE") or "kiosk",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,
        "task_serializer": "json", "accept_content": ["json"],
        "worker_prefetch_multiplier": 1,          # a long chunk never holds others hostage
        # Broker connection lost: running late-ack tasks cannot be acknowledged any more and
        # are redelivered anyway; stop them (they are idempotent) rather than finish twice.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
    }


def make_sender(config) -> Celery:
    """A Celery instance for sending only (one per Flask app: tests run several)."""
    c = Celery("kiosk-sender", set_as_current=False)
    c.conf.update(celery_settings(config))
    return c


def configure_worker(app) -> Celery:
    """Bind the worker's Celery instance to ``app`` (called by ``kiosk worker``)."""
    _state["app"] = app
    celery.conf.update(celery_settings(app.config))
    return celery


def flask_app():
    if _state["app"] is None:                 # a worker started as `celery -A kiosk.tasks worker`
        from . import create_app  # noqa: PLC0415

        configure_worker(create_app())
    return _state["app"]


@signals.worker_process_init.connect
def _init_process(**_kw) -> None:
    """Each pool process: fresh database connections, face models loaded once."""
    app = _state["app"]
    if app is None:
        return
    from capture import bulk  # noqa: PLC0415

    from .db import get_db  # noqa: PLC0415

    get_db(app).engine.dispose(close=False)   # never share the parent's sockets
    bulk.init_worker(app.config.get("QC_PROFILE") or "chsi_xueli_v1")


# ---------------------------------------------------------------------- errors
def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors worth a retry: the database, Redis or the shared store unreachable for a while."""
    import kombu.exceptions  # noqa: PLC0415
    import redis.exceptions  # noqa: PLC0415
    import sqlalchemy.exc  # noqa: PLC0415

    return (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError,
            redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, kombu.exceptions.OperationalError,
            ConnectionError, TimeoutError)


def _retry(task, exc: BaseException):
    cfg = flask_app().config
    n = task.request.retries
    countdown = min(float(cfg.get("CELERY_RETRY_BACKOFF_MAX") or 60), 0.5 * 2 ** n)
    log.warning("%s: transient error (%s: %s); retry %d in %.1f s", task.name, type(exc).__name__,
                str(exc)[:200], n + 1, countdown)
    raise task.retry(exc=exc, countdown=countdown, max_retries=int(cfg.get("CELERY_MAX_RETRIES") or 8))


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]


# ---------------------------------------------------------------------- intake
@celery.task(name=CHECK_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def intake_check(self, job_id: int, chunk: list[dict], profile: str) -> str:
    """Check one chunk of an intake job and record it (see :mod:`kiosk.services.intake`)."""
    from capture import bulk  # noqa: PLC0415
    from celery.exceptions import Retry  # noqa: PLC0415
    from sqlalchemy.exc import IntegrityError  # noqa: PLC0415

    from .db import get_db  # noqa: PLC0415
    from .services import intake  # noqa: PLC0415

    app = flask_app()
    d, store = get_db(app), app.extensions["kiosk_store"]
    try:
        with d.session() as s:
            loaded = intake.load_chunk(s, store, job_id, chunk)
        if loaded is None:
            return "job not running"
        todo, items, bad = loaded
        results = bulk.check_chunk(items, profile) if items else []
        boxes = None
        for attempt in range(3):
            try:
                with d.session() as s:
                    boxes = intake.record_checked(s, store, job_id, todo, items, results, bad)
                break
            except IntegrityError:            # another delivery recorded some of them just now
                if attempt == 2:
                    raise
        if boxes:
            with d.session() as s:
                intake.encode_approved(s, store, boxes)
        with d.session() as s:
            complete = intake.all_recorded(s, job_id)
        if complete:
            self.app.send_task(FINISH_TASK, args=[job_id], queue=self.app.conf.task_default_queue)
        return f"{len(todo)} recorded"
    except Retry:
        raise
    except transient_errors() as e:
        if self.request.retries >= int(app.config.get("CELERY_MAX_RETRIES") or 8):
            log.error("intake job %s: chunk gave up after %d retries: %s", job_id, self.request.retries, _short(e))
            _give_up(d, job_id, chunk, "unavailable", f"数据库或任务队列长时间不可用（{_short(e)}），该文件未处理，请重新提交")
            raise
        _retry(self, e)
    except Exception as e:  # noqa: BLE001 - recorded per file; the trace goes to the worker's log
        log.exception("intake job %s: chunk failed", job_id)
        _give_up(d, job_id, chunk, "internal", f"处理出错（{_short(e)}），该文件未处理，请重新提交")
        return "failed"


def _give_up(d, job_id: int, chunk: list[dict], code: str, message: str) -> None:
    """Record the chunk's files as errors (if the database lets us) and finish the job
    when that was the last chunk."""
    from .services import intake  # noqa: PLC0415

    try:
        with d.session() as s:
            intake.record_failed_chunk(s, job_id, chunk, code, message)
        with d.session() as s:
            complete = intake.all_recorded(s, job_id)
        if complete:
            celery.send_task(FINISH_TASK, args=[job_id], queue=celery.conf.task_default_queue)
    except Exception:  # noqa: BLE001 - the job's heartbeat stops; it is reported interrupted
        log.exception("intake job %s: could not record the failed chunk", job_id)


@celery.task(name=FINISH_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def intake_finish(self, job_id: int) -> str:
    """Post phase (encodings still missing, identity and duplicate checks) and report."""
    from celery.exceptions import Retry  # noqa: PLC0415

    from .db import get_db  # noqa: PLC0415
    from .models import IntakeJob  # noqa: PLC0415
    from .services import intake  # noqa: PLC0415

    app = flask_app()
    d, store = get_db(app), app.extensions["kiosk_store"]
    try:
        with d.session() as s:
            job = intake.finish_distributed(s, store, job_id)
        return "done" if job is not None else "nothing to do"
    except Retry:
        raise
    except transient_errors() as e:
        _retry(self, e)
    except Exception as e:  # noqa: BLE001
        log.exception("intake job %s: finish failed", job_id)
        try:
            with d.session() as s:
                job = s.get(IntakeJob, job_id)
                if job is not None and job.status == "running":
                    intake.fail_job(s, job, "internal", f"生成报告时出错（{_short(e)}）；已处理的文件都已保存")
        except Exception:  # noqa: BLE001
            log.exception("intake job %s: could not mark it failed", job_id)
        return "failed"


# ---------------------------------------------------------------------- other long jobs
@celery.task(name=JOB_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self, key: str) -> str | None:
    """A :class:`~kiosk.models.BackgroundJob` (upload-batch build, …) via
    :func:`kiosk.jobs.run_job_row`, retried on transient errors."""
    from celery.exceptions import Retry  # noqa: PLC0415

    from . import jobs  # noqa: PLC0415

    app = flask_app()
    try:
        return jobs.run_job_row(app, key, reraise=transient_errors())
    except Retry:
        raise
    except transient_errors() as e:
        _retry(self, e)
