"""App factory, configuration layers, login, sessions, CSRF, roles, admin pages."""
from __future__ import annotations

import time

import pytest

from sqlalchemy import select

from kiosk import create_app
from kiosk.models import AuditEntry, Role
from kiosk.services import orgs, terms, users

from .conftest import csrf_from, login, make_app
from .rosterdata import HEADER, csv_bytes, rows


def test_config_layers_defaults_toml_env_test(tmp_path, monkeypatch):
    inst = tmp_path / "inst"
    inst.mkdir()
    (inst / "kiosk.toml").write_text('SCHOOL_NAME = "陕西开放大学"\nSESSION_HOURS = 4\nSELFCHECK_MAX_ATTEMPTS = 9\n',
                                     encoding="utf-8")
    monkeypatch.setenv("KIOSK_SESSION_HOURS", "6")
    monkeypatch.setenv("KIOSK_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    app = create_app({"INSTANCE_PATH": str(inst), "SELFCHECK_MAX_ATTEMPTS": 2})
    assert app.config["SCHOOL_NAME"] == "陕西开放大学"           # TOML over default
    assert app.config["SESSION_HOURS"] == 6                      # env over TOML
    assert app.config["SELFCHECK_MAX_ATTEMPTS"] == 2             # test dict over all
    assert app.config["DATABASE_URL"].endswith("other.db")
    assert app.config["QC_PROFILE"] == "chsi_xueli_v1"           # default
    monkeypatch.delenv("KIOSK_DATABASE_URL")
    app2 = create_app({"INSTANCE_PATH": str(inst)})
    assert app2.config["DATABASE_URL"] == f"sqlite:///{inst.resolve() / 'kiosk.sqlite3'}"
    assert (inst / "secret_key").is_file() or app2.config["SECRET_KEY"]


def _admin(db, username="boss"):
    with db.session() as s:
        users.create_user(s, username, "correct-horse", Role.ADMIN)


def test_login_logout_and_audit(app, db, client):
    _admin(db)
    r = login(client, "boss", "wrong-password")
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)
    r = login(client, "boss", "correct-horse")
    assert r.status_code == 302
    assert client.get("/admin/").status_code == 200
    client.post("/logout")
    assert client.get("/admin/").status_code == 302
    with db.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-3:] == ["auth.login_failed", "auth.login", "auth.logout"]


def test_a_forged_forwarded_for_header_is_recorded_safely(app, db, client):
    """X-Forwarded-For is the client's to write: 300 characters of it crashed the failed
    login's audit entry on PostgreSQL (ip is VARCHAR(64)); text that is no address is
    not recorded as one."""
    _admin(db)
    r = client.post("/login", data={"username": "boss", "password": "nope"},
                    headers={"X-Forwarded-For": "x" * 300 + ", 10.0.0.1"})
    assert r.status_code == 401
    r = client.post("/login", data={"username": "boss", "password": "nope"},
                    headers={"X-Forwarded-For": " 2001:db8::7 , 10.0.0.1"})
    assert r.status_code == 401
    with db.session() as s:
        ips = [e.ip for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login_failed")
                                       .order_by(AuditEntry.id))]
    assert ips == ["127.0.0.1", "2001:db8::7"]


def test_too_long_user_names_are_refused_with_a_code(session):
    with pytest.raises(users.UserError) as e:
        users.create_user(session, "u" * 65, "correct-horse", Role.ADMIN)
    assert e.value.code == "username" and "64" in e.value.message
    with pytest.raises(users.UserError) as e:
        users.create_user(session, "boss", "correct-horse", Role.ADMIN, display_name="名" * 101)
    assert e.value.code == "display_name"
    assert users.create_user(session, "u" * 64, "correct-horse", Role.ADMIN).username == "u" * 64


