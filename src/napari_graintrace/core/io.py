"""Reading and writing the lab's images: micrographs, tracings and probability maps.

Conventions (docs/design.md): 8-bit images are divided by 255 and 16-bit by 65535, float TIFFs
are taken as they are but must lie in [0, 1]; RGB(A) becomes grey with ITU-R 601 luma exactly as
PIL's ``convert("L")`` does; a tracing may be white-on-black or black-on-white and ``"auto"`` takes
the minority class as boundary. Writes go to a temporary file that is renamed into place, and an
existing file is never replaced unless the caller asks.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import InputError

Polarity = Literal["auto", "white-on-black", "black-on-white"]
POLARITIES: tuple[str, ...] = ("auto", "white-on-black", "black-on-white")
_TIFF_SUFFIXES = {".tif", ".tiff"}


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/TIFF/... file as a 2-D grey array in its own dtype (RGB(A) converted to luma)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image file")
    try:
        if path.suffix.lower() in _TIFF_SUFFIXES:
            array = _read_tiff(path)
        else:
            array = _read_with_pil(path)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - PIL and tifffile raise many types for a damaged file
        raise InputError(f"{path}: cannot be read as an image ({type(exc).__name__}: {exc})") from None
    try:
        return to_grey(array)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    array = np.asarray(tifffile.imread(path))
    return np.squeeze(array) if array.ndim > 2 and array.shape[0] == 1 else array


def _read_with_pil(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(image)
            if array.min() >= 0 and array.max() <= 65535:
                return array.astype(np.uint16)
            return array
        if image.mode == "1":
            return np.asarray(image, dtype=np.uint8) * np.uint8(255)
        return np.asarray(image)


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(rows, columns) of an image file, from its header where the format allows: a shape check before
    the real work need not decode every pixel. Anything unusual is read in full, as :func:`read_image`."""
    path = Path(path)
    try:
        if path.suffix.lower() in _TIFF_SUFFIXES:
            import tifffile

            with tifffile.TiffFile(path) as tiff:
                shape = tuple(tiff.series[0].shape)
            shape = shape[1:] if len(shape) > 2 and shape[0] == 1 else shape
            if len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4)):
                return int(shape[0]), int(shape[1])
        else:
            from PIL import Image

            with Image.open(path) as image:
                columns, rows = image.size
            return int(rows), int(columns)
    except Exception:  # noqa: BLE001, S110 - read_image says what is wrong with the file
        pass
    rows, columns = read_image(path).shape[:2]
    return int(rows), int(columns)


