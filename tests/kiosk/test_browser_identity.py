"""The side-by-side duplicate review in real headless Chromium: open, look, decide, audit."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from kiosk.db import get_db
from kiosk.models import AuditEntry, ReviewItem, Role
import qc
from kiosk.services import identity, photos, users
from qc.runner import make_context
from tests.browser import LiveServer, browser, screenshot

from . import facephotos as fp
from .conftest import make_app
from .factories import report, setup_term

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("db_backend")]


def test_admin_reviews_a_duplicate_side_by_side_and_decides(tmp_path, playwright_instance, corpus_dir):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    store = app.extensions["kiosk_store"]
    with get_db(app).session() as s:
        s.info["kiosk_store"] = store
        users.create_user(s, "boss", "correct-horse", Role.ADMIN, display_name="教务管理员")
        _t, _c, (a, b) = setup_term(s, n=2)
        for st, data in ((a, fp.spec("damon_plain_1.jpg")), (b, fp.recoded(fp.spec("damon_plain_1.jpg"), scale=0.7))):
            p = photos.record_photo(s, store, st, original=data, spec=data, report=report("pass"),
                                    source="intake", actor="t")
            photos.approve(s, p, "t")
        item_id = s.scalar(select(ReviewItem.id).where(ReviewItem.student_id == b.id))
        xh_a, xh_b, idn_b = a.xh, b.xh, b.id_number
        # An identity warning: enrolment photo (side light) vs a new photo with the eyes shut.
        _t, _c, (w,) = setup_term(s, n=1, start=30)
        ref = fp.corpus("yale01_leftlight.png")
        w.reference_sha256 = store.put(ref)
        w.reference_encoding = fp.encoding_of(ref).tobytes()
        data = fp.spec("yale01_sleepy.png")
        ctx = make_context(data, qc.load_profile())
        rep = qc.check_photo(ctx, reference=identity.reference_for(w))
        pw = photos.record_photo(s, store, w, original=data, spec=data, report=rep, source="capture", actor="t")
        warn_id = identity.after_check(s, pw, rep, "t", ctx=ctx).id
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        page.goto(srv.url + "/login")
        page.fill("#username", "boss")
        page.fill("#password", "correct-horse")
        page.click("#login-btn")
        page.wait_for_url(srv.url + "/admin/")
        page.click("text=身份核对")
        page.wait_for_url(srv.url + "/identity/")
        assert page.locator("#identity-items tbody tr").count() == 3   # the pair (both sides) + one identity
        page.click(f"tr[data-item='{item_id}'] >> text=查看")
        page.wait_for_url(srv.url + f"/identity/items/{item_id}")
        page.wait_for_function("document.querySelector('#left-photo').naturalWidth > 0 && "
                               "document.querySelector('#right-photo').naturalWidth > 0")
        assert page.evaluate("document.querySelector('#right-photo').naturalWidth") == 480
        text = page.inner_text("main")
        assert "重复照片" in text and xh_a in text and xh_b in text
        assert idn_b not in text and idn_b[:4] + "**********" in text
        screenshot(page, "identity-duplicate-side-by-side")
        page.fill("#note", "同一张照片交了两次：作废另一学生的照片，通知其重拍")
        page.click("#btn-reject_other")
        page.wait_for_selector("#resolution")
        assert "已记录处理结果" in page.inner_text("main")
        assert page.inner_text("#item-status") == "已处理"
        assert "duplicate.decide" in page.inner_text("#history")
        screenshot(page, "identity-duplicate-decided")
        page.goto(srv.url + f"/identity/items/{warn_id}")
        page.wait_for_function("document.querySelector('#left-photo').naturalWidth > 0 && "
                               "document.querySelector('#right-photo').naturalWidth > 0")
        assert "与入学照片不符" in page.inner_text("h1")
        assert 0.5 < float(page.inner_text("#distance")) <= 0.6
        screenshot(page, "identity-warn-side-by-side")
    with get_db(app).session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "duplicate.decide"))
        assert entry.actor == "boss" and entry.detail["decision"] == "reject_other"
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "photo.withdraw")) is not None
        assert all(i.status == "resolved" for i in s.scalars(select(ReviewItem).where(ReviewItem.kind != "identity")))
