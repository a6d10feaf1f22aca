"""Tasks from a user's own files (``idx:FOLDER``, ``npz:FILE.npz``, ``images:FOLDER``).

``idx:FOLDER``
    The IDX files MNIST and Fashion-MNIST ship as, gzipped or not: ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each with
    or without ``.gz``; ``-`` or ``.`` before ``idx``; ``test`` for ``t10k``). Images of unsigned
    bytes are scaled to [0, 1]; other IDX types are read as stored.
``npz:FILE.npz``
    A numpy ``.npz`` (read without pickle) holding ``x_train``, ``y_train``, ``x_test``,
    ``y_test`` and optionally ``x_val``, ``y_val`` (Keras' ``mnist.npz`` has this layout). Inputs
    are ``[n, H, W]`` (one channel), ``[n, C, H, W]``, ``[n, H, W, C]`` (C of 1, 3 or 4 as the last
    axis and not the second) or ``[n, F]``; uint8 inputs are scaled to [0, 1].
``images:FOLDER``
    One folder per class, named by the class (classes in sorted name order), holding PNG
    (8-bit grey, grey+alpha, RGB or RGBA, not interlaced; read by the small decoder here: no
    image library is installed), PGM or PPM (``P2``/``P5``/``P3``/``P6``) images, all of one size.
    Either ``FOLDER/train/<class>/`` and ``FOLDER/test/<class>/`` (and optionally ``val/``) or
    ``FOLDER/<class>/`` directly (then split 70/15/15 by class). Grey images give 1 channel; when
    any image has colour, all are read as RGB (alpha is dropped); values are scaled to [0, 1].

Without a validation part, the validation split is :data:`VAL_FRACTION` of the training part,
stratified by class with seed :data:`core.zoo.tasks.SPLIT_SEED`. Labels must be whole numbers
>= 0; the task has ``max label + 1`` classes. The task's ``source`` (stored in the zoo) records
the kind, the absolute path, the files, their combined sha256 and the split rule.

A missing, unreadable or malformed file is one line naming the file and the problem
(``.../train-labels-idx1-ubyte: 59999 labels, but .../train-images-idx3-ubyte holds 60000
images``). A data set is at most :data:`MAX_TASK_VALUES` input values.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import HyperVizError, shown
from core.zoo.tasks import SPLIT_SEED, Task, make_task, stratified_split

#: The share of the training files kept apart as the validation split when no validation part is given.
VAL_FRACTION = 0.1
#: The most input values one file task may hold (float32: 2 GiB in memory).
MAX_TASK_VALUES = 2**29
IMAGE_SUFFIXES = (".png", ".pgm", ".ppm", ".pnm")
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _fail(path, problem: str) -> HyperVizError:
    return HyperVizError(f"{shown(path)}: {problem}")


def _read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` (gunzipped when it is gzip), at most ``limit``."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=f) as g:
                    data = g.read(limit + 1)
            else:
                data = f.read(limit + 1)
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise _fail(path, f"cannot be read ({shown(exc, 100)})") from None
    if len(data) > limit:
        raise _fail(path, f"more than {limit:,} bytes (decompressed); too large for a task")
    return data


# ---- IDX ----------------------------------------------------------------------------------------
def read_idx(path: str | Path) -> np.ndarray:
    """The array in one IDX file (gzipped or not), checked: magic, type, dimensions, size."""
    path = Path(path)
    data = _read_bytes(path, MAX_TASK_VALUES * 8 + 64)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES or not 1 <= data[3] <= 4:
        raise _fail(path, "not an IDX file (expected 0, 0, a type code and 1..4 dimensions in the first 4 bytes)")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    if len(data) < 4 + 4 * ndim:
        raise _fail(path, "truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    count = int(np.prod(dims, dtype=np.int64))
    if count > MAX_TASK_VALUES:
        raise _fail(path, f"IDX dimensions {' x '.join(map(str, dims))}: more than {MAX_TASK_VALUES:,} values")
    body = len(data) - 4 - 4 * ndim
    if body != count * dtype.itemsize:
        raise _fail(path, f"IDX header says {' x '.join(map(str, dims))} values of {dtype.itemsize} byte(s) "
                          f"({count * dtype.itemsize:,} bytes) but the file holds {body:,} bytes after it")
    return np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, part: str, what: str) -> Path | None:
    prefixes = ("train",) if part == "train" else ("t10k", "test") if part == "test" else ("val",)
    dims = "3" if what == "images" else "1"
    found = []
    for prefix in prefixes:
        for sep in ("-", "."):
            for gz in ("", ".gz"):
                p = folder / f"{prefix}-{what}{sep}idx{dims}-ubyte{gz}"
                if p.is_file():
                    found.append(p)
    if len(found) > 1:
        raise _fail(folder, f"both {found[0].name} and {found[1].name} hold the {part} {what}; keep one")
    return found[0] if found else None


def _load_idx(path: Path) -> tuple[dict, list[Path]]:
    if not path.is_dir():
        raise _fail(path, "no such folder" if not path.exists() else "not a folder (idx: takes the folder of IDX files)")
    arrays, files = {}, []
    for part in ("train", "val", "test"):
        images, labels = _idx_file(path, part, "images"), _idx_file(path, part, "labels")
        if part == "val" and images is None and labels is None:
            continue
        for p, what in ((images, "images"), (labels, "labels")):
            if p is None:
                name = "t10k" if part == "test" else part
                raise _fail(path / f"{name}-{what}-idx{'3' if what == 'images' else '1'}-ubyte",
                            f"missing (the {part} {what} of an IDX task; .gz or not)")
        x, y = read_idx(images), read_idx(labels)
        if y.ndim != 1:
            raise _fail(labels, f"labels of shape {y.shape}, expected one dimension")
        if x.ndim < 2:
            raise _fail(images, f"images of shape {x.shape}, expected [n, height, width]")
        if len(x) != len(y):
            raise _fail(labels, f"{len(y)} labels, but {shown(images)} holds {len(x)} images")
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255.0
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, y
        files += [images, labels]
    return arrays, files


# ---- npz ----------------------------------------------------------------------------------------
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _load_npz(path: Path) -> tuple[dict, list[Path]]:
    if not path.is_file():
        raise _fail(path, "no such file" if not path.exists() else "not a file (npz: takes a .npz file)")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in NPZ_KEYS if k not in data.files]
            if missing:
                raise _fail(path, f"lacks {', '.join(missing)} (a .npz task holds x_train, y_train, x_test, y_test "
                                  f"and optionally x_val, y_val; it has {', '.join(data.files[:8]) or 'nothing'})")
            for key in (*NPZ_KEYS, "x_val", "y_val"):
                if key in data.files:
                    arrays[key] = data[key]
    except HyperVizError:
        raise
    except (OSError, ValueError, EOFError, zlib.error, KeyError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"not a readable .npz of arrays ({shown(exc, 100)})") from None
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise _fail(path, "holds only one of x_val and y_val")
    for key, value in arrays.items():
        kinds = "iuf" if key.startswith("x") else "iu"
        if value.dtype.kind not in kinds and not (key.startswith("y") and value.dtype.kind == "f"):
            raise _fail(path, f"{key} holds {value.dtype}, expected numbers")
        if key.startswith("x"):
            if value.size > MAX_TASK_VALUES:
                raise _fail(path, f"{key} holds {value.size:,} values, more than {MAX_TASK_VALUES:,}")
            arrays[key] = _channels_first(path, key, value)
        else:
            if value.ndim != 1:
                raise _fail(path, f"{key} of shape {value.shape}, expected one label per example")
            if value.dtype.kind == "f":
                if not np.all(np.isfinite(value)) or not np.all(value == np.round(value)):
                    raise _fail(path, f"{key} holds values that are not whole numbers")
            arrays[key] = value.astype(np.int64)
    for part in ("train", "val", "test"):
        if f"x_{part}" in arrays and len(arrays[f"x_{part}"]) != len(arrays[f"y_{part}"]):
            raise _fail(path, f"x_{part} holds {len(arrays[f'x_{part}'])} examples but y_{part} "
                              f"{len(arrays[f'y_{part}'])} labels")
    return arrays, [path]


def _channels_first(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = np.asarray(x, dtype=np.float32) / scale
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = np.moveaxis(x, -1, 1)
    if x.ndim not in (2, 3, 4):
        raise _fail(path, f"{key} of shape {x.shape}, expected [n, H, W], [n, C, H, W], [n, H, W, C] or [n, F]")
    if not np.all(np.isfinite(x)):
        raise _fail(path, f"{key} holds NaN or infinite values")
    return x


# ---- images ---------------------------------------------------------------------------------------
def read_png(path: str | Path) -> np.ndarray:
    """An 8-bit, non-interlaced PNG as uint8 ``[H, W, C]`` (C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA)."""
    path = Path(path)
    data = _read_bytes(path, 64 * 2**20)
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise _fail(path, "not a PNG file")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if len(chunk) != length:
            raise _fail(path, "truncated PNG")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        raise _fail(path, "a PNG without image data (no IHDR or IDAT)")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 4: 2, 2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise _fail(path, f"a PNG of bit depth {depth}, colour type {colour}{', interlaced' if interlace else ''}; "
                          "read are 8-bit grey, grey+alpha, RGB and RGBA, not interlaced")
    if width * height > 2**24:
        raise _fail(path, f"a {width}x{height} PNG; too large for a task image")
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise _fail(path, f"damaged PNG data ({shown(exc, 80)})") from None
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise _fail(path, "damaged PNG data (wrong size)")
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for r in range(height):
        kind, line = rows[r, 0], rows[r, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 255
        elif kind in (1, 3, 4):
            cur = np.zeros(stride, np.int32)
            for i in range(stride):
                a = cur[i - channels] if i >= channels else 0
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + prev[i]) // 2
                else:
                    b, c = prev[i], prev[i - channels] if i >= channels else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                cur[i] = (line[i] + pred) & 255
        else:
            raise _fail(path, f"damaged PNG data (row filter {kind})")
        out[r], prev = cur, cur
    return out.astype(np.uint8).reshape(height, width, channels)


def read_pnm(path: str | Path) -> np.ndarray:
    """A PGM or PPM image (``P2``, ``P3``, ``P5``, ``P6``, max value <= 255) as uint8 ``[H, W, C]``."""
    path = Path(path)
    data = _read_bytes(path, 64 * 2**20)
    magic = data[:2]
    if magic not in (b"P2", b"P3", b"P5", b"P6"):
        raise _fail(path, "not a PGM/PPM file (P2, P3, P5 or P6)")
    tokens, pos = [], 2
    while len(tokens) < 3:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            while pos < len(data) and data[pos : pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace():
            pos += 1
        if start == pos:
            raise _fail(path, "truncated PGM/PPM header")
        tokens.append(data[start:pos])
    try:
        width, height, maxval = (int(t) for t in tokens)
    except ValueError:
        raise _fail(path, "PGM/PPM header is not three whole numbers (width, height, max value)") from None
    if not (0 < width * height <= 2**24 and 0 < maxval <= 255):
        raise _fail(path, f"PGM/PPM of {width}x{height}, max value {maxval}; read are up to 2^24 pixels and 8 bits")
    channels = 3 if magic in (b"P3", b"P6") else 1
    n = width * height * channels
    if magic in (b"P5", b"P6"):
        body = data[pos + 1 : pos + 1 + n]
        if len(body) != n:
            raise _fail(path, f"truncated PGM/PPM data ({len(body)} of {n} bytes)")
        values = np.frombuffer(body, np.uint8).astype(np.int32)
    else:
        try:
            values = np.array(data[pos:].split(), dtype=np.int32)
        except ValueError:
            raise _fail(path, "PGM/PPM values that are not whole numbers") from None
        if len(values) != n:
            raise _fail(path, f"{len(values)} PGM/PPM values, expected {n}")
    if values.max(initial=0) > maxval:
        raise _fail(path, f"values above the max value {maxval}")
    return (values * 255 // maxval).astype(np.uint8).reshape(height, width, channels)


def read_image(path: Path) -> np.ndarray:
    return read_png(path) if path.suffix.lower() == ".png" else read_pnm(path)


def _class_folders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _read_class_tree(folder: Path, classes: list[str]) -> tuple[list[np.ndarray], list[int], list[Path]]:
    images, labels, files = [], [], []
    for label, name in enumerate(classes):
        sub = folder / name
        if not sub.is_dir():
            continue
        for p in sorted(sub.iterdir()):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                images.append(read_image(p))
                labels.append(label)
                files.append(p)
    return images, labels, files


def _stack_images(images: list[np.ndarray], files: list[Path]) -> np.ndarray:
    shape = images[0].shape[:2]
    for img, p in zip(images, files):
        if img.shape[:2] != shape:
            raise _fail(p, f"a {img.shape[1]}x{img.shape[0]} image, but {shown(files[0])} is {shape[1]}x{shape[0]} "
                           "(all images of a task must have one size)")
    colour = any(img.shape[2] >= 3 for img in images)
    out = np.empty((len(images), 3 if colour else 1, *shape), np.float32)
    for i, img in enumerate(images):
        if colour:
            rgb = img[..., :3] if img.shape[2] >= 3 else np.repeat(img[..., :1], 3, axis=2)
            out[i] = np.moveaxis(rgb, -1, 0) / 255.0
        else:
            out[i, 0] = img[..., 0] / 255.0
    return out


def _load_images(path: Path) -> tuple[dict, list[Path], str | None]:
    if not path.is_dir():
        raise _fail(path, "no such folder" if not path.exists() else "not a folder (images: takes a folder of class folders)")
    parts = [p for p in ("train", "val", "test") if (path / p).is_dir()]
    if parts and not {"train", "test"} <= set(parts):
        raise _fail(path, f"has {' and '.join(parts)} but not both train/ and test/ (or put the class folders directly in it)")
    roots = {p: path / p for p in parts} if parts else {"all": path}
    classes = sorted({c.name for root in roots.values() for c in _class_folders(root)})
    if len(classes) < 2:
        raise _fail(path, f"{len(classes)} class folder(s); an images task needs one folder per class, at least two")
    arrays, files, split = {}, [], None
    for part, root in roots.items():
        images, labels, part_files = _read_class_tree(root, classes)
        if not images:
            raise _fail(root, f"no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
        arrays[f"x_{part}"], arrays[f"y_{part}"] = images, np.array(labels, np.int64)
        files += part_files
    everything = [img for k, v in arrays.items() if k.startswith("x_") for img in v]
    stacked = _stack_images(everything, files)
    start = 0
    for part in roots:
        n = len(arrays[f"x_{part}"])
        arrays[f"x_{part}"] = stacked[start : start + n]
        start += n
    if "x_all" in arrays:
        x, y = arrays.pop("x_all"), arrays.pop("y_all")
        train, val, test = stratified_split(y, (0.70, 0.15, 0.15), SPLIT_SEED)
        arrays.update(x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val], x_test=x[test], y_test=y[test])
        split = f"one folder per class, split 70/15/15 by class (seed {SPLIT_SEED})"
    arrays["classes"] = classes
    return arrays, files, split


# ---- the task ---------------------------------------------------------------------------------------
def _digest(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for p in files:
        try:
            rel = p.relative_to(root).as_posix() if p != root else p.name
        except ValueError:
            rel = p.name
        h.update(rel.encode("utf-8", errors="surrogateescape") + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _carve_val(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation indices: :data:`VAL_FRACTION` of each class (at least one of
    every class with two or more examples) for validation, chosen with seed ``SPLIT_SEED``."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, val = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        k = max(1, int(round(VAL_FRACTION * len(idx)))) if len(idx) >= 2 else 0
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _signature(path: Path) -> tuple:
    """What changes when the files of a task change (for the cache of loaded tasks)."""
    try:
        if path.is_file():
            st = path.stat()
            return (st.st_size, st.st_mtime_ns)
        sig = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                st = os.stat(os.path.join(dirpath, name))
                sig.append((dirpath, name, st.st_size, st.st_mtime_ns))
        return tuple(sig)
    except OSError:
        return ()


def load_file_task(kind: str, path: str | Path) -> Task:
    """The task in the user's files ``path`` of ``kind`` (``idx``, ``npz`` or ``images``)."""
    if not str(path).strip():
        raise HyperVizError(f"task {kind}:: no path after '{kind}:'")
    full = Path(os.path.abspath(os.path.expanduser(str(path))))
    return _load_cached(kind, str(full), _signature(full))


