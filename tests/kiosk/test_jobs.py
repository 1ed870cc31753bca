"""kiosk.jobs: the worker pool keeps order, bounds work in flight, survives a dying worker."""
from __future__ import annotations

import os
import threading

import pytest

from kiosk import jobs


def upper_or_die(items):
    out = []
    for x in items:
        if x == "die":
            os._exit(3)            # a crash in native code looks like this to the pool
        out.append((x.upper(), os.getpid(), os.environ.get("OPENBLAS_NUM_THREADS")))
    return out


def test_inline_pool_runs_in_this_process():
    calls = []
    pool = jobs.WorkerPool(0, initializer=lambda tag: calls.append(tag), initargs=("init",))
    got = list(pool.map_chunks(upper_or_die, [["a"], ["b", "c"]]))
    assert [[r[0] for r in res] for _, res in got] == [["A"], ["B", "C"]]
    assert {r[1] for _, res in got for r in res} == {os.getpid()} and calls == ["init"]


def test_pool_keeps_order_and_survives_a_dying_worker():
    chunks = [["a", "b"], ["die", "c"], ["d"], ["e", "f"], ["g"]]
    with jobs.WorkerPool(2) as pool:
        got = list(pool.map_chunks(upper_or_die, chunks, window=3))
        assert [c for c, _ in got] == chunks
        flat = [r for _, res in got for r in res]
        assert isinstance(flat[2], jobs.WorkerCrash) and flat[2].code == "worker_crash"
        assert [r[0] for i, r in enumerate(flat) if i != 2] == ["A", "B", "C", "D", "E", "F", "G"]
        assert pool.restarts >= 1
        pids = {r[1] for i, r in enumerate(flat) if i != 2}
        assert os.getpid() not in pids
        # Workers run numerical libraries single-threaded (one worker = one core).
        assert {r[2] for i, r in enumerate(flat) if i != 2} == {os.environ.get("OPENBLAS_NUM_THREADS", "1")}


def test_worker_count_and_backend():
    assert jobs.worker_count(None) == (os.cpu_count() or 1)
    assert jobs.worker_count(0) == 0 and jobs.worker_count("3") == 3
    with pytest.raises(jobs.JobsError):
        jobs.worker_count(-1)
    assert jobs.check_backend(None) == "inprocess" == jobs.check_backend("inprocess")
    with pytest.raises(jobs.JobsError) as e:
        jobs.check_backend("rq")
    assert e.value.code == "backend" and "JOBS_BACKEND" in e.value.message
    # Celery needs its broker: refused clearly without one, accepted with one.
    with pytest.raises(jobs.JobsError) as e:
        jobs.check_backend("celery", {"CELERY_BROKER_URL": None})
    assert e.value.code == "config" and "CELERY_BROKER_URL" in e.value.message
    assert jobs.check_backend("celery", {"CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}) == "celery"


def test_runner_runs_jobs_one_at_a_time_in_the_background(app):
    r = jobs.runner(app)
    assert jobs.runner(app) is r
    gate = threading.Event()
    order = []

    def job(name):
        from flask import current_app

        assert current_app.name == app.name          # inside the app context
        if name == "first":
            gate.wait(5)
        order.append(name)
        return name

    r.submit(1, job, "first")
    r.submit(2, job, "second")
    assert r.is_active(1) and r.is_active(2)
    gate.set()
    assert r.wait(2, timeout=10) == "second" and order == ["first", "second"]
    assert not r.is_active(1) and r.wait(99) is None
