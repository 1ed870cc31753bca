"""Central side of station-node sync: station tokens, the roster slice, and applying what
a node pushes.

A node (``kiosk station-node``, see :mod:`kiosk.services.node`) captures offline and keeps
an outbox: one entry per audit entry it wrote, each with a unique ``entry_id``.  The
server applies every entry at most once (:class:`~kiosk.models.SyncReceipt`), so a push
interrupted anywhere — node killed, link dropped — is simply pushed again.

What the server applies besides keeping the node's audit entry (stored as
``node.<action>``, with the node's time, actor and station):

* ``photo`` — a capture: both files must already be in the store under their SHA-256
  (uploaded first, checked on arrival); the server runs QC again on the spec photo and
  the identity check, and records a new photo version like a capture of its own.
* ``approve`` — the server approves with its own rules (:func:`photos.approve`, then the
  identity/duplicate hooks), except for the conflict rules: a student who already has an
  approved photo here (approved at another station meanwhile) or who was withdrawn from
  the roster gets the photo kept as ``pending`` and one ``sync_conflict`` review item; an
  approval the server's rules refuse (an offline override, say) is kept the same way.
* ``retake`` — the photo is rejected here too (if still undecided).
* ``collect_code`` — the 采集码 is stored on the student (a clash is audited, not applied).

Refusals (bad token, a student outside the token's unit, a file missing or not matching
its hash) are raised as :class:`SyncError`; the caller rolls back whatever the push had
applied, audits the refusal, and answers with the code — nothing of the push is recorded.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import (OrgUnit, Photo, PhotoStatus, ReviewItem, ReviewKind, Role, Station, StationToken, Student,
                      SyncReceipt, Term, User, utcnow)
from ..store import PhotoStore, sha256_hex
from . import audit, identity, photos
from .orgs import find_unit, unit_and_descendant_ids

TOKEN_PREFIX = "kst_"
ENTRY_KINDS = ("photo", "approve", "retake", "collect_code", "audit")
#: Conflict categories of ``sync_conflict`` review items, as the review queue shows them.
CONFLICT_ZH = {"two_stations": "两个工位都批准了该学生", "withdrawn": "学生已在名单中撤销",
               "not_approvable": "服务器规则不允许该批准"}
MAX_ENTRIES = 200


class SyncError(Exception):
    """A refused sync request: ``code`` stable, ``message`` Chinese, ``status`` HTTP;
    ``entry_id`` names the outbox entry refused (the node sets it aside)."""

    def __init__(self, code: str, message: str, status: int = 400, entry_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.entry_id = entry_id


# ---------------------------------------------------------------------- tokens
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, term: Term, unit: OrgUnit, *, name: str, actor: User | str | None) -> tuple[StationToken, str]:
    """A new station token for ``term`` × ``unit``; returns ``(row, token)`` — the token
    itself is shown once and only its hash is kept."""
    name = (name or "").strip()[:64] or unit.name
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = StationToken(name=name, prefix=token[:12], token_hash=token_hash(token), term_id=term.id,
                       org_unit_id=unit.id, created_by=actor.username if isinstance(actor, User) else (actor or "system"))
    session.add(row)
    session.flush()
    audit.record(session, "station_token.create", actor=actor, object_type="station_token", object_id=row.id,
                 term_id=term.id, name=name, prefix=row.prefix, unit=unit.name)
    return row, token


def revoke_token(session: Session, row: StationToken, *, actor: User | str | None) -> bool:
    if row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    row.revoked_by = actor.username if isinstance(actor, User) else (actor or "system")
    session.flush()
    audit.record(session, "station_token.revoke", actor=actor, object_type="station_token", object_id=row.id,
                 term_id=row.term_id, name=row.name, prefix=row.prefix)
    return True


def find_token(session: Session, ref: str) -> StationToken | None:
    """A token by id or by its prefix (``kst_AbCdEfGh``)."""
    ref = (ref or "").strip()
    if ref.isdigit():
        return session.get(StationToken, int(ref))
    return session.scalar(select(StationToken).where(StationToken.prefix == ref[:12]))


def authenticate(session: Session, header: str | None) -> StationToken:
    """The token of an ``Authorization: Bearer …`` header, or :class:`SyncError`."""
    raw = (header or "").strip()
    if not raw.lower().startswith("bearer ") or not raw[7:].strip():
        raise SyncError("token_required", "缺少工位令牌（Authorization: Bearer …）", 401)
    token = raw[7:].strip()
    row = session.scalar(select(StationToken).where(StationToken.token_hash == token_hash(token)))
    if row is None:
        raise SyncError("bad_token", "工位令牌无效", 401)
    if row.revoked_at is not None:
        raise SyncError("token_revoked", "工位令牌已被吊销，请向管理员申请新的令牌", 401)
    return row


def refuse(session: Session, err: SyncError, *, token: StationToken | None, ip: str | None, header: str | None = None,
           what: str = "") -> None:
    """Audit a refused sync request (the caller commits)."""
    presented = (header or "")[7:].strip()[:12] if header else None
    audit.record(session, "sync.refused", actor=f"station-token:{token.prefix}" if token else "station-token:?",
                 object_type="station_token", object_id=token.id if token else None,
                 term_id=token.term_id if token else None, ip=ip, code=err.code, message=err.message,
                 entry_id=err.entry_id, what=what, presented=presented if token is None else None)


def scope_ids(session: Session, token: StationToken) -> set[int]:
    return unit_and_descendant_ids(session, token.org_unit_id)


# ---------------------------------------------------------------------- roster slice
def _b64(b: bytes | None) -> str | None:
    return base64.b64encode(b).decode("ascii") if b else None


def _iso(d: dt.datetime | dt.date | None) -> str | None:
    return d.isoformat() if d is not None else None


def roster_slice(session: Session, token: StationToken) -> dict[str, Any]:
    """What a node needs to work offline: the term, the unit chain, the students of the
    unit (with reference encodings), their status here, and the unit's operators."""
    ids = scope_ids(session, token)
    chain: list[OrgUnit] = []
    u: OrgUnit | None = token.org_unit
    while u is not None:
        chain.insert(0, u)
        u = u.parent
    units = session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids))).all()
    by_id = {x.id: x for x in chain + list(units)}
    studs = session.scalars(select(Student).where(Student.term_id == token.term_id, Student.centre_id.in_(ids))
                            .order_by(Student.xh)).all()
    status = dict(session.execute(select(Photo.student_id, Photo.sha256).where(
        Photo.student_id.in_([s.id for s in studs] or [-1]), Photo.status == PhotoStatus.APPROVED.value)).all())
    ops = session.scalars(select(User).where(User.role == Role.OPERATOR.value, User.active.is_(True),
                                             User.org_unit_id.in_(ids))).all()
    return {
        "term": {"code": token.term.code, "name": token.term.name},
        "unit": {"code": token.org_unit.code, "name": token.org_unit.name},
        "units": [{"code": x.code, "name": x.name, "kind": x.kind,
                   "parent": by_id[x.parent_id].code if x.parent_id in by_id else None}
                  for x in sorted(by_id.values(), key=lambda x: (x.id in ids, x.id))],
        "students": [{
            "xh": s.xh, "name": s.name, "gender": s.gender, "id_number": s.id_number, "id_legacy": s.id_legacy,
            "level": s.level, "major": s.major, "class_name": s.class_name,
            "centre": by_id[s.centre_id].code if s.centre_id in by_id else None,
            "enrol_date": _iso(s.enrol_date), "expected_grad_date": _iso(s.expected_grad_date),
            "collect_code": s.collect_code, "reference_sha256": s.reference_sha256,
            "reference_encoding": _b64(s.reference_encoding), "withdrawn": s.withdrawn_at is not None,
            "approved_sha256": status.get(s.id)} for s in studs],
        "operators": [{"username": x.username, "password_hash": x.password_hash, "display_name": x.display_name,
                       "unit": by_id[x.org_unit_id].code if x.org_unit_id in by_id else None} for x in ops],
    }


