"""An imaging unit uploads a ZIP in real headless Chromium and watches it being checked."""
from __future__ import annotations

import json

import pytest

from kiosk.db import get_db
from kiosk.models import Role
from kiosk.services import orgs
from tests.browser import LiveServer, browser, screenshot

from . import intakedata as data
from .conftest import make_app
from .factories import setup_term, user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("db_backend")]

#: Records every width the progress bar takes, across the page's reload at the end.
WATCH_BAR = """
document.addEventListener('DOMContentLoaded', function () {
  var bar = document.getElementById('job-bar');
  if (!bar) return;
  var seen = JSON.parse(sessionStorage.getItem('widths') || '[]');
  function note() { seen.push(bar.style.width); sessionStorage.setItem('widths', JSON.stringify(seen)); }
  note();
  new MutationObserver(note).observe(bar, {attributes: true, attributeFilter: ['style']});
});
"""


def test_unit_uploads_zip_sees_progress_and_report(tmp_path, playwright_instance, corpus_dir):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True, JOBS_WORKERS=1)
    with get_db(app).session() as s:
        term, _, st = setup_term(s, n=8)
        unit = orgs.ensure_imaging_unit(s, "新华社陕西分社")
        user(s, "xhs", role=Role.IMAGING_UNIT, imaging_unit_id=unit.id)
        xh = [x.xh for x in st]
        idn = st[1].id_number
    entries = [(f"{xh[i]}.jpg", data.spec_photo(30 + i)) for i in (0, 2, 3, 4, 5)]
    entries += [(f"李四_{idn}.jpg", data.spec_photo(40)), (f"{xh[6]}.jpg", data.spec_photo(41, "fail")),
                (f"{xh[7]}.jpg", data.spec_photo(42, "warn")), ("../../evil.jpg", b"x"), ("说明.txt", b"hi")]
    z = data.make_zip(tmp_path / "新华社-2027-07.zip", entries)
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        page.context.add_init_script(WATCH_BAR)
        page.goto(srv.url + "/login")
        page.fill("#username", "xhs")
        page.fill("#password", "password-123")
        page.click("#login-btn")
        page.wait_for_url(srv.url + "/unit/")
        page.select_option("#term", label=f"{term.code} {term.name}")
        page.set_input_files("#archive", str(z))
        page.click("#upload-btn")
        page.wait_for_url(srv.url + "/unit/jobs/*")
        assert page.locator(".progress").is_visible()
        page.wait_for_selector("#file-table", timeout=120_000)      # the page reloads when the job is done
        widths = json.loads(page.evaluate("sessionStorage.getItem('widths')"))
        assert widths[-1] == "100%" and any(w != "100%" for w in widths), widths
        assert page.inner_text("#job-text") == "处理完成"
        rows = page.locator("tr.file-row")
        assert rows.count() == len(entries)
        outcomes = [rows.nth(i).get_attribute("data-outcome") for i in range(rows.count())]
        assert outcomes == ["approved"] * 6 + ["rejected", "review", "skipped", "skipped"]
        assert page.inner_text("#n-approved") == "6" and page.inner_text("#n-rejected") == "1"
        assert idn not in page.content()                              # 身份证号 masked in file names
        assert xh[6] in page.inner_text("#missing-table") and "共 2 人" in page.inner_text("#missing-count")
        screenshot(page, "intake-job-report")
        page.goto(srv.url + "/unit/")
        assert page.locator("tr.job-row").count() == 1
        screenshot(page, "intake-unit-home")
