"""Races between two web processes / workers, for real: two threads, each with its own
database connection and session, reach the same decision at the same moment (a barrier
releases them after both have read the state they decide on).  On SQLite and on
PostgreSQL: exactly one winner, a coded error for the loser, and the database and the
audit log agree afterwards (nothing half-recorded)."""
from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from kiosk.models import AuditEntry, Batch, BatchItem, CaptureSession, Photo, ReviewItem, Role, Student, Term, User
from kiosk.services import batches, identity, photos, station

from .factories import add_photo, jpeg, report, setup_term, user


@pytest.fixture
def store(app):
    return app.extensions["kiosk_store"]


def race(*workers, timeout=60.0):
    """Run each ``worker(ready)`` in its own thread, with its own session; ``ready()``
    blocks until every worker has called it (both have read what they decide on).
    Returns one ``("ok", value)`` or ``("error", exception)`` per worker."""
    barrier = threading.Barrier(len(workers), timeout=timeout)
    results: list = [None] * len(workers)

    def run(i, fn):
        try:
            results[i] = ("ok", fn(barrier.wait))
        except Exception as e:  # noqa: BLE001 - the result is asserted by the test
            results[i] = ("error", e)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 30)
        assert not t.is_alive(), "a racing thread hung (deadlock?)"
    return results


def _audit(s, action, object_id=None):
    stmt = select(AuditEntry).where(AuditEntry.action == action)
    if object_id is not None:
        stmt = stmt.where(AuditEntry.object_id == str(object_id))
    return s.scalars(stmt.order_by(AuditEntry.id)).all()


def _one_winner(results, error_type, code):
    oks = [r for r in results if r[0] == "ok"]
    errors = [r[1] for r in results if r[0] == "error"]
    assert len(oks) == 1 and len(errors) == 1, results
    assert isinstance(errors[0], error_type) and errors[0].code == code, repr(errors[0])
    return oks[0][1], errors[0]


# ----------------------------------------------------------------- approvals
def test_the_same_photo_approved_twice_at_once_is_approved_once(db, store):
    with db.session() as s:
        _t, _c, (st,) = setup_term(s, n=1)
        pid = add_photo(s, store, st).id

    def approver(ready):
        with db.session() as s:
            p = s.get(Photo, pid)
            assert p.status == "captured"        # both saw it undecided
            ready()
            photos.approve(s, p, "station-op", run_hooks=False)
            return p.id

    _winner, err = _one_winner(race(approver, approver), photos.PhotoError, "state")
    assert "approved" in err.message
    with db.session() as s:
        assert s.get(Photo, pid).status == "approved"
        assert len(_audit(s, "photo.approve", pid)) == 1


def test_two_photos_of_one_student_approved_at_once_end_as_one_after_the_other(db, store):
    """Two stations approving two different photos of a student at the same moment: both
    are allowed decisions (a newer approval supersedes), so the database ends as if they
    were made one after the other — one approved photo, the other superseded, and the
    audit log telling exactly that — never two approved photos or a database error."""
    with db.session() as s:
        _t, _c, (st,) = setup_term(s, n=1)
        sid = st.id
        p1, p2 = add_photo(s, store, st).id, add_photo(s, store, st).id

    def approver(pid):
        def work(ready):
            with db.session() as s:
                p = s.get(Photo, pid)
                assert photos.approved_photo(s, p.student_id) is None     # both saw none approved
                ready()
                photos.approve(s, p, f"station-{pid}", run_hooks=False)
                return pid
        return work

    results = race(approver(p1), approver(p2))
    assert all(r[0] == "ok" for r in results), results
    with db.session() as s:
        status = {p.id: p.status for p in s.scalars(select(Photo).where(Photo.student_id == sid))}
        assert sorted(status.values()) == ["approved", "superseded"]
        winner = next(pid for pid, v in status.items() if v == "approved")
        loser = next(pid for pid, v in status.items() if v == "superseded")
        approvals = [(int(a.object_id), a.id) for a in _audit(s, "photo.approve")]
        assert sorted(p for p, _ in approvals) == sorted([p1, p2])
        assert [p for p, _ in approvals] == [loser, winner]            # approved first, then superseded
        (sup,) = _audit(s, "photo.supersede")
        assert int(sup.object_id) == loser and sup.detail["by_photo"] == winner
        assert approvals[0][1] < sup.id < approvals[1][1]
        (approve_w,) = _audit(s, "photo.approve", winner)
        assert approve_w.detail["superseded"] == loser


