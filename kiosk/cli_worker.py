"""``kiosk worker`` (a Celery worker) and several web processes for ``kiosk serve --workers N``.

Registered on the main ``kiosk`` group by :func:`register`.

``kiosk worker`` runs the Celery worker of :mod:`kiosk.tasks` with ``--concurrency``
pool processes (default ``JOBS_WORKERS``, else one per CPU core); each process loads the
QC profile and the face models once.  It reads the same configuration as the web
(``KIOSK_DATABASE_URL``, ``KIOSK_PHOTO_STORE``, ``KIOSK_CELERY_BROKER_URL`` …).

Several web processes: waitress serves from one process (threads), so
``kiosk serve --workers N`` starts N ``kiosk serve-process`` children, each with its
own listening socket on the same address bound with ``SO_REUSEPORT`` — the Linux
kernel spreads the incoming connections over them.  Chosen over gunicorn: no new
dependency, the same waitress every set-up already uses (one code path for one
machine and many), and a child that dies is restarted by the parent.
"""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import click

from .cli import _app, _fail


@click.command("worker")
@click.option("--concurrency", "-c", type=int, default=None,
              help="Worker processes (default: JOBS_WORKERS, else one per CPU core).")
@click.option("--queue", "-Q", default=None, help="Queue to consume (default: CELERY_QUEUE, 'kiosk').")
@click.option("--hostname", "-n", default=None, help="Worker name (default: celery@<host>).")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
def worker_command(concurrency: int | None, queue: str | None, hostname: str | None, loglevel: str) -> None:
    """Run a Celery worker for the background jobs (JOBS_BACKEND=celery)."""
    from . import jobs, tasks  # noqa: PLC0415
    from .db import get_db  # noqa: PLC0415

    app = _app()
    if not app.config.get("CELERY_BROKER_URL"):
        _fail("config", "未设置 CELERY_BROKER_URL（如 KIOSK_CELERY_BROKER_URL=redis://host:6379/0）")
    try:
        n = concurrency if concurrency is not None else jobs.worker_count(app.config.get("JOBS_WORKERS"))
    except (jobs.JobsError, ValueError) as e:
        _fail("config", getattr(e, "message", str(e)))
    if n < 1:
        _fail("config", f"--concurrency 至少为 1：{n}")
    d = get_db(app)
    try:
        if d.current_revision() != d.head_revision():
            _fail("schema", "数据库结构不是最新，请先运行 `kiosk init-db`")
    except Exception as e:  # noqa: BLE001 - unreachable database: say so, exit 2
        _fail("database", f"无法连接数据库：{type(e).__name__}: {str(e).splitlines()[0][:200]}")
    d.engine.dispose()                         # the pool processes open their own connections
    jobs._single_threaded_env()                # one pool process = one core
    c = tasks.configure_worker(app)
    argv = ["worker", f"--concurrency={n}", f"--loglevel={loglevel}", "--pool=prefork",
            "-Q", queue or app.config.get("CELERY_QUEUE") or "kiosk", "--without-gossip", "--without-mingle"]
    if hostname:
        argv += ["-n", hostname]
    c.worker_main(argv)


# ---------------------------------------------------------------------- web processes
def _reuseport_socket(host: str, port: int) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, port))
    s.listen(1024)
    return s


@click.command("serve-process", hidden=True)
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--threads", default=8, type=int)
def serve_process(host: str, port: int, threads: int) -> None:
    """One of the web processes of ``kiosk serve --workers N`` (SO_REUSEPORT socket)."""
    from waitress import serve  # noqa: PLC0415

    app = _app()
    sock = _reuseport_socket(host, port)
    serve(app, sockets=[sock], threads=threads, ident="kiosk",
          max_request_body_size=app.config["MAX_CONTENT_LENGTH"])


def serve_processes(host: str, port: int, threads: int, workers: int) -> None:
    """Run ``workers`` web processes on ``host:port`` until Ctrl+C / SIGTERM; a process
    that dies is started again (after a second)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        _fail("platform", "--workers 需要 SO_REUSEPORT（Linux）；其他系统请用一个进程或反向代理")
    _reuseport_socket(host, port).close()      # the address is free for us (clear error if not)
    cmd = [sys.executable, "-m", "kiosk", "serve-process", "--host", host, "--port", str(port),
           "--threads", str(threads)]
    procs: list[subprocess.Popen] = [subprocess.Popen(cmd) for _ in range(workers)]
    stopping = False

    def stop(*_a) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"服务已启动：http://{host}:{port}/  （{workers} 个进程，Ctrl+C 停止）")
    try:
        while not stopping:
            for i, p in enumerate(procs):
                if p.poll() is not None and not stopping:
                    click.echo(f"web 进程 {p.pid} 已退出（{p.returncode}），重新启动", err=True)
                    time.sleep(1)
                    procs[i] = subprocess.Popen(cmd)
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def register(main: click.Group) -> None:
    main.add_command(worker_command, "worker")
    main.add_command(serve_process, "serve-process")