def slice_version(data: dict[str, Any]) -> str:
    """A digest of a roster slice: equal digests, equal slices."""
    import json  # noqa: PLC0415

    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]


def reference_allowed(session: Session, token: StationToken, sha256: str) -> bool:
    """Whether ``sha256`` is the reference photo of a student in the token's scope."""
    return session.scalar(select(func.count()).select_from(Student).where(
        Student.term_id == token.term_id, Student.centre_id.in_(scope_ids(session, token)),
        Student.reference_sha256 == sha256)) > 0


# ---------------------------------------------------------------------- blobs
def receive_blob(store: PhotoStore, sha256: str, data: bytes) -> bool:
    """Keep uploaded bytes under their hash; ``True`` when new.  Refuses bytes that do not
    hash to the name they were sent under (a file changed on the node's disk)."""
    sha256 = (sha256 or "").lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise SyncError("bad_hash", "文件名不是 SHA-256 摘要", 400)
    if not data:
        raise SyncError("empty", "文件为空", 400)
    actual = sha256_hex(data)
    if actual != sha256:
        raise SyncError("hash_mismatch", f"文件内容与其摘要不符（声称 {sha256[:12]}…，实际 {actual[:12]}…）："
                                         "工位上的照片文件已被改动或损坏，未接收", 422)
    new = not store.exists(sha256)
    store.put(data)
    return new


