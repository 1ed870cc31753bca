"""Reference (enrolment) photos: import by 学号 / 身份证号, per-file report, encodings once."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

import qc.faces
from kiosk import create_app
from kiosk.cli import main as cli
from kiosk.db import get_db
from kiosk.models import AuditEntry
from kiosk.services import references
from kiosk.store import PhotoStore, sha256_hex

from . import facephotos as fp
from .factories import setup_term


@pytest.fixture
def store(app):
    return app.extensions["kiosk_store"]


@pytest.fixture
def count_encodes(monkeypatch):
    calls = []
    real = qc.faces.encode

    def counting(img, face, **kw):
        calls.append(face)
        return real(img, face, **kw)

    monkeypatch.setattr(qc.faces, "encode", counting)
    return calls


def _zip(path, files: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def test_zip_named_by_xh_and_id_number_with_bad_files_reported(tmp_path, session, store, corpus_dir, count_encodes):
    term, _c, st = setup_term(session, n=6)
    bad_id = st[5].id_number[:-1] + ("0" if st[5].id_number[-1] != "0" else "1")
    z = _zip(tmp_path / "refs.zip", {
        f"{st[0].xh}.jpg": fp.corpus("damon_plain_1.jpg"),                   # by 学号
        f"入学照片/{st[1].id_number}.JPG": fp.corpus("frll_009_neutral_front.jpg"),  # by 身份证号, in a folder
        f"{st[2].xh}_{st[2].name}.jpg": fp.corpus("jolie_white_bg.jpg"),     # 学号_姓名
        "9999999.jpg": fp.corpus("pichai_white_bg.jpg"),                     # nobody's number
        f"{st[3].xh}.png": fp.corpus("blue_backdrop_no_person.png"),        # no face
        f"{st[4].xh}.jpg": fp.corpus("harington_leslie_pair.jpg"),          # two faces
        f"{st[5].xh}.jpg": b"this is not a photo",                          # not an image
        f"{st[0].id_number}.jpg": fp.corpus("damon_plain_2.jpg"),           # second file for student 0
        f"{bad_id}.jpg": fp.corpus("damon_plain_3.jpg"),                     # check character wrong
        "../escape.jpg": fp.corpus("damon_plain_3.jpg"),                     # zip slip
        "__MACOSX/._x.jpg": b"junk",
    })
    rep = references.import_references(session, store, term, z, actor="test")
    by = {f.name: f for f in rep.files}
    assert by[f"{st[0].xh}.jpg"].outcome == "imported"
    assert by[f"入学照片/{st[1].id_number}.JPG"].outcome == "imported"
    assert by[f"{st[2].xh}_{st[2].name}.jpg"].outcome == "imported"
    assert by["9999999.jpg"].code == "unknown_key" and "9999999" in by["9999999.jpg"].message_zh
    assert by[f"{st[3].xh}.png"].code == "no_face"
    assert by[f"{st[4].xh}.jpg"].code == "multiple_faces" and "2 张" in by[f"{st[4].xh}.jpg"].message_zh
    assert by[f"{st[5].xh}.jpg"].code == "not_an_image"
    dup = by[f"{st[0].id_number}.jpg"]
    assert dup.code == "duplicate_for_student" and st[0].xh in dup.message_zh
    assert by[f"{bad_id}.jpg"].code == "bad_id" and "校验位" in by[f"{bad_id}.jpg"].message_zh
    assert by["../escape.jpg"].code == "unsafe_path"
    assert rep.summary["imported"] == 3 and len(rep.problems) == 7
    assert len(count_encodes) == 3  # one encoding per imported photo, none for refused files

    for s in st[:3]:
        assert len(s.reference_encoding) == 128 * 4
        assert store.verify(s.reference_sha256)
        assert s.reference_at is not None
    assert st[0].reference_sha256 == sha256_hex(fp.corpus("damon_plain_1.jpg"))
    assert all(s.reference_encoding is None for s in st[3:])
    # The stored encoding is the one the QC engine computes for that photo.
    enc = np.frombuffer(st[0].reference_encoding, np.float32)
    assert float(np.linalg.norm(enc - fp.encoding_of(fp.corpus("damon_plain_1.jpg")))) < 1e-5
    a = session.scalar(select(AuditEntry).where(AuditEntry.action == "references.import"))
    assert a.detail["summary"]["imported"] == 3 and a.detail["changes_total"] == 3
    assert {c["xh"] for c in a.detail["changes"]} == {st[0].xh, st[1].xh, st[2].xh}


def test_reimport_of_the_same_bytes_computes_nothing_and_new_bytes_replace(tmp_path, session, store, corpus_dir,
                                                                            count_encodes):
    term, _c, st = setup_term(session, n=2)
    z = _zip(tmp_path / "a.zip", {f"{st[0].xh}.jpg": fp.corpus("damon_plain_1.jpg"),
                                   f"{st[1].id_number}.jpg": fp.corpus("frll_009_neutral_front.jpg")})
    first = references.import_references(session, store, term, z, key="auto")
    assert first.encoded == 2 and len(count_encodes) == 2
    blob = st[0].reference_encoding
    again = references.import_references(session, store, term, z)
    assert [f.outcome for f in again.files] == ["unchanged", "unchanged"]
    assert again.encoded == 0 and len(count_encodes) == 2       # the encoder was not called again
    assert st[0].reference_encoding == blob
    # A new enrolment photo for one student: replaced, one encoding computed.
    z2 = _zip(tmp_path / "b.zip", {f"{st[0].xh}.jpg": fp.corpus("damon_plain_2.jpg")})
    upd = references.import_references(session, store, term, z2)
    assert upd.files[0].outcome == "updated" and len(count_encodes) == 3
    assert st[0].reference_sha256 == sha256_hex(fp.corpus("damon_plain_2.jpg"))
    # The same bytes for another student reuse the encoding, with a warning.
    z3 = _zip(tmp_path / "c.zip", {f"{st[1].xh}.jpg": fp.corpus("damon_plain_2.jpg")})
    same = references.import_references(session, store, term, z3)
    assert same.files[0].outcome == "updated" and len(count_encodes) == 3
    assert st[0].xh in same.files[0].warnings[0]
    assert st[1].reference_encoding == st[0].reference_encoding


def test_key_forced_to_xh_or_sfzh(tmp_path, session, store, corpus_dir):
    term, _c, st = setup_term(session, n=2)
    files = {f"{st[0].xh}.jpg": fp.corpus("damon_plain_1.jpg"),
             f"{st[1].id_number.lower()}.jpg": fp.corpus("frll_009_neutral_front.jpg")}
    z = _zip(tmp_path / "k.zip", files)
    by_xh = references.import_references(session, store, term, z, key="xh")
    assert [f.outcome for f in by_xh.files] == ["imported", "unmatched"]
    by_id = references.import_references(session, store, term, z, key="sfzh")
    assert [f.outcome for f in by_id.files] == ["unmatched", "imported"]   # lower-case x accepted too
    with pytest.raises(ValueError):
        references.import_references(session, store, term, z, key="name")


def _cli_env(tmp_path, monkeypatch, n=3):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "inst"))
    app = create_app()
    d = get_db(app)
    d.upgrade()
    with d.session() as s:
        term, _c, st = setup_term(s, n=n)
        ids = [(x.xh, x.id_number) for x in st]
    return app, ids


def test_cli_exit_codes_and_json(db_backend, tmp_path, monkeypatch, corpus_dir):
    app, ids = _cli_env(tmp_path, monkeypatch)
    folder = tmp_path / "refs"
    folder.mkdir()
    (folder / f"{ids[0][0]}.jpg").write_bytes(fp.corpus("damon_plain_1.jpg"))
    (folder / f"{ids[1][1]}.jpg").write_bytes(fp.corpus("frll_009_neutral_front.jpg"))
    r = CliRunner().invoke(cli, ["references", "import", str(folder), "--term", "2027-07"])
    assert r.exit_code == 0, r.output
    assert "导入 2" in r.output
    (folder / "unknown.jpg").write_bytes(b"x")
    r = CliRunner().invoke(cli, ["references", "import", str(folder), "--term", "2027-07", "--json"])
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    assert out["summary"] == {"unchanged": 2, "unmatched": 1} and out["encoded"] == 0
    assert {f["outcome"] for f in out["files"]} == {"unchanged", "unmatched"}
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"not a zip at all")
    r = CliRunner().invoke(cli, ["references", "import", str(bogus), "--term", "2027-07", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "not_archive"
    r = CliRunner().invoke(cli, ["references", "import", str(folder), "--term", "2031-01"])
    assert r.exit_code == 2 and "2031-01" in r.output
    r = CliRunner().invoke(cli, ["references", "import", str(tmp_path / "missing"), "--term", "2027-07"])
    assert r.exit_code == 2
    with get_db(app).session() as s:
        n = len(s.scalars(select(AuditEntry).where(AuditEntry.action == "references.import")).all())
    assert n == 2  # the unreadable archive wrote nothing
    assert PhotoStore(app.config["PHOTO_STORE"]).exists(sha256_hex(fp.corpus("damon_plain_1.jpg")))