def _new_photo(student, seed):
    data = jpeg(seed)
    prepared = SimpleNamespace(spec=data, report=report("pass"), normalized=False, transform=None, encoding=None,
                               phash=None, refusal=None)
    return photos.NewPhoto(student=student, original=data, prepared=prepared, approve=True, original_name=f"{seed}.jpg")


def test_two_workers_auto_approving_for_one_student_one_wins_the_other_records_nothing(db, store):
    """Two intake workers (chunks of two archives) each hold a passing photo for the same
    student who has none approved, and approve it at once ("only if none is approved"):
    one photo is recorded and approved, the other chunk gets ``PhotoError("state")`` and
    its transaction leaves no photo, report or audit entry behind."""
    with db.session() as s:
        _t, _c, (st,) = setup_term(s, n=1)
        sid = st.id

    def worker(seed):
        def work(ready):
            with db.session() as s:
                student = s.get(Student, sid)
                assert photos.approved_photo(s, sid) is None
                ready()
                (p,) = photos.record_many(s, store, [_new_photo(student, seed)], source="intake", actor="intake")
                return p.id
        return work

    winner, err = _one_winner(race(worker(1), worker(2)), photos.PhotoError, "state")
    with db.session() as s:
        rows = s.scalars(select(Photo).where(Photo.student_id == sid)).all()
        assert [(p.id, p.status, p.version) for p in rows] == [(winner, "approved", 1)]
        assert [int(a.object_id) for a in _audit(s, "photo.intake")] == [winner]
        assert [int(a.object_id) for a in _audit(s, "photo.approve")] == [winner]


# ----------------------------------------------------------------- batches
def test_two_batch_builds_at_once_deliver_each_photo_once(db, store, tmp_path):
    """Two admins (or a web process and the CLI) build the term's unit batch at the same
    moment.  Both plan the same photos and write their ZIPs side by side; one records its
    batch, the other gets ``BatchError("conflict")`` and removes its ZIP: one batch, each
    photo delivered once, one audit entry, no stray file."""
    with db.session() as s:
        term, _c, studs = setup_term(s, n=4)
        tid = term.id
        for st in studs:
            st.collect_code = f"CHSI-{st.xh}"
            photos.approve(s, add_photo(s, store, st), "test", run_hooks=False)
        approved = sorted(p.id for p in s.scalars(select(Photo).where(Photo.status == "approved")))
    out = tmp_path / "out"

    def builder(name):
        def work(ready):
            s = db.sessionmaker()
            try:
                term = s.get(Term, tid)
                first = []

                def on_progress(done, total, arc):
                    if not first:            # both have planned and are writing their ZIPs
                        first.append(1)
                        ready()

                b, plan = batches.build_batch(s, store, term, out_dir=out, actor=name, commit=s.commit,
                                              on_progress=on_progress)
                return b.id, b.zip_name, len(plan.items)
            finally:
                s.rollback()
                s.close()
        return work

    (bid, zip_name, n), err = _one_winner(race(builder("admin-a"), builder("admin-b")), batches.BatchError,
                                          "conflict")
    assert n == 4
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 1
        assert sorted(s.scalars(select(BatchItem.photo_id))) == approved
        (entry,) = _audit(s, "batch.build")
        assert int(entry.object_id) == bid and sorted(entry.detail["photo_ids"]) == approved
        assert batches.plan_batch(s, s.get(Term, tid)).items == []
    assert sorted(p.name for p in Path(out).iterdir()) == [zip_name]