def to_grey(array: np.ndarray) -> np.ndarray:
    """Return a 2-D grey image; RGB/RGBA go through ITU-R 601 luma, alpha is dropped.

    For uint8 the integer formula of PIL's ``convert("L")`` is used, so a file converted here and
    one converted in GIMP/PIL give the same bytes.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[2] == 2:  # grey + alpha
        return array[..., 0]
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise InputError(f"expected a 2-D grey or an RGB/RGBA image, got shape {array.shape}")
    rgb = array[..., :3]
    if rgb.dtype == np.uint8:
        weighted = rgb[..., 0] * np.uint32(19595) + rgb[..., 1] * np.uint32(38470)
        weighted += rgb[..., 2] * np.uint32(7471) + np.uint32(0x8000)
        return (weighted >> 16).astype(np.uint8)
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    if np.issubdtype(rgb.dtype, np.integer):
        return np.clip(np.rint(luma), 0, np.iinfo(rgb.dtype).max).astype(rgb.dtype)
    return luma.astype(rgb.dtype)


def to_unit_float(array: np.ndarray, what: str = "image") -> np.ndarray:
    """Map an image to float32 in [0, 1]: uint8 / 255, uint16 / 65535, float as is (checked).

    Float values outside [0, 1] or NaN are an error: silently clipping a prediction would change
    its scores.
    """
    array = np.asarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255)
    if array.dtype == np.uint16:
        return array.astype(np.float32) / np.float32(65535)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise InputError(f"{what} contains NaN or infinite values")
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if low < 0.0 or high > 1.0:
            raise InputError(f"{what} has values in [{low:g}, {high:g}], outside [0, 1]")
        return array.astype(np.float32, copy=False)
    raise InputError(f"{what} has unsupported pixel type {array.dtype} (use 8/16-bit or float in [0, 1])")


def _read_unit_float(path: str | os.PathLike, what: str) -> np.ndarray:
    image = read_image(path)
    try:
        return to_unit_float(image, what)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def read_prediction(path: str | os.PathLike) -> np.ndarray:
    """Read a probability map as float32 in [0, 1] (the lab's ``predict_*.png`` are 8-bit)."""
    return _read_unit_float(path, "prediction")


def read_micrograph(path: str | os.PathLike) -> np.ndarray:
    """Read a micrograph as float32 grey in [0, 1], the network's input scale."""
    return _read_unit_float(path, "micrograph")


def as_trace(array: np.ndarray, polarity: Polarity | str = "auto") -> tuple[np.ndarray, str]:
    """Turn a tracing image into a boolean boundary mask; return ``(mask, polarity used)``.

    Boolean input is taken as it is. Two-level images split between their levels, others at Otsu's
    threshold. ``"auto"`` makes the minority class the boundary (boundaries are sparse; a tie goes
    to white-on-black, the project's own convention).
    """
    if polarity not in POLARITIES:
        raise InputError(f"unknown polarity {polarity!r}; choose one of {', '.join(POLARITIES)}")
    array = np.asarray(array)
    if array.ndim != 2:
        raise InputError(f"a tracing must be a 2-D image, got shape {array.shape}")
    if array.dtype == np.bool_:
        bright = array
    else:
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise InputError("tracing contains NaN or infinite values")
        bright = array > _split_level(array)
    if polarity == "auto":
        polarity = "white-on-black" if 2 * np.count_nonzero(bright) <= bright.size else "black-on-white"
    mask = bright if polarity == "white-on-black" else ~bright
    return np.ascontiguousarray(mask), polarity


def _split_level(array: np.ndarray) -> float:
    low, high = array.min(), array.max()
    if low == high:
        # one grey level: white or black by the middle of the pixel type's range, so an all-white
        # image is all boundary when white is boundary, and none when black is ("auto": none)
        if array.dtype == np.uint16 or (np.issubdtype(array.dtype, np.integer) and high > 255):
            return 65535 / 2.0
        return 255 / 2.0 if np.issubdtype(array.dtype, np.integer) else 0.5
    levels = np.unique(array) if array.dtype.itemsize <= 2 else None
    if levels is not None and levels.size == 2:
        return (float(levels[0]) + float(levels[1])) / 2.0
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(array))


def read_trace(path: str | os.PathLike, polarity: Polarity | str = "auto") -> tuple[np.ndarray, str]:
    """Read a tracing file as a boolean boundary mask; see :func:`as_trace`."""
    image = read_image(path)
    try:
        return as_trace(image, polarity)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
class OutputExistsError(InputError):
    """An output file or folder exists and overwriting was not chosen.

    Its own type so each front end can say how to choose overwrite (``--overwrite`` on the command
    line, the overwrite checkbox in napari) while the core stays neutral.
    """

    def __init__(self, path: str | os.PathLike, more: int = 0) -> None:
        self.path, self.more = Path(path), more
        extra = f" (and {more} more)" if more else ""
        super().__init__(f"{path}: already exists{extra}; choose overwrite to replace it")


def _identity(path: Path) -> tuple:
    """What makes two paths one file: device and inode when it exists (hard and symbolic links
    included), else the resolved name."""
    resolved = Path(os.path.abspath(path)).resolve()  # "missing/../x" is x, as a write there would be
    try:
        info = os.stat(resolved)
    except OSError:
        return ("name", str(resolved))
    return ("inode", info.st_dev, info.st_ino)


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or "/")  # pragma: no cover - the root always exists


def _check_creatable(path: Path) -> None:
    """``path`` (absent) can be created: its nearest existing ancestor is a writable folder."""
    ancestor = _nearest_existing(path.parent)
    if not ancestor.is_dir():
        raise InputError(f"{path}: cannot be created because {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{path}: cannot be written: the folder {ancestor} is not writable (permission denied)")


