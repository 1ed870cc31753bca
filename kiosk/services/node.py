"""Station node: the same service on a station's computer, capturing while the central
server is out of reach, syncing when it is back.

* **Pull** (:func:`pull`): the roster slice of the node's unit (students, reference
  encodings and photos, the unit's operators with their password hashes so they can log
  in offline, the server's approved status) from ``GET /api/v1/sync/roster``.
* **Outbox** (:func:`collect`): the station writes its usual records and audit entries;
  every audit entry becomes one outbox row (``entry_id`` = ``<node id>:<audit id>``), in
  the audit log's order, with a cursor kept in :class:`~kiosk.models.SyncState` in the
  same transaction — so nothing the station recorded is missed or queued twice.
* **Push** (:func:`push`): files first (only those the server lacks, each checked there
  against its SHA-256), then the entries in order, a batch at a time; the server applies
  each entry once, so a push cut anywhere is simply repeated.  An entry the server
  refuses (tampered file, a student outside the token's unit) is set aside as
  ``refused`` with the server's code, and the rest go on.
* :class:`SyncWorker` runs :func:`sync_once` in a background thread with back-off.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import (AuditEntry, OrgUnit, Photo, Role, Student, SyncOutbox, SyncState, User, utcnow)
from ..store import PhotoStore, sha256_hex
from . import audit, terms

log = logging.getLogger(__name__)

BATCH = 25
PULL_EVERY = 60.0  # seconds between roster pulls while online
KIND_OF = {"photo.capture": "photo", "photo.approve": "approve", "photo.retake": "retake",
           "student.collect_code": "collect_code"}


class Offline(Exception):
    """The central server could not be reached (or failed): try again later."""


class Refused(Exception):
    """The central server refused a request with a coded error."""

    def __init__(self, status: int, code: str, message: str, entry_id: str | None = None):
        super().__init__(f"[{code}] {message}")
        self.status = status
        self.code = code
        self.message = message
        self.entry_id = entry_id


# ---------------------------------------------------------------------- state
def get_state(session: Session, key: str, default: Any = None) -> Any:
    row = session.get(SyncState, key)
    return default if row is None else row.value


def set_state(session: Session, key: str, value: Any) -> None:
    row = session.get(SyncState, key)
    if row is None:
        session.add(SyncState(key=key, value=value))
    else:
        row.value = value
    session.flush()


def node_id(session: Session) -> str:
    """This node's id (made once, kept in the database)."""
    nid = get_state(session, "node_id")
    if not nid:
        nid = uuid.uuid4().hex[:16]
        set_state(session, "node_id", nid)
    return nid


def _iso(d: dt.datetime | None) -> str | None:
    return d.isoformat() + "Z" if d is not None else None


# ---------------------------------------------------------------------- outbox
def collect(session: Session) -> int:
    """Queue every audit entry written since the last call; returns how many (flushed)."""
    nid = node_id(session)
    cursor = int(get_state(session, "outbox_cursor", 0) or 0)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.id > cursor).order_by(AuditEntry.id)).all()
    for e in entries:
        kind = KIND_OF.get(e.action, "audit")
        a = {"action": e.action, "actor": e.actor, "at": _iso(e.at), "object_type": e.object_type,
             "object_id": e.object_id, "photo_sha256": e.photo_sha256, "station": e.station, "detail": e.detail or {}}
        payload: dict[str, Any] = {"audit": a}
        blobs: list[str] = []
        d = e.detail or {}
        if kind == "photo":
            p = session.get(Photo, int(e.object_id)) if (e.object_id or "").isdigit() else None
            if p is None:
                kind = "audit"
            else:
                payload.update(node_photo=f"{nid}:p{p.id}", xh=p.student.xh, original_sha256=p.original_sha256,
                               sha256=p.sha256, original_name=p.original_name, normalized=p.normalized,
                               transform=p.transform, qc_verdict=p.qc_verdict, captured_at=_iso(p.captured_at),
                               operator=e.actor, decision_note=p.decision_note)
                rep = p.latest_report
                if rep is not None:
                    payload["qc_report"] = {"profile": rep.profile, "profile_version": rep.profile_version,
                                            "verdict": rep.verdict, "checks": rep.checks, "elapsed_ms": rep.elapsed_ms}
                blobs = [p.original_sha256] + ([p.sha256] if p.sha256 else [])
        elif kind in ("approve", "retake"):
            payload.update(node_photo=f"{nid}:p{e.object_id}", actor=e.actor, checklist=bool(d.get("checklist")),
                           override=bool(d.get("override")), reason=d.get("reason"))
        elif kind == "collect_code":
            payload.update(xh=d.get("xh"), code=d.get("code"), previous=d.get("previous"), actor=e.actor,
                           at=_iso(e.at))
        session.add(SyncOutbox(entry_id=f"{nid}:{e.id}", kind=kind, payload=payload, blobs=blobs))
        cursor = e.id
    if entries:
        set_state(session, "outbox_cursor", cursor)
    session.flush()
    return len(entries)


