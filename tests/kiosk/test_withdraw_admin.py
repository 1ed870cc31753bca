"""Taking a student off a term's roster (撤销) and putting them back (恢复): the admin
student list, the CLI, who may do it, and the audit trail."""
from __future__ import annotations


import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kiosk.cli import main
from kiosk.db import get_db
from kiosk.models import AuditEntry, Role, Student
from kiosk.services import users

from .conftest import login, make_app
from .factories import setup_term


@pytest.fixture
def world(db_backend, tmp_path):
    app = make_app(tmp_path)
    with get_db(app).session() as s:
        _term, centre, studs = setup_term(s, n=3)
        users.create_user(s, "boss", "correct-horse", Role.ADMIN, actor="test")
        users.create_user(s, "op", "operator-pass", Role.OPERATOR, org_unit_id=centre.id, actor="test")
        s.commit()
        ids = [(st.id, st.xh, st.name) for st in studs]
    return app, ids


def _student(app, sid):
    with get_db(app).session() as s:
        st = s.get(Student, sid)
        return st.withdrawn_at


def _audit(app, action):
    with get_db(app).session() as s:
        return [(e.actor, e.object_id, dict(e.detail or {})) for e in
                s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def test_admin_withdraws_with_a_reason_and_restores(world):
    app, ids = world
    sid, xh, name = ids[1]
    c = app.test_client()
    login(c, "boss", "correct-horse")
    page = c.get("/admin/terms/2027-07/students").get_data(as_text=True)
    assert page.count('class="danger withdraw"') == 3 and "已撤销" not in page

    # no reason: refused, nothing changes
    r = c.post(f"/admin/terms/2027-07/students/{sid}/withdraw", data={"reason": " "}, follow_redirects=True)
    assert "请填写撤销原因" in r.get_data(as_text=True)
    assert _student(app, sid) is None and _audit(app, "student.withdraw") == []

    r = c.post(f"/admin/terms/2027-07/students/{sid}/withdraw", data={"reason": "延期毕业", "q": xh},
               follow_redirects=False)
    assert r.status_code == 302 and f"q={xh}" in r.headers["Location"]
    assert _student(app, sid) is not None
    page = c.get("/admin/terms/2027-07/students").get_data(as_text=True)
    assert page.count('class="badge withdrawn"') == 1 and page.count('class="danger withdraw"') == 2
    assert f'data-xh="{xh}"' in page and "恢复" in page
    (actor, obj, detail), = _audit(app, "student.withdraw")
    assert actor == "boss" and obj == str(sid) and detail["reason"] == "延期毕业" and detail["xh"] == xh

    # the admin home no longer counts the student as expected
    import re
    home = c.get("/admin/").get_data(as_text=True)
    assert re.findall(r'<td class="num">(\d+)</td>', home)[:2] == ["2", "0"]      # expected, approved

    # twice: nothing more happens
    r = c.post(f"/admin/terms/2027-07/students/{sid}/withdraw", data={"reason": "延期毕业"}, follow_redirects=True)
    assert f"{xh} 早已撤销" in r.get_data(as_text=True) and len(_audit(app, "student.withdraw")) == 1

    r = c.post(f"/admin/terms/2027-07/students/{sid}/restore", data={}, follow_redirects=True)
    assert f"已恢复 {xh} {name}" in r.get_data(as_text=True)
    assert _student(app, sid) is None
    (actor, _obj, detail), = _audit(app, "student.restore")
    assert actor == "boss" and detail["withdrawn_at"]
    assert "badge withdrawn" not in c.get("/admin/terms/2027-07/students").get_data(as_text=True)


def test_only_admins_and_only_students_of_that_term(world):
    app, ids = world
    sid = ids[0][0]
    c = app.test_client()
    login(c, "op", "operator-pass")
    assert c.post(f"/admin/terms/2027-07/students/{sid}/withdraw", data={"reason": "退学"}).status_code == 403
    assert _student(app, sid) is None
    c.post("/logout")
    login(c, "boss", "correct-horse")
    assert c.post(f"/admin/terms/2099-01/students/{sid}/withdraw", data={"reason": "退学"}).status_code == 404
    assert c.post(f"/admin/terms/2027-07/students/999999/withdraw", data={"reason": "退学"}).status_code == 404
    assert c.post(f"/admin/terms/2027-07/students/{sid}/delete", data={"reason": "退学"}).status_code == 404
    assert _student(app, sid) is None


def test_english_page_and_messages(world):
    app, ids = world
    c = app.test_client()
    login(c, "boss", "correct-horse")
    c.get("/admin/?lang=en")
    r = c.post(f"/admin/terms/2027-07/students/{ids[0][0]}/withdraw", data={"reason": "left"}, follow_redirects=True)
    text = r.get_data(as_text=True)
    assert "no longer counted as expected" in text and "Withdrawn" in text and "Restore" in text


def test_cli_restore(world, monkeypatch, tmp_path):
    app, ids = world
    xh = ids[2][1]
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    run = CliRunner()
    r = run.invoke(main, ["roster", "restore", xh, "--term", "2027-07"])
    assert r.exit_code == 0 and f"{xh} 未被撤销" in r.output
    assert run.invoke(main, ["roster", "withdraw", xh, "--term", "2027-07", "--reason", "退学"]).exit_code == 0
    assert _student(app, ids[2][0]) is not None
    r = run.invoke(main, ["roster", "restore", xh, "--term", "2027-07", "--reason", "误操作"])
    assert r.exit_code == 0 and f"已恢复 {xh}" in r.output
    assert _student(app, ids[2][0]) is None
    assert [d["reason"] for _a, _o, d in _audit(app, "student.restore")] == ["误操作"]
    r = run.invoke(main, ["roster", "restore", "0000", "--term", "2027-07"])
    assert r.exit_code == 2 and "错误 [not_found]" in r.output