def missing_blobs(store: PhotoStore, shas: list[str]) -> list[str]:
    out = []
    for sha in shas:
        try:
            if not store.exists(sha):
                out.append(sha)
        except Exception:  # noqa: BLE001 - a malformed name is "missing": its upload is refused
            out.append(sha)
    return out


# ---------------------------------------------------------------------- applying a push
class _Push:
    def __init__(self, session: Session, store: PhotoStore, token: StationToken, node_id: str, station_name: str,
                 ip: str | None):
        self.s = session
        self.store = store
        self.token = token
        self.node_id = node_id
        self.station_name = station_name
        self.ip = ip
        self.node_name = station_name
        self.scope = scope_ids(session, token)
        self._stations: dict[str, Station] = {}

    def station(self) -> Station:
        """The central ``Station`` row of the node's station the current entry came from."""
        name = self.station_name
        if name not in self._stations:
            st = self.s.scalar(select(Station).where(Station.org_unit_id == self.token.org_unit_id,
                                                     Station.name == name))
            if st is None:
                st = Station(name=name, org_unit_id=self.token.org_unit_id,
                             place="", camera={"kind": "node", "node": self.node_id})
                self.s.add(st)
                self.s.flush()
            self._stations[name] = st
        return self._stations[name]

    def student(self, entry_id: str, xh: Any) -> Student:
        st = self.s.scalar(select(Student).where(Student.term_id == self.token.term_id, Student.xh == str(xh or "")))
        if st is None or st.centre_id not in self.scope:
            raise SyncError("out_of_scope", f"学号 {xh} 不在本工位令牌的学习中心（{self.token.org_unit.name}）"
                                            f"{self.token.term.code} 名单内，未接收", 403, entry_id)
        return st

    def actor(self, name: Any) -> User | str:
        """The central account of the node's operator when it is an operator of this unit;
        otherwise a label — never an administrator's rights from a node's say-so."""
        name = str(name or "")[:64]
        u = self.s.scalar(select(User).where(User.username == name))
        if u is not None and u.active and u.role == Role.OPERATOR.value and u.org_unit_id in self.scope:
            return u
        return f"node:{name}"[:80]

    def photo_of(self, entry_id: str, ref: Any) -> Photo:
        r = self.s.scalar(select(SyncReceipt).where(SyncReceipt.node_photo == str(ref or ""),
                                                    SyncReceipt.kind == "photo"))
        if r is None or r.photo_id is None:
            raise SyncError("unknown_photo", "该决定所指的照片尚未同步到服务器（或已被拒收）", 409, entry_id)
        return self.s.get(Photo, r.photo_id)

    def blob(self, entry_id: str, sha: Any) -> bytes:
        try:
            data = self.store.get(str(sha))
        except Exception:  # noqa: BLE001 - missing or a malformed name
            raise SyncError("blob_missing", f"照片文件 {str(sha)[:12]}… 尚未上传，请先上传文件", 422, entry_id) from None
        if sha256_hex(data) != sha:
            raise SyncError("hash_mismatch", f"服务器上的文件 {str(sha)[:12]}… 与摘要不符", 422, entry_id)
        return data

    # ------------------------------------------------------------------ kinds
    def apply(self, e: dict[str, Any]) -> SyncReceipt:
        entry_id = str(e.get("entry_id") or "")
        kind = e.get("kind")
        payload = e.get("payload") if isinstance(e.get("payload"), dict) else {}
        if not entry_id.startswith(self.node_id + ":") or len(entry_id) > 80 or kind not in ENTRY_KINDS:
            raise SyncError("bad_entry", "同步条目格式不正确", 422, entry_id or None)
        a = payload.get("audit") if isinstance(payload.get("audit"), dict) else {}
        self.station_name = str(a.get("station") or self.node_name)[:64]
        receipt = SyncReceipt(token_id=self.token.id, entry_id=entry_id, kind=kind, outcome="recorded")
        self._extra: dict[str, Any] = {}
        if kind == "photo":
            self._photo(entry_id, payload, receipt)
        elif kind == "approve":
            self._approve(entry_id, payload, receipt)
        elif kind == "retake":
            self._retake(entry_id, payload, receipt)
        elif kind == "collect_code":
            self._collect_code(entry_id, payload, receipt)
        self._keep_audit(entry_id, payload.get("audit") or {}, receipt)
        self.s.add(receipt)
        self.s.flush()
        return receipt

    def _photo(self, entry_id: str, p: dict, receipt: SyncReceipt) -> None:
        import qc  # noqa: PLC0415

        st = self.student(entry_id, p.get("xh"))
        original = self.blob(entry_id, p.get("original_sha256"))
        spec = self.blob(entry_id, p["sha256"]) if p.get("sha256") else None
        actor = self.actor(p.get("operator"))
        report = None
        if spec is not None:
            # QC again here, with the server's reference encoding (it may be newer than the node's).
            report = qc.check_photo(spec, reference=identity.reference_for(st))
        photo = photos.record_photo(self.s, self.store, st, original=original, spec=spec, report=report,
                                    source="capture", actor=actor, original_name=p.get("original_name"),
                                    normalized=bool(p.get("normalized")), transform=p.get("transform"),
                                    station_id=self.station().id, station_name=self.station_name, ip=self.ip)
        photo.captured_at = _parse_at(p.get("captured_at")) or photo.captured_at
        if p.get("decision_note"):
            photo.decision_note = str(p["decision_note"])[:1000]
        if report is not None:
            identity.after_check(self.s, photo, report, actor, station_name=self.station_name, ip=self.ip)
            node_verdict = p.get("qc_verdict")
            if node_verdict and node_verdict != photo.qc_verdict:
                audit.record(self.s, "sync.qc_differs", actor="system", object_type="photo", object_id=photo.id,
                             term_id=st.term_id, photo_sha256=photo.sha256, station=self.station_name, xh=st.xh,
                             node_verdict=node_verdict, server_verdict=photo.qc_verdict)
        if isinstance(p.get("qc_report"), dict):
            # the node's own QC report stays on record with its entry; the photo's report is the server's
            self._extra["node_qc_report"] = p["qc_report"]
        receipt.photo_id = photo.id
        ref = str(p.get("node_photo") or "")
        if not ref.startswith(self.node_id + ":p"):
            raise SyncError("bad_entry", "照片条目缺少工位照片编号", 422, entry_id)
        receipt.node_photo = ref
        receipt.outcome = "applied"

    def _conflict(self, photo: Photo, category: str, comment: str, *, other: Photo | None = None,
                  detail: dict | None = None) -> ReviewItem:
        """Keep ``photo`` as pending and open (or extend) the student's one conflict item."""
        st = photo.student
        if photo.status in photos.DECIDABLE:
            photo.status = PhotoStatus.PENDING.value
        item = self.s.scalar(select(ReviewItem).where(ReviewItem.student_id == st.id,
                                                      ReviewItem.kind == ReviewKind.SYNC_CONFLICT.value,
                                                      ReviewItem.category == category,
                                                      ReviewItem.status == "open"))
        if item is None:
            item = ReviewItem(term_id=st.term_id, kind=ReviewKind.SYNC_CONFLICT.value, status="open",
                              student_id=st.id, photo_id=photo.id, other_photo_id=other.id if other else None,
                              category=category, comment=comment,
                              detail={"photos": [photo.id], "stations": [self.station_name],
                                      "category_zh": CONFLICT_ZH[category], **(detail or {})})
            self.s.add(item)
        else:
            d = dict(item.detail or {})
            d["photos"] = list(d.get("photos") or []) + [photo.id]
            d["stations"] = sorted(set(d.get("stations") or []) | {self.station_name})
            item.detail = d
        self.s.flush()
        audit.record(self.s, "sync.conflict", actor="system", object_type="review_item", object_id=item.id,
                     term_id=st.term_id, photo_sha256=photo.sha256, station=self.station_name, ip=self.ip,
                     xh=st.xh, category=category, comment=comment, other_photo=other.id if other else None)
        return item

    def _approve(self, entry_id: str, p: dict, receipt: SyncReceipt) -> None:
        photo = self.photo_of(entry_id, p.get("node_photo"))
        self.student(entry_id, photo.student.xh)
        receipt.photo_id = photo.id
        st = photo.student
        if photo.status == PhotoStatus.APPROVED.value:
            receipt.outcome = "applied"
            return
        if st.withdrawn_at is not None:
            self._conflict(photo, "withdrawn", "学生已从名单撤销，离线工位仍批准了照片：照片保留为待定，请核实")
            receipt.outcome = "pending"
            return
        current = photos.approved_photo(self.s, st.id)
        if current is not None and not self._from_this_node(current):
            self._conflict(photo, "two_stations", f"该学生已有通过的照片（第 {current.version} 版），离线工位"
                                                  f"{self.station_name}又批准了一张：两张均保留，请选定一张", other=current)
            receipt.outcome = "conflict"
            return
        actor = self.actor(p.get("actor"))
        try:
            photos.approve(self.s, photo, actor, checklist_ok=bool(p.get("checklist")), station_name=self.station_name,
                           ip=self.ip)
        except photos.PhotoError as e:
            self._conflict(photo, "not_approvable", f"离线工位批准了这张照片，但服务器的规则不允许（{e.message}）："
                                                    "照片保留为待定，请管理员处理", detail={"code": e.code})
            receipt.outcome = "pending"
            return
        receipt.outcome = "applied"

    def _from_this_node(self, photo: Photo) -> bool:
        """Whether ``photo`` came from this node (its own later approval then supersedes it,
        as it did on the node)."""
        ref = self.s.scalar(select(SyncReceipt.node_photo).where(SyncReceipt.photo_id == photo.id,
                                                                 SyncReceipt.kind == "photo"))
        return bool(ref) and ref.startswith(self.node_id + ":")

    def _retake(self, entry_id: str, p: dict, receipt: SyncReceipt) -> None:
        photo = self.photo_of(entry_id, p.get("node_photo"))
        receipt.photo_id = photo.id
        if photo.status in photos.DECIDABLE:
            photos.reject(self.s, photo, self.actor(p.get("actor")), reason=str(p.get("reason") or "重拍")[:200],
                          station_name=self.station_name, ip=self.ip)
            receipt.outcome = "applied"
        else:
            receipt.outcome = "skipped"

    def _collect_code(self, entry_id: str, p: dict, receipt: SyncReceipt) -> None:
        st = self.student(entry_id, p.get("xh"))
        code = str(p.get("code") or "")
        if not code or st.collect_code == code:
            receipt.outcome = "skipped"
            return
        other = self.s.scalar(select(Student.id).where(Student.term_id == st.term_id, Student.collect_code == code,
                                                       Student.id != st.id))
        if other is not None or (st.collect_code and st.collect_code != p.get("previous")):
            audit.record(self.s, "sync.conflict", actor="system", object_type="student", object_id=st.id,
                         term_id=st.term_id, station=self.station_name, ip=self.ip, xh=st.xh,
                         category="collect_code", code=code, server_code=st.collect_code)
            receipt.outcome = "conflict"
            return
        previous = st.collect_code
        st.collect_code = code
        st.collect_code_at = _parse_at(p.get("at")) or utcnow()
        self.s.flush()
        audit.record(self.s, "student.collect_code", actor=self.actor(p.get("actor")), object_type="student",
                     object_id=st.id, term_id=st.term_id, station=self.station_name, ip=self.ip, xh=st.xh, code=code,
                     previous=previous, via="station_node")
        receipt.outcome = "applied"

    def _keep_audit(self, entry_id: str, a: dict, receipt: SyncReceipt) -> None:
        action = str(a.get("action") or "")[:58]
        if not action:
            return
        raw = a.get("detail") if isinstance(a.get("detail"), dict) else {}
        # the node's detail keys never take the place of this entry's own fields
        detail = {(f"node_{k}" if k in _RESERVED else str(k)[:64]): v for k, v in raw.items()}
        e = audit.entry(f"node.{action}", actor=str(a.get("actor") or "node")[:80],
                        object_type=(str(a["object_type"])[:32] if a.get("object_type") else None),
                        object_id=None, term_id=self.token.term_id,
                        photo_sha256=(str(a["photo_sha256"])[:64] if a.get("photo_sha256") else None),
                        station=str(a.get("station") or self.station_name)[:64], ip=self.ip,
                        **detail, node=self.node_id, node_entry=entry_id,
                        node_object=f"{a.get('object_type')}:{a.get('object_id')}", central_photo=receipt.photo_id,
                        **self._extra)
        e.at = _parse_at(a.get("at")) or utcnow()
        self.s.add(e)
        self.s.flush()