def server_student(session: Session, xh: str) -> dict[str, bool]:
    """The server's word on a student at the last pull: approved photo there, withdrawn."""
    d = (get_state(session, "server_students", {}) or {}).get(xh) or {}
    return {"approved": bool(d.get("approved")), "withdrawn": bool(d.get("withdrawn"))}


def waiting_count(session: Session) -> int:
    cursor = int(get_state(session, "outbox_cursor", 0) or 0)
    queued = session.scalar(select(func.count()).select_from(SyncOutbox).where(SyncOutbox.status == "waiting")) or 0
    fresh = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.id > cursor)) or 0
    return queued + fresh


def status(session: Session, app) -> dict[str, Any]:
    """What the station page shows: online/offline, items waiting, last sync, numbers.

    Read as one snapshot: the sync thread moves audit entries into the outbox (and the
    cursor past them) between any two reads otherwise, and they were counted twice."""
    from ..db import begin_snapshot  # noqa: PLC0415

    begin_snapshot(session)

    def count(*cond) -> int:
        return session.scalar(select(func.count()).select_from(SyncOutbox).where(*cond)) or 0

    cursor = int(get_state(session, "outbox_cursor", 0) or 0)
    fresh = session.scalars(select(AuditEntry.action).where(AuditEntry.id > cursor)).all()
    refused = session.scalars(select(SyncOutbox).where(SyncOutbox.status == "refused")
                              .order_by(SyncOutbox.id.desc()).limit(5)).all()
    return {
        "server": app.config.get("NODE_SERVER"),
        "term": app.config.get("NODE_TERM"), "unit": app.config.get("NODE_UNIT"),
        "online": get_state(session, "online"),
        "waiting": count(SyncOutbox.status == "waiting") + len(fresh),
        "waiting_photos": count(SyncOutbox.status == "waiting", SyncOutbox.kind == "photo")
        + sum(1 for a in fresh if a == "photo.capture"),
        "waiting_approvals": count(SyncOutbox.status == "waiting", SyncOutbox.kind == "approve")
        + sum(1 for a in fresh if a == "photo.approve"),
        "sent": count(SyncOutbox.status == "sent"),
        "refused": count(SyncOutbox.status == "refused"),
        "refused_items": [{"entry_id": r.entry_id, "kind": r.kind, "code": r.error_code, "message": r.error_message}
                          for r in refused],
        "server_pending": count(SyncOutbox.status == "sent", SyncOutbox.outcome.in_(("pending", "conflict"))),
        "last_sync_at": get_state(session, "last_sync_at"),
        "last_attempt_at": get_state(session, "last_attempt_at"),
        "next_attempt_at": get_state(session, "next_attempt_at"),
        "last_error": get_state(session, "last_error"),
        "roster": get_state(session, "roster", {}),
    }


