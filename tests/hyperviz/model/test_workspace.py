"""The private copy of the bundled demo: made once, refreshed only when the bundled files change."""
import os

from hyperviz.model.workspace import writable_demo


def test_user_changes_survive_and_a_new_bundle_replaces_the_copy(tmp_path):
    src, dst = tmp_path / "assets", tmp_path / "copy"
    src.mkdir()
    (src / "demo.h5").write_bytes(b"v1")
    (src / "demo-zoo.h5").write_bytes(b"zoo")
    ws = writable_demo(src, dst)
    assert ws == dst / "demo.h5" and ws.read_bytes() == b"v1"
    ws.write_bytes(b"v1 + the user's samples")
    assert writable_demo(src, dst).read_bytes() == b"v1 + the user's samples"
    (src / "demo.h5").write_bytes(b"v2!")
    os.utime(src / "demo.h5", (1e9, 2e9))
    assert writable_demo(src, dst).read_bytes() == b"v2!"
