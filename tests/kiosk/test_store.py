import hashlib
import os

import pytest

from kiosk.store import PhotoStore, StoreError


def test_put_is_content_addressed_and_idempotent(tmp_path):
    st = PhotoStore(tmp_path)
    data = b"\xff\xd8 photo bytes \xff\xd9"
    h = st.put(data)
    assert h == hashlib.sha256(data).hexdigest()
    p = st.path_for(h)
    assert p == tmp_path / h[:2] / h[2:4] / h and p.read_bytes() == data
    mtime = p.stat().st_mtime_ns
    assert st.put(data) == h and p.stat().st_mtime_ns == mtime  # not rewritten
    assert st.get(h) == data and st.verify(h)


def test_no_temp_files_left_and_failed_write_leaves_nothing(tmp_path, monkeypatch):
    st = PhotoStore(tmp_path)
    h = st.put(b"abc")
    assert [f.name for f in st.path_for(h).parent.iterdir()] == [h]

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        st.put(b"other bytes")
    h2 = hashlib.sha256(b"other bytes").hexdigest()
    assert not st.exists(h2)
    assert not any(f.name.startswith(".tmp-") for f in tmp_path.rglob("*"))


def test_tampered_file_fails_verify_and_bad_names_are_refused(tmp_path):
    st = PhotoStore(tmp_path)
    h = st.put(b"original")
    st.path_for(h).write_bytes(b"changed")
    assert not st.verify(h)
    with pytest.raises(StoreError):
        st.path_for("../../etc/passwd")
    with pytest.raises(StoreError):
        st.get("0" * 64)


def test_deferred_sync_skips_fsync_until_sync_and_only_in_its_thread(tmp_path, monkeypatch):
    import threading

    st = PhotoStore(tmp_path)
    calls = {"fsync": 0, "sync": 0}
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.__setitem__("fsync", calls["fsync"] + 1), real_fsync(fd)))
    monkeypatch.setattr(os, "sync", lambda: calls.__setitem__("sync", calls["sync"] + 1))
    with st.deferred_sync():
        h = st.put(b"one")
        st.put(b"two")
        assert calls == {"fsync": 0, "sync": 0} and st.get(h) == b"one"   # whole file, visible
        t = threading.Thread(target=st.put, args=(b"other thread",))
        t.start()
        t.join()
        assert calls["fsync"] == 2                                        # file + directory, as usual
        st.sync()
        assert calls["sync"] == 1
        st.sync()
        assert calls["sync"] == 1                                         # nothing new to sync
        st.put(b"three")
    assert calls["sync"] == 2                                             # the block's end syncs
    st.put(b"after")
    assert calls["fsync"] == 4


def test_get_verified_names_the_hash_of_a_stale_or_missing_copy(tmp_path):
    """Workers on other machines read photos by hash: a torn or stale copy on the shared
    mount is an error naming the hash, never other bytes."""
    st = PhotoStore(tmp_path)
    data = b"\xff\xd8 the real photo \xff\xd9" * 50
    h = st.put(data)
    assert st.get_verified(h) == data
    st.path_for(h).write_bytes(data[:100])                  # torn: half a copy
    with pytest.raises(StoreError) as e:
        st.get_verified(h)
    assert e.value.code == "store_mismatch" and e.value.sha256 == h and h in str(e.value)
    st.path_for(h).unlink()
    with pytest.raises(StoreError) as e:
        st.get_verified(h)
    assert e.value.code == "store_missing" and e.value.sha256 == h