# ---------------------------------------------------------------------- HTTP
class Client:
    """The central server's sync API (urllib; ``timeout`` seconds a request)."""

    def __init__(self, server: str, token: str, timeout: float = 30.0):
        self.base = server.rstrip("/") + "/api/v1/sync"
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, data: bytes | None = None, ctype: str | None = None) -> bytes:
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if ctype:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            if e.code >= 500:
                raise Offline(f"HTTP {e.code}") from None
            try:
                err = json.loads(body)["error"]
            except Exception:  # noqa: BLE001 - not our API answering (a proxy page, say)
                raise Offline(f"HTTP {e.code}") from None
            raise Refused(e.code, err.get("code", "refused"), err.get("message", ""), err.get("entry_id")) from None
        except (urllib.error.URLError, OSError) as e:
            raise Offline(str(getattr(e, "reason", e))) from None

    def get_json(self, path: str) -> dict:
        return json.loads(self._call("GET", path))

    def post_json(self, path: str, obj: Any) -> dict:
        return json.loads(self._call("POST", path, json.dumps(obj, ensure_ascii=False).encode(), "application/json"))

    def put_bytes(self, path: str, data: bytes) -> dict:
        return json.loads(self._call("PUT", path, data, "application/octet-stream"))

    def get_bytes(self, path: str) -> bytes:
        return self._call("GET", path)


