"""``kiosk station-node`` (run the station on its own computer, sync later) and
``kiosk station-token`` (the central server's tokens for station nodes)."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import click


def register(main: click.Group) -> None:
    from .cli import _app, _fail, _serve, cli_actor  # noqa: PLC0415

    # ------------------------------------------------------------------ tokens (central)
    @main.group("station-token")
    def token_group() -> None:
        """Tokens that let a station node sync with this (central) server."""

    @token_group.command("create")
    @click.option("--term", "term_code", required=True, help="Graduation term, e.g. 2027-07.")
    @click.option("--unit", "unit_ref", required=True, help="学习中心 (code or name) the node captures for.")
    @click.option("--name", default="", help="A name for the node (default: the unit's name).")
    @click.option("--json", "as_json", is_flag=True)
    def token_create(term_code: str, unit_ref: str, name: str, as_json: bool) -> None:
        """Create a token (shown once; only its hash is kept)."""
        from .db import get_db  # noqa: PLC0415
        from .services import sync, terms  # noqa: PLC0415

        d = get_db(_app())
        d.upgrade()
        with d.session() as s:
            term = terms.get_term(s, term_code)
            if term is None:
                _fail("term", f"批次不存在：{term_code}", as_json)
            unit = sync.resolve_unit(s, unit_ref)
            if unit is None:
                _fail("unit", f"找不到分部/学习中心：{unit_ref}", as_json)
            row, token = sync.create_token(s, term, unit, name=name, actor=cli_actor())
            info = {"id": row.id, "name": row.name, "prefix": row.prefix, "term": term.code, "unit": unit.name,
                    "token": token}
        if as_json:
            click.echo(json.dumps({"ok": True, **info}, ensure_ascii=False))
        else:
            click.echo(f"已创建工位令牌 #{info['id']}（{info['name']}，{info['term']} {info['unit']}）：")
            click.echo(f"  {token}")
            click.echo("令牌只显示这一次，请妥善交给工位电脑（kiosk station-node --token …）。")

    @token_group.command("revoke")
    @click.argument("ref")
    def token_revoke(ref: str) -> None:
        """Revoke a token by id or prefix (kst_…)."""
        from .db import get_db  # noqa: PLC0415
        from .services import sync  # noqa: PLC0415

        d = get_db(_app())
        d.upgrade()
        with d.session() as s:
            row = sync.find_token(s, ref)
            if row is None:
                _fail("not_found", f"没有这个工位令牌：{ref}")
            changed = sync.revoke_token(s, row, actor=cli_actor())
            name, prefix = row.name, row.prefix
        click.echo(f"已吊销工位令牌 {prefix}（{name}）" if changed else f"工位令牌 {prefix} 早已吊销")

    @token_group.command("list")
    @click.option("--json", "as_json", is_flag=True)
    def token_list(as_json: bool) -> None:
        """List tokens (never the tokens themselves)."""
        from sqlalchemy import select  # noqa: PLC0415

        from .db import get_db  # noqa: PLC0415
        from .models import StationToken  # noqa: PLC0415

        d = get_db(_app())
        d.upgrade()
        with d.session() as s:
            rows = [{"id": r.id, "name": r.name, "prefix": r.prefix, "term": r.term.code, "unit": r.org_unit.name,
                     "created_at": r.created_at.isoformat(), "revoked": r.revoked_at is not None,
                     "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None}
                    for r in s.scalars(select(StationToken).order_by(StationToken.id))]
        if as_json:
            click.echo(json.dumps({"ok": True, "tokens": rows}, ensure_ascii=False))
            return
        for r in rows:
            state = "已吊销" if r["revoked"] else "有效"
            click.echo(f"#{r['id']:<4} {r['prefix']:<13} {state:<4} {r['term']} {r['unit']}  {r['name']}  "
                       f"最近使用 {r['last_used_at'] or '—'}")

    # ------------------------------------------------------------------ roster withdraw / restore (central)
    def _set_withdrawn(xh: str, term_code: str, reason: str, withdraw: bool) -> None:
        from sqlalchemy import select  # noqa: PLC0415

        from .db import get_db  # noqa: PLC0415
        from .models import Student  # noqa: PLC0415
        from .services import sync, terms  # noqa: PLC0415

        d = get_db(_app())
        d.upgrade()
        with d.session() as s:
            term = terms.get_term(s, term_code)
            st = s.scalar(select(Student).where(Student.term_id == (term.id if term else -1), Student.xh == xh))
            if st is None:
                _fail("not_found", f"{term_code} 名单中没有学号 {xh}")
            change = sync.withdraw_student if withdraw else sync.restore_student
            changed = change(s, st, actor=cli_actor(), reason=reason)
        if withdraw:
            click.echo(f"已撤销 {xh}" if changed else f"{xh} 早已撤销")
        else:
            click.echo(f"已恢复 {xh}" if changed else f"{xh} 未被撤销")

    roster_group = main.commands.get("roster")
    if isinstance(roster_group, click.Group):
        @roster_group.command("withdraw")
        @click.argument("xh")
        @click.option("--term", "term_code", required=True)
        @click.option("--reason", default="")
        def roster_withdraw(xh: str, term_code: str, reason: str) -> None:
            """Take a student off the roster (kept, marked withdrawn)."""
            _set_withdrawn(xh, term_code, reason, withdraw=True)

        @roster_group.command("restore")
        @click.argument("xh")
        @click.option("--term", "term_code", required=True)
        @click.option("--reason", default="")
        def roster_restore(xh: str, term_code: str, reason: str) -> None:
            """Put a withdrawn student back on the roster."""
            _set_withdrawn(xh, term_code, reason, withdraw=False)

    # ------------------------------------------------------------------ the node
    @main.command("station-node")
    @click.option("--server", required=True, help="The central server, e.g. https://photo.example.edu.cn")
    @click.option("--term", "term_code", required=True, help="Graduation term, e.g. 2027-07.")
    @click.option("--unit", "unit_ref", required=True, help="学习中心 (code or name) of the token.")
    @click.option("--token", envvar="KIOSK_NODE_TOKEN", required=True,
                  help="Station token (or KIOSK_NODE_TOKEN in the environment).")
    @click.option("--instance", "instance", type=click.Path(file_okay=False, path_type=Path),
                  help="The node's own folder (database, photos); default $KIOSK_INSTANCE or ./kiosk-node.")
    @click.option("--name", default=None, help="Node name shown on the server (default: host name).")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True, type=int)
    @click.option("--threads", default=8, show_default=True, type=int)
    @click.option("--sync-interval", default=5.0, show_default=True, type=float, help="Seconds between syncs.")
    @click.option("--max-backoff", default=60.0, show_default=True, type=float,
                  help="Longest wait between tries while the server is unreachable.")
    def station_node(server, term_code, unit_ref, token, instance, name, host, port, threads, sync_interval,
                     max_backoff) -> None:
        """Run the station on this computer (own SQLite database and photo store): pull the
        unit's roster from SERVER, capture offline, sync in the background."""
        from . import create_app  # noqa: PLC0415
        from .db import get_db  # noqa: PLC0415
        from .services import node  # noqa: PLC0415

        inst = (instance or Path(os.environ.get("KIOSK_INSTANCE") or "kiosk-node")).resolve()
        if not server.startswith(("http://", "https://")):
            _fail("server", f"服务器地址须以 http:// 或 https:// 开头：{server}")
        app = create_app({"INSTANCE_PATH": str(inst),
                          "DATABASE_URL": f"sqlite:///{(inst / 'kiosk.sqlite3').as_posix()}",
                          "PHOTO_STORE": str(inst / "photos"), "NODE_SERVER": server.rstrip("/"),
                          "NODE_TERM": term_code, "NODE_UNIT": unit_ref, "NODE_TOKEN": token,
                          "NODE_NAME": (name or socket.gethostname())[:64]})
        d = get_db(app)
        d.upgrade()
        with d.session() as s:
            nid = node.node_id(s)
        click.echo(f"工位节点 {nid}：实例目录 {inst}")
        # Only the roster here (the station page waits for it); the outbox goes in the
        # background, so a long backlog never delays the page.
        try:
            counts = node.pull(app, node.Client(server, token, timeout=10))
            with d.session() as s:
                node.set_state(s, "last_pull_at", node._iso(node.utcnow()))
            click.echo(f"已连接中心服务器：名单 {counts['students']} 人")
        except node.Offline as e:
            click.echo(f"中心服务器暂不可达（{e}）：离线工作，稍后自动同步")
        except node.Refused as e:
            if e.code == "scope_mismatch":
                _fail(e.code, e.message)
            click.echo(f"错误 [{e.code}]：{e.message}（继续离线工作）", err=True)
        worker = node.SyncWorker(app, interval=sync_interval, max_backoff=max_backoff)
        worker.start()
        _serve(app, host, port, threads)