# ----------------------------------------------------------------- review items, collect codes
def test_two_reviewers_deciding_one_duplicate_pair_at_once_decide_it_once(db, store):
    """Two admins open the same duplicate pair; one rejects this side, the other the other
    side, at the same moment.  One decision is recorded (one photo withdrawn, both items
    resolved, one audit entry); the other gets ``DecisionError("resolved")``."""
    with db.session() as s:
        term, _c, (a, b) = setup_term(s, n=2)
        admin = user(s, "boss", role=Role.ADMIN)
        pa, pb = add_photo(s, store, a), add_photo(s, store, b)
        photos.approve(s, pa, "t", run_hooks=False)
        photos.approve(s, pb, "t", run_hooks=False)
        items = [ReviewItem(term_id=term.id, kind="duplicate_file", status="open", student_id=x.id,
                            photo_id=px.id, other_student_id=y.id, other_photo_id=py.id, distance=0.0)
                 for x, px, y, py in ((a, pa, b, pb), (b, pb, a, pa))]
        s.add_all(items)
        s.flush()
        item_id, admin_id, photo_ids = items[0].id, admin.id, (pa.id, pb.id)

    def reviewer(decision):
        def work(ready):
            with db.session() as s:
                item = s.get(ReviewItem, item_id)
                assert item.status == "open"
                ready()
                identity.decide(s, item, decision, s.get(User, admin_id), note="同一文件用于两个学号")
                return decision
        return work

    won, _err = _one_winner(race(reviewer("reject_this"), reviewer("reject_other")), identity.DecisionError,
                            "resolved")
    with db.session() as s:
        status = {pid: s.get(Photo, pid).status for pid in photo_ids}
        withdrawn = photo_ids[0] if won == "reject_this" else photo_ids[1]
        assert status == {pid: ("rejected" if pid == withdrawn else "approved") for pid in photo_ids}
        assert {i.status for i in s.scalars(select(ReviewItem))} == {"resolved"}
        (entry,) = _audit(s, "duplicate.decide")
        assert entry.detail["decision"] == won and entry.detail["photo_changed"] == withdrawn
        assert len(_audit(s, "photo.withdraw")) == 1


def test_one_collect_code_scanned_for_two_students_at_once_goes_to_one(db, store):
    """Two stations scan the same 图像采集码 for two different students at the same
    moment: one student gets it, the other station is told ``code_taken``."""
    with db.session() as s:
        term, centre, (a, b) = setup_term(s, n=2)
        ops = [user(s, f"op{i}", org_unit_id=centre.id) for i in (1, 2)]
        sessions = [station.start_session(s, op, term, station_name=f"S{i}") for i, op in enumerate(ops)]
        ids = [(cs.id, op.id, st.id) for cs, op, st in zip(sessions, ops, (a, b))]

    def scanner(cs_id, op_id, sid):
        def work(ready):
            with db.session() as s:
                cs, op, st = s.get(CaptureSession, cs_id), s.get(User, op_id), s.get(Student, sid)
                assert st.collect_code is None and cs.station is not None
                ready()
                station.store_collect_code(s, cs, st, "CHSI-2027-ABCDEF", op)
                return sid
        return work

    winner, err = _one_winner(race(*(scanner(*x) for x in ids)), station.StationError, "code_taken")
    with db.session() as s:
        assert {st.id: st.collect_code for st in s.scalars(select(Student))} == {
            x[2]: ("CHSI-2027-ABCDEF" if x[2] == winner else None) for x in ids}
        assert [int(e.object_id) for e in _audit(s, "student.collect_code")] == [winner]


def test_one_roster_imported_twice_at_once_creates_each_student_once(db):
    """Two admins upload the same roster into the term at the same moment: one import
    creates the students, the other finds them unchanged - no unique-index crash."""
    from kiosk.services import roster, terms

    from .rosterdata import HEADER, csv_bytes, rows

    data = csv_bytes(HEADER, rows(200))
    with db.session() as s:
        tid = terms.ensure_term(s, "2027-07").id

    def importer(name):
        def work(ready):
            with db.session() as s:
                term = s.get(Term, tid)
                ready()
                rep = roster.import_roster(s, term, data, "roster.csv", actor=name)
                assert rep.fatal is None
                return rep.created, rep.unchanged
        return work

    results = race(importer("admin-a"), importer("admin-b"))
    assert sorted(r[1] for r in results if r[0] == "ok") == [(0, 200), (200, 0)], results
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Student)) == 200
        assert len(_audit(s, "roster.import")) == 2