_RESERVED = frozenset({"action", "actor", "object_type", "object_id", "term_id", "photo_sha256", "station", "ip",
                       "node", "node_entry", "node_object", "central_photo", "node_qc_report"})


def _parse_at(v: Any) -> dt.datetime | None:
    if not v:
        return None
    try:
        d = dt.datetime.fromisoformat(str(v).rstrip("Z"))
    except ValueError:
        return None
    return d.replace(tzinfo=None)


def push(session: Session, store: PhotoStore, token: StationToken, body: dict[str, Any], *,
         ip: str | None = None) -> dict[str, Any]:
    """Apply a node's pushed entries in order, each at most once.

    Returns ``{"results": [{"entry_id", "outcome", "duplicate"}], "applied": n}``.  Raises
    :class:`SyncError` (naming the entry) for anything refused; the caller rolls back.
    """
    node_id = str(body.get("node_id") or "")
    station_name = str(body.get("station") or "").strip()[:64]
    entries = body.get("entries")
    if not node_id or len(node_id) > 40 or ":" in node_id or not station_name or not isinstance(entries, list):
        raise SyncError("bad_request", "同步请求格式不正确（node_id、station、entries）", 400)
    if len(entries) > MAX_ENTRIES:
        raise SyncError("too_many", f"一次最多同步 {MAX_ENTRIES} 条", 413)
    ctx = _Push(session, store, token, node_id, station_name, ip)
    results = []
    applied = 0
    for e in entries:
        if not isinstance(e, dict):
            raise SyncError("bad_entry", "同步条目格式不正确", 422)
        entry_id = str(e.get("entry_id") or "")
        done = session.scalar(select(SyncReceipt).where(SyncReceipt.entry_id == entry_id))
        if done is not None:
            if done.token_id != token.id:
                raise SyncError("bad_entry", "该条目已由另一个工位令牌同步过", 409, entry_id)
            results.append({"entry_id": entry_id, "outcome": done.outcome, "duplicate": True})
            continue
        r = ctx.apply(e)
        applied += 1
        results.append({"entry_id": entry_id, "outcome": r.outcome, "duplicate": False})
    token.last_used_at = utcnow()
    if applied:
        audit.record(session, "sync.push", actor=f"station-token:{token.prefix}", object_type="station_token",
                     object_id=token.id, term_id=token.term_id, station=station_name, ip=ip, node=node_id,
                     applied=applied, duplicates=len(results) - applied)
    session.flush()
    return {"results": results, "applied": applied}