# ---------------------------------------------------------------------- pull
def _date(v: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(v) if v else None
    except ValueError:
        return None


def apply_roster(session: Session, store: PhotoStore, data: dict, client: Client | None, *, term_code: str,
                 unit_ref: str) -> dict[str, int]:
    """Make the node's roster match the server's slice (insert/update by 学号, never delete)."""
    if data["term"]["code"] != term_code or unit_ref not in (data["unit"]["code"], data["unit"]["name"]):
        raise Refused(403, "scope_mismatch", f"工位令牌属于 {data['term']['code']} {data['unit']['name']}，"
                                             f"与本节点的设置（{term_code} {unit_ref}）不符")
    term = terms.ensure_term(session, term_code, name=data["term"].get("name"))
    units: dict[str, OrgUnit] = {}
    for u in data["units"]:
        row = session.scalar(select(OrgUnit).where(OrgUnit.code == u["code"]))
        if row is None:
            row = OrgUnit(code=u["code"], name=u["name"], kind=u["kind"],
                          parent_id=units[u["parent"]].id if u.get("parent") in units else None)
            session.add(row)
            session.flush()
        units[u["code"]] = row
    made = updated = refs = 0
    have = {s.xh: s for s in session.scalars(select(Student).where(Student.term_id == term.id))}
    now = utcnow()
    for r in data["students"]:
        st = have.get(r["xh"])
        enc = base64.b64decode(r["reference_encoding"]) if r.get("reference_encoding") else None
        fields = {"name": r["name"], "gender": r.get("gender"), "id_number": r["id_number"],
                  "id_legacy": bool(r.get("id_legacy")), "level": r.get("level"), "major": r.get("major"),
                  "class_name": r.get("class_name"), "enrol_date": _date(r.get("enrol_date")),
                  "expected_grad_date": _date(r.get("expected_grad_date")),
                  "centre_id": units[r["centre"]].id if r.get("centre") in units else None,
                  "reference_sha256": r.get("reference_sha256"), "reference_encoding": enc}
        if st is None:
            st = Student(term_id=term.id, xh=r["xh"], collect_code=r.get("collect_code"), **fields)
            session.add(st)
            made += 1
        else:
            changed = False
            for k, v in fields.items():
                if getattr(st, k) != v:
                    setattr(st, k, v)
                    changed = True
            if r.get("collect_code") and not st.collect_code:
                st.collect_code = r["collect_code"]
                changed = True
            updated += changed
        if bool(r.get("withdrawn")) != (st.withdrawn_at is not None):
            st.withdrawn_at = now if r.get("withdrawn") else None
        sha = r.get("reference_sha256")
        if sha and client is not None and not store.exists(sha):
            data_ = client.get_bytes(f"/blobs/{sha}")
            if sha256_hex(data_) == sha:
                store.put(data_)
                refs += 1
    session.flush()
    ops = 0
    for o in data.get("operators", []):
        u = session.scalar(select(User).where(User.username == o["username"]))
        unit = units.get(o.get("unit"))
        if u is None:
            session.add(User(username=o["username"], password_hash=o["password_hash"], role=Role.OPERATOR.value,
                             display_name=o.get("display_name") or "", org_unit_id=unit.id if unit else None))
            ops += 1
        elif u.role == Role.OPERATOR.value:  # a node-local admin is never overwritten
            u.password_hash = o["password_hash"]
            u.display_name = o.get("display_name") or ""
            u.org_unit_id = unit.id if unit else u.org_unit_id
            u.active = True
    # operators pulled before and no longer sent (deactivated or moved on the server) may
    # not log in here any more; accounts made on the node itself are left alone
    sent = {o["username"] for o in data.get("operators", [])}
    for gone in set(get_state(session, "pulled_operators", []) or []) - sent:
        u = session.scalar(select(User).where(User.username == gone, User.role == Role.OPERATOR.value))
        if u is not None and u.active:
            u.active = False
            ops += 1
    set_state(session, "pulled_operators", sorted(sent))
    # what the server says about students the station may call (sparse: only the flagged)
    set_state(session, "server_students", {r["xh"]: {"approved": bool(r.get("approved_sha256")),
                                                    "withdrawn": bool(r.get("withdrawn"))}
                                           for r in data["students"] if r.get("approved_sha256") or r.get("withdrawn")})
    session.flush()
    counts = {"students": len(data["students"]), "new": made, "updated": updated, "references": refs,
              "operators": len(data.get("operators", [])),
              "server_approved": sum(1 for r in data["students"] if r.get("approved_sha256")),
              "withdrawn": sum(1 for r in data["students"] if r.get("withdrawn"))}
    if made or updated or ops:
        audit.record(session, "node.roster_pull", actor="system", term_id=term.id, **counts)
    set_state(session, "roster", {**counts, "pulled_at": _iso(utcnow())})
    return counts


def pull(app, client: Client) -> dict[str, int]:
    from ..db import get_db  # noqa: PLC0415

    with get_db(app).session() as s:
        held = get_state(s, "roster_version")
    data = client.get_json("/roster" + (f"?since={held}" if held else ""))
    with get_db(app).session() as s:
        if data.get("unchanged"):
            counts = dict(get_state(s, "roster", {}) or {})
            set_state(s, "roster", {**counts, "pulled_at": _iso(utcnow())})
            return {**counts, "unchanged": True}
        counts = apply_roster(s, app.extensions["kiosk_store"], data, client, term_code=app.config["NODE_TERM"],
                              unit_ref=app.config["NODE_UNIT"])
        set_state(s, "roster_version", data.get("version"))
        return counts


# ---------------------------------------------------------------------- push
def _refuse(s: Session, rows: list[SyncOutbox], code: str, message: str) -> None:
    for r in rows:
        r.status = "refused"
        r.error_code = code[:32]
        r.error_message = message
    s.flush()


def push(app, client: Client, *, batch: int = BATCH) -> dict[str, int]:
    """Send everything waiting; returns counts.  Raises :class:`Offline` (try later) or
    :class:`Refused` for a refusal of the whole node (bad or revoked token)."""
    from ..db import get_db  # noqa: PLC0415

    store: PhotoStore = app.extensions["kiosk_store"]
    d = get_db(app)
    sent = refused = 0
    station = app.config.get("NODE_NAME") or "station-node"
    while True:
        with d.session() as s:
            collect(s)
        with d.session() as s:
            nid = node_id(s)
            rows = s.scalars(select(SyncOutbox).where(SyncOutbox.status == "waiting")
                             .order_by(SyncOutbox.id).limit(batch)).all()
            if not rows:
                return {"sent": sent, "refused": refused}
            for r in rows:
                r.attempts += 1
            shas = sorted({h for r in rows for h in (r.blobs or [])})
            missing = client.post_json("/blobs/missing", {"sha256": shas})["missing"] if shas else []
            bad: dict[str, tuple[str, str]] = {}
            for sha in missing:
                try:
                    data = store.path_for(sha).read_bytes()
                except (OSError, Exception):  # noqa: BLE001 - missing here: refuse the entries needing it
                    bad[sha] = ("blob_missing_local", f"工位上找不到照片文件 {sha[:12]}…")
                    continue
                try:
                    client.put_bytes(f"/blobs/{sha}", data)
                except Refused as e:
                    if e.status == 401:
                        raise
                    bad[sha] = (e.code, e.message)
            if bad:
                for r in rows:
                    hit = [bad[h] for h in (r.blobs or []) if h in bad]
                    if hit:
                        _refuse(s, [r], *hit[0])
                        refused += 1
                rows = [r for r in rows if r.status == "waiting"]
            if rows:
                try:
                    out = client.post_json("/push", {"node_id": nid, "station": station, "entries": [
                        {"entry_id": r.entry_id, "kind": r.kind, "payload": r.payload} for r in rows]})
                except Refused as e:
                    target = [r for r in rows if r.entry_id == e.entry_id]
                    if not target:
                        raise
                    _refuse(s, target, e.code, e.message)
                    refused += 1
                    continue  # the session commits the refusal; the rest go in the next round
                by_id = {x["entry_id"]: x for x in out["results"]}
                now = utcnow()
                for r in rows:
                    res = by_id.get(r.entry_id)
                    if res is not None:
                        r.status = "sent"
                        r.outcome = res.get("outcome")
                        r.sent_at = now
                        sent += 1
                set_state(s, "last_sync_at", _iso(now))


def sync_once(app, client: Client | None = None, *, force_pull: bool = False) -> dict[str, Any]:
    """One round: pull the roster (when due), push the outbox.  Records the outcome in the
    node's state (online, last sync, last error) and re-raises ``Offline``/``Refused``."""
    from ..db import get_db  # noqa: PLC0415

    client = client or Client(app.config["NODE_SERVER"], app.config["NODE_TOKEN"])
    d = get_db(app)
    now = utcnow()
    with d.session() as s:
        set_state(s, "last_attempt_at", _iso(now))
        last_pull = get_state(s, "last_pull_at")
    out: dict[str, Any] = {}
    try:
        due = force_pull or not last_pull or \
            (now - dt.datetime.fromisoformat(last_pull.rstrip("Z"))).total_seconds() >= PULL_EVERY
        if due:
            out["pull"] = pull(app, client)
            with d.session() as s:
                set_state(s, "last_pull_at", _iso(utcnow()))
        out["push"] = push(app, client, batch=int(app.config.get("NODE_SYNC_BATCH") or BATCH))
    except Offline as e:
        with d.session() as s:
            set_state(s, "online", False)
            set_state(s, "last_error", {"code": "offline", "detail": str(e)[:300],
                                         "message": "中心服务器不可达：照片和决定已保存在本机，连接恢复后自动同步"})
        raise
    except Refused as e:
        with d.session() as s:
            set_state(s, "online", True)
            set_state(s, "last_error", {"code": e.code, "message": e.message})
        raise
    with d.session() as s:
        set_state(s, "online", True)
        set_state(s, "last_error", None)
        set_state(s, "last_sync_at", _iso(utcnow()))
    return out


class SyncWorker(threading.Thread):
    """Background sync: every ``interval`` seconds while online; after a failure waits
    ``interval × 2ⁿ`` (at most ``max_backoff``) before the next try."""

    def __init__(self, app, *, interval: float = 5.0, max_backoff: float = 60.0):
        super().__init__(name="kiosk-node-sync", daemon=True)
        self.app = app
        self.interval = interval
        self.max_backoff = max_backoff
        self.stop_event = threading.Event()
        self.failures = 0

    def run(self) -> None:  # pragma: no cover - exercised through the subprocess tests
        from ..db import get_db  # noqa: PLC0415

        while not self.stop_event.is_set():
            try:
                sync_once(self.app)
                self.failures = 0
                delay = self.interval
            except (Offline, Refused) as e:
                self.failures += 1
                delay = min(self.max_backoff, self.interval * 2 ** min(self.failures, 10))
                log.info("sync: %s (next try in %.0f s)", e, delay)
            except Exception:  # noqa: BLE001 - keep the thread alive, back off
                log.exception("sync failed")
                self.failures += 1
                delay = min(self.max_backoff, self.interval * 2 ** min(self.failures, 10))
            try:
                with get_db(self.app).session() as s:
                    set_state(s, "next_attempt_at", _iso(utcnow() + dt.timedelta(seconds=delay)))
            except Exception:  # noqa: BLE001
                log.exception("sync state")
            self.stop_event.wait(delay)