def _inputs_by_identity(inputs: Iterable[str | os.PathLike]) -> dict[tuple, Path]:
    return {_identity(Path(item)): Path(item) for item in inputs}


def _check_not_an_input(output: Path, inputs: dict[tuple, Path], replaces_folder: bool = False) -> None:
    """``inputs`` from :func:`_inputs_by_identity` (one stat per input, however many outputs)."""
    if _identity(output) in inputs:
        raise InputError(f"{output}: is also an input; writing it would destroy that input, even with "
                         "overwrite: choose another output")
    if replaces_folder and output.exists():
        real_output = output.resolve()
        for item in inputs.values():
            if real_output in item.resolve().parents:
                raise InputError(f"{output}: the input {item} lies inside it and would be lost when it is "
                                 "replaced: choose another output")


def check_writable(
    paths: Iterable[str | os.PathLike],
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
) -> None:
    """Refuse up front any output file that could not be written, so a run that would stop halfway writes nothing.

    Checks every target before any work: not one of ``inputs`` (refused even with ``overwrite``:
    it would destroy the input), not a folder, not given twice, absent unless ``overwrite``, and
    its folder exists or can be created and is writable.
    """
    targets = [Path(p) for p in paths]
    inputs = _inputs_by_identity(inputs)
    existing = []
    seen: set[str] = set()
    for target in targets:
        key = os.path.abspath(target)
        if key in seen:
            raise InputError(f"{target}: given twice as an output")
        seen.add(key)
        _check_not_an_input(target, inputs)
        if target.is_dir():
            raise InputError(f"{target}: is a folder; expected the name of a file to write")
        if os.path.lexists(target):
            existing.append(target)
            if not os.access(target.parent, os.W_OK | os.X_OK):
                raise InputError(f"{target}: cannot be replaced: the folder {target.parent} is not writable "
                                 "(permission denied)")
        else:
            _check_creatable(target)
    if existing and not overwrite:
        raise OutputExistsError(existing[0], len(existing) - 1)


def check_output_folder(
    folder: str | os.PathLike,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    *,
    replaced: bool = True,
) -> None:
    """Refuse up front an output folder that could not be written.

    ``replaced``: the folder is written whole and replaces an existing one (crop, merge), so an
    existing folder needs ``overwrite`` and may not hold any of ``inputs``. Otherwise files are
    added into it (train, a cache), so it may exist but must be a writable folder.
    """
    folder = Path(folder)
    _check_not_an_input(folder, _inputs_by_identity(inputs), replaces_folder=replaced)
    if os.path.lexists(folder):
        if not folder.is_dir():
            raise InputError(f"{folder}: is a file; expected a folder")
        if replaced and not overwrite:
            raise OutputExistsError(folder)
        writable = folder.parent if replaced else folder
        if not os.access(writable, os.W_OK | os.X_OK):
            raise InputError(f"{folder}: cannot be written: {writable} is not writable (permission denied)")
    else:
        _check_creatable(folder)


# --------------------------------------------------------------------------------------------
# temporary names, and clearing those a killed run left behind
# --------------------------------------------------------------------------------------------
STALE_AFTER_S = 3600.0  # a leftover whose writer cannot be asked is stale after an hour
_HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_TEMP_MIDDLE = re.compile(r"^(?:(?P<host>[0-9a-f]{6})-(?P<pid>\d+)\.)?[A-Za-z0-9_]+$")