@lru_cache(maxsize=4)
def _load_cached(kind: str, path: str, _signature: tuple) -> Task:
    full = Path(path)
    split = None
    classes = None
    if kind == "idx":
        arrays, files = _load_idx(full)
    elif kind == "npz":
        arrays, files = _load_npz(full)
    elif kind == "images":
        arrays, files, split = _load_images(full)
        classes = arrays.pop("classes")
    else:
        raise HyperVizError(f"task {kind}:{shown(path)}: unknown kind {kind!r} (idx, npz or images)")
    label_file = files[1] if kind == "idx" else full
    labels = np.concatenate([arrays[f"y_{p}"] for p in ("train", "val", "test") if f"y_{p}" in arrays])
    if labels.size and labels.min() < 0:
        raise _fail(label_file, f"a label of {int(labels.min())}; labels must be whole numbers >= 0")
    shapes = {arrays[f"x_{p}"].shape[1:] for p in ("train", "val", "test") if f"x_{p}" in arrays}
    if len(shapes) != 1:
        raise _fail(full, f"its parts have inputs of different shapes ({', '.join(map(str, sorted(shapes)))})")
    if "x_val" not in arrays:
        train, val = _carve_val(arrays["y_train"])
        arrays["x_val"], arrays["y_val"] = arrays["x_train"][val], arrays["y_train"][val]
        arrays["x_train"], arrays["y_train"] = arrays["x_train"][train], arrays["y_train"][train]
        split = split or (f"the training files minus {VAL_FRACTION:.0%} of them by class for validation "
                          f"(seed {SPLIT_SEED}); test: the test files")
    split = split or "train, val and test as given in the files"
    for part in ("train", "val", "test"):
        if len(arrays[f"y_{part}"]) == 0:
            raise _fail(full, f"no examples in the {part} split")
        if arrays[f"x_{part}"].ndim == 3:                      # [n, H, W]: one channel
            arrays[f"x_{part}"] = arrays[f"x_{part}"][:, None]
    x = np.concatenate([arrays[f"x_{p}"] for p in ("train", "val", "test")])
    y = np.concatenate([arrays[f"y_{p}"] for p in ("train", "val", "test")])
    n_train, n_val = len(arrays["y_train"]), len(arrays["y_val"])
    parts = [np.arange(n_train), np.arange(n_train, n_train + n_val), np.arange(n_train + n_val, len(y))]
    source = {"kind": kind, "path": path, "files": len(files), "sha256": _digest(files, full if full.is_dir() else full.parent),
              "split": split}
    if kind != "images":
        source["file_names"] = [p.name for p in files]
    if classes is not None:
        source["classes"] = classes
    n_classes = len(classes) if classes is not None else int(y.max()) + 1
    return make_task(f"{kind}:{path}", x, y, parts, n_classes, source)