def test_session_idle_timeout(db_backend, tmp_path):
    app = make_app(tmp_path, SESSION_IDLE_MINUTES=0.001)
    from kiosk.db import get_db

    _admin(get_db(app))
    c = app.test_client()
    login(c, "boss", "correct-horse")
    time.sleep(0.2)
    r = c.get("/admin/", follow_redirects=True)
    assert "登录已过期" in r.get_data(as_text=True)


def test_csrf_is_enforced_when_enabled(db_backend, tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    from kiosk.db import get_db

    _admin(get_db(app))
    c = app.test_client()
    r = c.post("/login", data={"username": "boss", "password": "correct-horse"})
    assert r.status_code == 400 and "表单已过期" in r.get_data(as_text=True)
    token = csrf_from(c.get("/login").get_data(as_text=True))
    r = c.post("/login", data={"username": "boss", "password": "correct-horse", "csrf_token": token})
    assert r.status_code == 302


def test_roles_are_enforced(app, db, client):
    with db.session() as s:
        centre = orgs.OrgCache(s).centre("雁塔学习中心", "西安分部")
        users.create_user(s, "op", "operator-pass", Role.OPERATOR, org_unit_id=centre.id)
    login(client, "op", "operator-pass")
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/users").status_code == 403
    r = client.get("/api/v1/ping")
    assert r.status_code == 200


def test_api_errors_have_one_shape(client):
    r = client.get("/api/v1/does-not-exist")
    assert r.status_code == 404
    assert r.get_json() == {"ok": False, "error": {"code": "not_found", "message": "页面不存在"}}


def test_admin_roster_upload_page_and_student_list(app, db, client):
    _admin(db)
    with db.session() as s:
        terms.ensure_term(s, "2027-07")
    login(client, "boss", "correct-horse")
    body = rows(3)
    data = {"file": (__import__("io").BytesIO(csv_bytes(HEADER, body, "gbk")), "名单.csv")}
    r = client.post("/admin/terms/2027-07/roster", data=data, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="n-created">3<' in html
    r = client.get("/admin/terms/2027-07/students?q=" + body[1][0])
    html = r.get_data(as_text=True)
    assert "学生1" in html and "学生2" not in html
    assert body[1][3] not in html and body[1][3][:4] + "**********" in html  # masked ID
    r = client.get("/admin/terms/2027-07/students?q=" + body[2][3][-6:])  # last digits of the ID
    assert "学生2" in r.get_data(as_text=True)


def test_english_ui_is_available(client):
    r = client.get("/login?lang=en")
    assert "Log in" in r.get_data(as_text=True)
    r = client.get("/login")
    assert "Log in" in r.get_data(as_text=True)  # remembered in the session
    r = client.get("/login?lang=zh")
    assert "登录" in r.get_data(as_text=True)


def test_list_pager_keeps_the_filter(app, db, client):
    import html as h
    import re

    _admin(db)
    with db.session() as s:
        terms.ensure_term(s, "2027-07")
    login(client, "boss", "correct-horse")
    data = {"file": (__import__("io").BytesIO(csv_bytes(HEADER, rows(60), "gbk")), "名单.csv")}
    assert client.post("/admin/terms/2027-07/roster", data=data, content_type="multipart/form-data").status_code == 200

    def links(url):
        page = client.get(url).get_data(as_text=True)
        pager = page[page.index('class="pager"'):]
        pager = pager[:pager.index("</div>")]
        return [h.unescape(x) for x in re.findall(r'href="([^"]+)"', pager)], pager

    first, text = links("/admin/terms/2027-07/students?q=学生")
    assert "第 1 页 / 2" in text and len(first) == 1
    nxt = first[0]
    assert nxt.startswith("/admin/terms/2027-07/students?") and "page=2" in nxt and "q=%E5%AD%A6%E7%94%9F" in nxt
    second, text = links(nxt)
    assert "第 2 页 / 2" in text and len(second) == 1 and "page=1" in second[0] and "q=%E5%AD%A6%E7%94%9F" in second[0]
