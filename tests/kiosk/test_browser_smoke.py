"""The admin pages in real headless Chromium: log in, import a roster, see it."""
from __future__ import annotations

import pytest

from kiosk.db import get_db
from kiosk.models import Role
from kiosk.services import terms, users
from tests.browser import LiveServer, browser, screenshot

from .conftest import make_app
from .rosterdata import HEADER, csv_bytes, rows

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("db_backend")]


def test_admin_logs_in_and_imports_a_gbk_roster(tmp_path, playwright_instance):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with get_db(app).session() as s:
        users.create_user(s, "boss", "correct-horse", Role.ADMIN)
        terms.ensure_term(s, "2027-07")
    f = tmp_path / "名单.csv"
    f.write_bytes(csv_bytes(HEADER, rows(4), "gbk"))
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        page.goto(srv.url + "/login")
        page.fill("#username", "boss")
        page.fill("#password", "correct-horse")
        page.click("#login-btn")
        page.wait_for_url(srv.url + "/admin/")
        page.goto(srv.url + "/admin/terms/2027-07/roster")
        page.set_input_files("input[name=file]", str(f))
        page.click("#upload-btn")
        assert page.inner_text("#n-created") == "4"
        screenshot(page, "admin-roster-import")
        page.goto(srv.url + "/admin/terms/2027-07/students")
        assert page.locator("tbody tr").count() == 4
        assert "6101**********" in page.inner_text("tbody")