def test_two_people_resolving_one_review_item_at_once_resolve_it_once(db):
    """The review queue's "标记为已处理" by two people at once: one resolution recorded,
    the other told ``resolved``; one audit entry."""
    from kiosk.services import review

    with db.session() as s:
        term, centre, (st,) = setup_term(s, n=1)
        ops = [user(s, f"op{i}", org_unit_id=centre.id).id for i in (1, 2)]
        item = ReviewItem(term_id=term.id, kind="self_report", status="open", student_id=st.id)
        s.add(item)
        s.flush()
        item_id = item.id

    def resolver(op_id):
        def work(ready):
            with db.session() as s:
                it = s.get(ReviewItem, item_id)
                assert it.status == "open"
                ready()
                review.resolve(s, it, f"已约重拍（{op_id}）", s.get(User, op_id))
                return op_id
        return work

    winner, _err = _one_winner(race(*(resolver(o) for o in ops)), review.ReviewError, "resolved")
    with db.session() as s:
        it = s.get(ReviewItem, item_id)
        assert (it.status, it.resolved_by_id, it.resolution) == ("resolved", winner, f"已约重拍（{winner}）")
        (entry,) = _audit(s, "review.resolve")
        assert entry.actor_id == winner


# ----------------------------------------------------------------- names created twice
def _hold_then_commit(db, create, ready, hold=0.6):
    """Create in an open transaction, let the other worker start, then commit."""
    import time

    with db.session() as s:
        out = create(s)
        ready()
        time.sleep(hold)               # the other worker looks the name up and inserts now
        s.commit()
        return out


def test_one_username_created_twice_at_once_gives_the_loser_exists(db):
    """Two admins add the same account at the same moment: one account, the other admin
    gets ``exists`` (not a database error), one audit entry."""
    from kiosk.services import users

    def first(ready):
        return _hold_then_commit(db, lambda s: users.create_user(s, "zhang3", "password-123", Role.ADMIN,
                                                                  actor="admin-a").id, ready)

    def second(ready):
        ready()
        with db.session() as s:
            return users.create_user(s, "zhang3", "password-456", Role.ADMIN, actor="admin-b").id

    winner, err = _one_winner(race(first, second), users.UserError, "exists")
    with db.session() as s:
        assert s.scalars(select(User.id).where(User.username == "zhang3")).all() == [winner]
        assert len(_audit(s, "user.create")) == 1


def test_two_terms_rosters_naming_one_new_centre_at_once_share_it(db):
    """Rosters of two terms imported at the same moment both introduce the same new
    学习中心 (and imaging unit): both imports succeed and there is one centre."""
    from kiosk.models import ImagingUnit, OrgUnit
    from kiosk.services import orgs, terms

    with db.session() as s:
        terms.ensure_term(s, "2027-07")
        s.commit()

    def first(ready):
        def create(s):
            c = orgs.OrgCache(s).centre("新开学习中心", "新分部")
            orgs.ensure_imaging_unit(s, "新开采集单位")
            return c.id
        return _hold_then_commit(db, create, ready)

    def second(ready):
        with db.session() as s:
            cache = orgs.OrgCache(s)          # loaded before the other commits
            ready()
            c = cache.centre("新开学习中心", "新分部")
            u = orgs.ensure_imaging_unit(s, "新开采集单位")
            s.commit()
            return c.id, u.id

    results = race(first, second)
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert results[0][1] == results[1][1][0]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OrgUnit).where(OrgUnit.name == "新开学习中心")) == 1
        assert s.scalar(select(func.count()).select_from(OrgUnit).where(OrgUnit.name == "新分部")) == 1
        assert s.scalar(select(func.count()).select_from(ImagingUnit).where(ImagingUnit.name == "新开采集单位")) == 1