def temp_prefix(final: Path) -> str:
    """``.NAME.HOST-PID.``: the writer's machine and process are in every temporary name."""
    return f".{final.name if final.suffix == '' else final.stem}.{_HOST_TAG}-{os.getpid()}."


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clear_stale_temps(final: str | os.PathLike, suffix: str) -> list[Path]:
    """Remove temporary files or folders a killed writer of ``final`` left beside it; return them.

    A leftover is ``.NAME.[HOST-PID.]XXXX<suffix>`` (``suffix`` ``.tmp.png``, ``.tmp``, ...). It is
    stale when its writer ran on this machine and is gone, or (another machine, or an older name
    without the writer) when it is older than an hour. A live writer's file is never touched, so
    two runs sharing a folder (a cache) do not disturb each other.
    """
    final = Path(final)
    stem = final.name if final.suffix == "" else final.stem
    head = f".{stem}."
    removed = []
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        name = entry.name
        if not (name.startswith(head) and name.endswith(suffix)) or len(name) <= len(head) + len(suffix):
            continue
        match = _TEMP_MIDDLE.match(name[len(head) : len(name) - len(suffix)])
        if match is None:
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if match["host"] == _HOST_TAG and match["pid"] is not None:
            pid = int(match["pid"])
            stale = pid != os.getpid() and not _writer_alive(pid)
        else:
            stale = age > STALE_AFTER_S
        if not stale:
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A cancelled or failed write leaves no half-written file, and without ``overwrite`` an
    existing file is never replaced (the final link fails instead of clobbering a file that
    appeared in the meantime). Temporary files a killed run left for the same target are removed.
    """
    path = Path(path)
    check_writable([path], overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_temps(path, f".tmp{path.suffix}")
    tmp = _new_temporary(path)
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic "create if absent"
            except FileExistsError:
                raise OutputExistsError(path) from None
            except OSError:  # filesystems without hard links
                check_writable([path], overwrite)
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _new_temporary(path: Path) -> Path:
    """Create an empty, uniquely named file beside ``path`` with the mode a new file normally gets.

    ``os.open`` with mode 0o666 lets the kernel apply the process umask, so the finished file has
    the usual permissions without reading or changing the umask (``os.umask`` is process-wide and
    not safe while worker threads write files; ``mkstemp`` would give 0600).
    """
    for _ in range(100):
        tmp = path.parent / f"{temp_prefix(path)}{secrets.token_hex(6)}.tmp{path.suffix}"  # clear_stale_temps' form
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path.parent}: could not create a temporary file")  # pragma: no cover


def write_image(path: str | os.PathLike, array: np.ndarray, overwrite: bool = False) -> Path:
    """Write a grey (uint8/uint16/float32) or RGB(A) uint8 image atomically; PNG or TIFF by suffix."""
    path = Path(path)
    array = np.asarray(array)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * np.uint8(255)
    with atomic_path(path, overwrite) as tmp:
        if path.suffix.lower() in _TIFF_SUFFIXES:
            import tifffile

            tifffile.imwrite(tmp, array)
        else:
            from PIL import Image

            if array.dtype not in (np.uint8, np.uint16) or (array.dtype == np.uint16 and array.ndim != 2):
                raise InputError(f"{path}: PNG needs 8-bit (or 16-bit grey) data, got {array.dtype}")
            Image.fromarray(array).save(tmp, format="PNG")
    return path


def write_text(path: str | os.PathLike, text: str, overwrite: bool = False) -> Path:
    """Write a text file (CSV, JSON) atomically."""
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def unit_float_to_uint8(array: np.ndarray) -> np.ndarray:
    """Probability map -> 8-bit image (round to nearest), the lab's file format for predictions."""
    return np.clip(np.rint(np.asarray(array, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


# prediction file formats: name -> file suffix. png8 is the lab's; 8 bits send every p < 1/510 to 0
# and p > 509/510 to 1, where BCE's log hits its clamp (scores.bce_parts measures how much of the BCE
# that is), so png16 (p x 65535) and tiff (float32 as computed) keep the precision.
PREDICTION_FORMATS: dict[str, str] = {"png8": ".png", "png16": ".png", "tiff": ".tif"}


def encode_prediction(prob: np.ndarray, file_format: str = "png8") -> np.ndarray:
    """A probability map in [0, 1] as the pixels of a ``file_format`` file (see PREDICTION_FORMATS);
    :func:`read_prediction` reads each back to [0, 1]."""
    if file_format not in PREDICTION_FORMATS:
        raise InputError(f"unknown prediction format {file_format!r}; choose one of {', '.join(PREDICTION_FORMATS)}")
    prob = np.asarray(prob)
    if file_format == "png8":
        return unit_float_to_uint8(prob)
    if file_format == "png16":
        return np.clip(np.rint(prob.astype(np.float64) * 65535.0), 0, 65535).astype(np.uint16)
    return prob.astype(np.float32)
