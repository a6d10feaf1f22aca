"""Tasks from a user's own files: IDX (gz or not), .npz, a folder of PNG / PGM / PPM images per class.
Every file is written here, tiny; nothing is downloaded."""
import gzip
import struct
import zlib

import numpy as np
import pytest

from core.errors import HyperVizError
from core.zoo.taskfiles import VAL_FRACTION, read_idx, read_png, read_pnm
from core.zoo.tasks import get_task, task_for_zoo


# ---- writers ----------------------------------------------------------------------------------
def write_idx(path, array, gz=False):
    array = np.asarray(array)
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}[array.dtype]
    data = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist_folder(folder, n_train=40, n_test=20, size=28, gz=True, seed=0):
    """IDX files named as MNIST ships them; labels 0..9, images uint8 whose mean depends on the label."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 20, (n, size, size)).astype(np.uint8) + (y[:, None, None] * 20).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{part}-images-idx3-ubyte{suffix}", x, gz)
        write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", y, gz)
        out[part] = (x, y)
    return out


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, img):
    """img uint8 [H, W] or [H, W, C]; each row uses another of the five PNG filters."""
    img = np.asarray(img, np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    h, w, c = img.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = img.reshape(h, w * c).astype(np.int32)
    out = b""
    prev = np.zeros(w * c, np.int32)
    for r in range(h):
        kind = r % 5
        line = raw[r]
        left = np.concatenate([np.zeros(c, np.int32), line[:-c]])
        upleft = np.concatenate([np.zeros(c, np.int32), prev[:-c]])
        if kind == 0:
            pred = np.zeros_like(line)
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prev
        elif kind == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        out += bytes([kind]) + ((line - pred) & 255).astype(np.uint8).tobytes()
        prev = line
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(out))
                     + _png_chunk(b"IEND", b""))
    return path


def write_pgm(path, img, ascii_=False):
    img = np.asarray(img, np.uint8)
    h, w = img.shape
    if ascii_:
        path.write_text(f"P2\n# a comment\n{w} {h}\n255\n" + " ".join(map(str, img.reshape(-1).tolist())) + "\n")
    else:
        path.write_bytes(f"P5\n{w} {h}\n255\n".encode() + img.tobytes())
    return path


# ---- IDX ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_is_a_task(tmp_path, gz):
    written = write_mnist_folder(tmp_path / "mnist", gz=gz)
    task = get_task(f"idx:{tmp_path / 'mnist'}")
    assert task.input_shape == (1, 28, 28) and task.n_classes == 10
    n_val = max(1, int(round(VAL_FRACTION * 4))) * 10              # 4 per class in train: 10%, at least 1 each
    assert (len(task.y_train), len(task.y_val), len(task.y_test)) == (40 - n_val, n_val, 20)
    x_test, y_test = written["t10k"]
    np.testing.assert_allclose(task.x_test[:, 0].numpy(), x_test / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(task.y_test.numpy(), y_test)
    # the training part and the validation part together are the training files, nothing twice
    x_train, _ = written["train"]
    ours = np.concatenate([task.x_train.numpy(), task.x_val.numpy()])[:, 0]
    assert sorted(map(bytes, (ours * 255).round().astype(np.uint8))) == sorted(map(bytes, x_train))
    src = task.describe()["source"]
    assert src["kind"] == "idx" and src["files"] == 4 and len(src["sha256"]) == 64 and "10%" in src["split"]


def test_idx_reader_checks_the_header(tmp_path):
    good = write_idx(tmp_path / "a-idx1-ubyte", np.arange(5, dtype=np.int32))
    assert read_idx(good).tolist() == [0, 1, 2, 3, 4]
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\0" * 8)
    with pytest.raises(HyperVizError, match=r"bad: not an IDX file"):
        read_idx(tmp_path / "bad")
    data = good.read_bytes()
    (tmp_path / "short").write_bytes(data[:-3])
    with pytest.raises(HyperVizError, match=r"short: IDX header says 5 values"):
        read_idx(tmp_path / "short")


def test_idx_missing_and_mismatched_files_name_the_file(tmp_path):
    write_mnist_folder(tmp_path / "m", gz=False)
    (tmp_path / "m" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(HyperVizError, match=r"t10k-labels-idx1-ubyte: missing"):
        get_task(f"idx:{tmp_path / 'm'}")
    write_idx(tmp_path / "m" / "t10k-labels-idx1-ubyte", np.zeros(19, np.uint8))
    with pytest.raises(HyperVizError, match=r"t10k-labels-idx1-ubyte: 19 labels, but .*t10k-images-idx3-ubyte holds 20"):
        get_task(f"idx:{tmp_path / 'm'}")
    with pytest.raises(HyperVizError, match=r"nowhere: no such folder"):
        get_task(f"idx:{tmp_path / 'nowhere'}")
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"garbage")
    write_idx(tmp_path / "gz" / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8), gz=True)
    with pytest.raises(HyperVizError, match=r"train-images-idx3-ubyte.gz: cannot be read"):
        get_task(f"idx:{tmp_path / 'gz'}")


# ---- npz ----------------------------------------------------------------------------------------
def test_npz_task_with_and_without_a_validation_part(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 8, 8, 3)).astype(np.uint8)           # channels last: moved first
    y = np.arange(30) % 3
    np.savez(tmp_path / "d.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    task = get_task(f"npz:{tmp_path / 'd.npz'}")
    assert task.input_shape == (3, 8, 8) and task.n_classes == 3 and len(task.y_test) == 10
    assert len(task.y_train) + len(task.y_val) == 20 and len(task.y_val) >= 1
    np.testing.assert_allclose(task.x_test.numpy(), np.moveaxis(x[20:], -1, 1) / 255.0, rtol=1e-6)
    np.savez(tmp_path / "v.npz", x_train=x[:20, ..., 0].astype(np.float32), y_train=y[:20],
             x_val=x[20:25, ..., 0].astype(np.float32), y_val=y[20:25], x_test=x[25:, ..., 0].astype(np.float32),
             y_test=y[25:])
    task = get_task(f"npz:{tmp_path / 'v.npz'}")
    assert task.input_shape == (1, 8, 8) and (len(task.y_train), len(task.y_val), len(task.y_test)) == (20, 5, 5)
    assert task.describe()["source"]["split"] == "train, val and test as given in the files"


def test_malformed_npz_files_are_one_line_errors(tmp_path):
    np.savez(tmp_path / "few.npz", x_train=np.zeros((4, 8, 8)), y_train=np.zeros(4))
    with pytest.raises(HyperVizError, match=r"few.npz: lacks x_test, y_test"):
        get_task(f"npz:{tmp_path / 'few.npz'}")
    np.savez(tmp_path / "n.npz", x_train=np.zeros((4, 8, 8)), y_train=np.zeros(3), x_test=np.zeros((2, 8, 8)),
             y_test=np.zeros(2))
    with pytest.raises(HyperVizError, match=r"n.npz: x_train holds 4 examples but y_train 3 labels"):
        get_task(f"npz:{tmp_path / 'n.npz'}")
    np.savez(tmp_path / "neg.npz", x_train=np.zeros((4, 8, 8)), y_train=-np.ones(4, int), x_test=np.zeros((2, 8, 8)),
             y_test=np.zeros(2, int))
    with pytest.raises(HyperVizError, match=r"neg.npz: a label of -1"):
        get_task(f"npz:{tmp_path / 'neg.npz'}")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "notnpz.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(HyperVizError, match=r"notnpz.npz: not a readable .npz"):
        get_task(f"npz:{tmp_path / 'notnpz.npz'}")
    with pytest.raises(HyperVizError, match=r"missing.npz: no such file"):
        get_task(f"npz:{tmp_path / 'missing.npz'}")


# ---- images ---------------------------------------------------------------------------------------
def test_png_decoder_reads_every_filter_and_colour_type(tmp_path):
    rng = np.random.default_rng(3)
    for channels in (1, 2, 3, 4):
        img = rng.integers(0, 256, (7, 6, channels)).astype(np.uint8)
        out = read_png(write_png(tmp_path / f"c{channels}.png", img))
        np.testing.assert_array_equal(out, img)
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(HyperVizError, match="x.png: not a PNG file"):
        read_png(tmp_path / "x.png")


def test_pgm_reader_binary_and_ascii(tmp_path):
    img = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    np.testing.assert_array_equal(read_pnm(write_pgm(tmp_path / "b.pgm", img))[..., 0], img)
    np.testing.assert_array_equal(read_pnm(write_pgm(tmp_path / "a.pgm", img, ascii_=True))[..., 0], img)
    (tmp_path / "t.pgm").write_bytes(b"P5\n4 3\n255\n" + bytes(5))
    with pytest.raises(HyperVizError, match=r"t.pgm: truncated PGM/PPM data"):
        read_pnm(tmp_path / "t.pgm")


def _image_tree(root, classes=("circle", "square", "zebra"), per_class=10, size=6, fmt="png", seed=0):
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = (rng.integers(0, 40, (size, size)) + 60 * k).astype(np.uint8)
            if fmt == "png":
                write_png(root / name / f"{i}.png", img)
            else:
                write_pgm(root / name / f"{i}.pgm", img)


def test_image_folder_per_class_is_split_by_class(tmp_path):
    _image_tree(tmp_path / "imgs")
    task = get_task(f"images:{tmp_path / 'imgs'}")
    assert task.input_shape == (1, 6, 6) and task.n_classes == 3
    assert (len(task.y_train), len(task.y_val), len(task.y_test)) == (21, 6, 3)
    src = task.describe()["source"]
    assert src["classes"] == ["circle", "square", "zebra"] and src["files"] == 30
    # class k's pixels are in 60k .. 60k+39: the labels follow the folders
    for x, y in (task.split("train"), task.split("test")):
        lo = (x.numpy().reshape(len(x), -1).min(1) * 255).round()
        assert np.all(lo // 60 == y.numpy())


def test_image_folder_with_train_and_test_parts_and_pgm(tmp_path):
    _image_tree(tmp_path / "d" / "train", fmt="pgm", per_class=6)
    _image_tree(tmp_path / "d" / "test", fmt="png", per_class=2, seed=1)
    task = get_task(f"images:{tmp_path / 'd'}")
    assert len(task.y_test) == 6 and len(task.y_train) + len(task.y_val) == 18 and task.n_classes == 3


def test_image_folder_errors_name_the_file(tmp_path):
    _image_tree(tmp_path / "m", per_class=3)
    write_png(tmp_path / "m" / "circle" / "big.png", np.zeros((7, 6), np.uint8))
    with pytest.raises(HyperVizError, match=r"big.png: a 6x7 image, but .* is 6x6"):
        get_task(f"images:{tmp_path / 'm'}")
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(HyperVizError, match=r"one: 1 class folder\(s\)"):
        get_task(f"images:{tmp_path / 'one'}")
    _image_tree(tmp_path / "bad", per_class=2)
    (tmp_path / "bad" / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    with pytest.raises(HyperVizError, match=r"broken.png: "):
        get_task(f"images:{tmp_path / 'bad'}")


# ---- the task in a zoo -----------------------------------------------------------------------------
def test_task_for_zoo_finds_the_recorded_files_and_notices_changes(tmp_path, caplog):
    write_mnist_folder(tmp_path / "mn", gz=True)
    meta = get_task(f"idx:{tmp_path / 'mn'}").describe()
    again = task_for_zoo(meta, "zoo.h5")
    assert again.name == meta["name"] and again.describe()["source"]["sha256"] == meta["source"]["sha256"]
    write_mnist_folder(tmp_path / "mn", gz=True, seed=9)                     # the data changed
    with caplog.at_level("WARNING"):
        task_for_zoo(meta, "zoo.h5")
    assert "changed since the zoo recorded them" in caplog.text
    for p in (tmp_path / "mn").iterdir():
        p.unlink()
    with pytest.raises(HyperVizError, match=r"train-images-idx3-ubyte: missing"):
        task_for_zoo(meta, "zoo.h5")