CONFLICT_DECISIONS = {"use_node": "采用离线工位的照片", "keep_server": "保留服务器上的现状（离线照片作废）"}


def decide_conflict(session: Session, item: ReviewItem, decision: str, actor: User, *, note: str = "",
                    ip: str | None = None) -> ReviewItem:
    """An administrator settles a ``sync_conflict`` item: ``use_node`` approves the node's
    pending photo (the approved one, if any, becomes superseded — both stay on record);
    ``keep_server`` rejects it.  Raises :class:`SyncError` for what is not allowed."""
    note = (note or "").strip()
    if item.kind != ReviewKind.SYNC_CONFLICT.value or item.status != "open":
        raise SyncError("state", "该事项不是待处理的同步冲突", 409)
    if getattr(actor, "role", None) != Role.ADMIN.value:
        raise SyncError("forbidden", "只有管理员可以处理同步冲突", 403)
    if decision not in CONFLICT_DECISIONS:
        raise SyncError("bad_decision", f"未知的处理方式：{decision}", 400)
    if len(note) < 2:
        raise SyncError("note_required", "请填写处理说明", 400)
    photo = item.photo
    if photo is None:
        raise SyncError("state", "该冲突没有对应的照片", 409)
    try:
        if decision == "use_node":
            photos.approve(session, photo, actor, checklist_ok=True,
                           override_reason=note if photo.qc_verdict not in ("pass", "warn") else None, ip=ip)
        elif photo.status in photos.DECIDABLE:
            photos.reject(session, photo, actor, reason=note, action="photo.reject", ip=ip)
    except photos.PhotoError as e:
        raise SyncError(e.code, e.message, 409) from None
    item.status = "resolved"
    item.resolution = f"{CONFLICT_DECISIONS[decision]}：{note}"[:1000]
    item.resolved_by_id = actor.id
    item.resolved_at = utcnow()
    session.flush()
    audit.record(session, "review.resolve", actor=actor, object_type="review_item", object_id=item.id,
                 term_id=item.term_id, photo_sha256=photo.sha256, ip=ip, kind=item.kind, xh=item.student.xh,
                 decision=decision, category=item.category, resolution=item.resolution[:200])
    return item


def withdraw_student(session: Session, student: Student, *, actor: User | str | None, reason: str = "",
                     ip: str | None = None) -> bool:
    """Take a student off the roster (kept, marked withdrawn); ``True`` when it changed."""
    if student.withdrawn_at is not None:
        return False
    student.withdrawn_at = utcnow()
    session.flush()
    audit.record(session, "student.withdraw", actor=actor, object_type="student", object_id=student.id,
                 term_id=student.term_id, ip=ip, xh=student.xh, reason=reason)
    return True


def restore_student(session: Session, student: Student, *, actor: User | str | None, reason: str = "",
                    ip: str | None = None) -> bool:
    """Put a withdrawn student back on the roster; ``True`` when it changed.  Photos kept
    while withdrawn are untouched (an approved one counts again)."""
    if student.withdrawn_at is None:
        return False
    was = student.withdrawn_at
    student.withdrawn_at = None
    session.flush()
    audit.record(session, "student.restore", actor=actor, object_type="student", object_id=student.id,
                 term_id=student.term_id, ip=ip, xh=student.xh, reason=reason, withdrawn_at=was.isoformat(timespec="seconds"))
    return True


def resolve_unit(session: Session, ref: str) -> OrgUnit | None:
    return find_unit(session, ref)
