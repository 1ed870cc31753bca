"""The /identity pages: scoping, photos only for authorised users, decisions with audit."""
from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from kiosk.db import get_db
from kiosk.models import AuditEntry, ReviewItem, Role
from kiosk.services import orgs, photos, users

from . import facephotos as fp
from .conftest import login
from .factories import report, setup_term


@pytest.fixture
def world(app, corpus_dir):
    """Two centres; a duplicate pair inside centre A, one across A and B; accounts."""
    db = get_db(app)
    store = app.extensions["kiosk_store"]
    with db.session() as s:
        s.info["kiosk_store"] = store
        _t, ca, st = setup_term(s, n=3)
        cb = orgs.OrgCache(s).centre("碑林学习中心", "西安分部")
        _t, _cb, (other,) = setup_term(s, n=1, start=50, centre="碑林学习中心")
        users.create_user(s, "boss", "password-123", Role.ADMIN)
        users.create_user(s, "opa", "password-123", Role.OPERATOR, org_unit_id=ca.id)
        users.create_user(s, "opb", "password-123", Role.OPERATOR, org_unit_id=cb.id)
        users.create_user(s, "unit", "password-123", Role.IMAGING_UNIT,
                          imaging_unit_id=orgs.ensure_imaging_unit(s, "新华社西安").id)
        ids = {}
        for key, student, data in (("a", st[0], fp.spec("damon_plain_1.jpg")),
                                   ("b", st[1], fp.spec("damon_plain_3.jpg")),
                                   ("c", st[2], fp.spec("frll_009_neutral_front.jpg")),
                                   ("x", other, fp.recoded(fp.spec("frll_009_neutral_front.jpg"), scale=0.8))):
            p = photos.record_photo(s, store, student, original=data, spec=data, report=report("pass"),
                                    source="intake", actor="t")
            photos.approve(s, p, "t")
            ids[key] = p.id
        items = s.scalars(select(ReviewItem).order_by(ReviewItem.id)).all()
        ids["inside"] = next(i.id for i in items if i.student_id == st[0].id)
        ids["across"] = next(i.id for i in items if i.student_id == st[2].id)
        ids["student_a"] = st[0].id
        ids["xh_a"], ids["xh_b"], ids["idn_a"] = st[0].xh, st[1].xh, st[0].id_number
    return ids


def test_anonymous_and_wrong_roles_get_no_photos(client, world):
    for url in ("/identity/", f"/identity/photos/{world['a']}", f"/identity/items/{world['inside']}"):
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    login(client, "unit", "password-123")
    assert client.get(f"/identity/photos/{world['a']}").status_code == 403
    assert client.get("/identity/").status_code == 403


def test_operator_sees_own_centre_side_by_side_and_decides(client, app, world):
    login(client, "opa", "password-123")
    html = client.get("/identity/").get_data(as_text=True)
    assert world["xh_a"] in html and world["xh_b"] in html
    assert "仅管理员可处理" in html                                   # the pair across two centres
    page = client.get(f"/identity/items/{world['inside']}").get_data(as_text=True)
    assert "疑似同一人两个学号" in page and world["idn_a"] not in page
    assert world["idn_a"][:4] + "**********" + world["idn_a"][-4:] in page
    assert f"/identity/photos/{world['a']}" in page and f"/identity/photos/{world['b']}" in page
    img = client.get(f"/identity/photos/{world['a']}")
    assert img.status_code == 200 and img.mimetype == "image/jpeg" and img.data[:2] == b"\xff\xd8"
    assert "no-store" in img.headers["Cache-Control"]
    assert client.get(f"/identity/items/{world['across']}").status_code == 403
    assert client.get(f"/identity/photos/{world['x']}").status_code == 403   # other centre's photo
    r = client.post(f"/identity/items/{world['inside']}/decide", data={"decision": "keep_both", "note": ""})
    assert r.status_code == 302
    assert "请填写处理说明" in client.get(r.headers["Location"]).get_data(as_text=True)
    r = client.post(f"/identity/items/{world['inside']}/decide",
                    data={"decision": "keep_both", "note": "兄弟二人，已核对证件"}, follow_redirects=True)
    assert "已记录处理结果" in r.get_data(as_text=True)
    with get_db(app).session() as s:
        item = s.get(ReviewItem, world["inside"])
        assert item.status == "resolved" and item.resolved_by_id is not None
        a = s.scalar(select(AuditEntry).where(AuditEntry.action == "duplicate.decide"))
        assert a.actor == "opa" and a.detail["decision"] == "keep_both" and a.ip
    assert "兄弟二人" in client.get(f"/identity/items/{world['inside']}").get_data(as_text=True)


def test_admin_decides_across_centres_and_pages_render_in_english(client, app, world):
    login(client, "boss", "password-123")
    page = client.get(f"/identity/items/{world['across']}").get_data(as_text=True)
    assert "重复照片" in page and 'id="btn-reject_other"' in page
    client.post(f"/identity/items/{world['across']}/decide", data={"decision": "reject_other", "note": "同一张照片"})
    with get_db(app).session() as s:
        assert s.get(ReviewItem, world["across"]).status == "resolved"
        assert photos.approved_photo(s, s.get(ReviewItem, world["across"]).other_student_id) is None
    en = client.get(f"/identity/items/{world['inside']}?lang=en").get_data(as_text=True)
    assert "Same face under two numbers" in en and "Face distance" in en
    assert client.get("/identity/items/999999").status_code == 404
    assert client.get("/identity/photos/999999").status_code == 404
    assert client.get(f"/identity/students/{world['student_a']}/reference").status_code == 404  # none imported


def test_admin_uploads_references(client, app, world):
    login(client, "boss", "password-123")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{world['xh_a']}.jpg", fp.corpus("damon_plain_2.jpg"))
        z.writestr("nobody.jpg", fp.corpus("damon_plain_2.jpg"))
    r = client.post("/identity/references/2027-07", data={"file": (io.BytesIO(buf.getvalue()), "refs.zip"), "key": "auto"},
                    content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="n-imported">1<' in html and "nobody" in html
    assert 'id="with-ref">1<' in html
    img = client.get(f"/identity/students/{world['student_a']}/reference")
    assert img.status_code == 200 and img.mimetype == "image/jpeg"
    r = client.post("/identity/references/2027-07", data={"file": (io.BytesIO(b"nope"), "x.zip")},
                    content_type="multipart/form-data")
    assert "不是 ZIP" in r.get_data(as_text=True)
    login(client, "opa", "password-123")
    assert client.get("/identity/references/2027-07").status_code == 403
