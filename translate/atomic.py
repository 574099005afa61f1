"""Atomic file writes: a crash leaves the old file or the new one under the final name, never a torn one.

Every writer in the project goes through here: checkpoints, ONNX exports and their Triton
configs, run configs and output images. Torch-free, so ``translate.images`` can use it.

Permissions are those a plain ``open(path, "w")`` / ``mkdir()`` would give: a new file gets
``0o666 & ~umask`` (0644 under the usual umask 022), a replaced file keeps its mode, a folder
``0o777 & ~umask`` (0755). The temp files are created with ``os.open(..., 0o666)`` rather than
``tempfile.mkstemp`` (always 0600) so that a model exported here can be read by a server or a
Triton container running as another user.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

_TRIES = 100  # random temp names tried before giving up (a collision needs 2^64 bad luck)


def _create_temp_file(directory: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """(fd, path) of a new, empty file in ``directory``: O_EXCL, mode 0o666 filtered by the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(_TRIES):
        tmp = directory / f"{prefix}{secrets.token_hex(8)}{suffix}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def temp_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new, empty folder in ``parent`` named ``prefix`` + random hex, with mkdir()'s permissions.

    ``tempfile.mkdtemp`` makes 0700 folders; a folder that is later renamed into place (a model
    version) must be as readable as any other folder the user creates.
    """
    parent = Path(parent)
    for _ in range(_TRIES):
        path = parent / f"{prefix}{secrets.token_hex(8)}"
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary folder in {parent}")


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: not every OS/filesystem allows it)."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_bytes(path: str | os.PathLike, writer) -> Path:
    """Call ``writer(fileobj)`` on a temp file next to ``path``, fsync it, then rename into place.

    A crash at any point leaves either the old file or the new one, never a torn one. Missing
    parent folders are created. The file's mode is what ``open()`` would leave: the umask's for a
    new file, the old file's for a replaced one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp_file(path.parent, f".{path.name}.", ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            try:  # replacing a file keeps its permissions, as open(path, "w") would
                os.fchmod(f.fileno(), stat.S_IMODE(os.stat(path).st_mode))
            except (FileNotFoundError, AttributeError):  # new file (umask applied at creation) / no fchmod
                pass
            os.fsync(f.fileno())
    except BaseException:
        _discard(tmp)
        raise
    return _install(tmp, path)


def atomic_link(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Make ``path`` an atomic second name of the finished file ``source`` (a hard link renamed into place).

    Readers see the old ``path`` or the new one, never a partial file. Where hard links are not
    possible (another filesystem, FAT, some network mounts) the bytes are copied with
    :func:`atomic_write_bytes` instead. Used for ``last.pt`` / ``best.pt`` next to ``step_*.pt``:
    no second copy on disk, and pruning old step files never touches them.
    """
    source, path = Path(source), Path(path)
    fd, tmp = _create_temp_file(path.parent, f".{path.name}.", ".tmp")
    os.close(fd)
    os.unlink(tmp)  # only the unique name was wanted: os.link will not replace an existing file
    try:
        os.link(source, tmp)
    except OSError:
        with open(source, "rb") as src:
            return atomic_write_bytes(path, lambda f: _copy(src, f))
    return _install(tmp, path)


def _install(tmp: str, path: Path) -> Path:
    """Rename the finished ``tmp`` onto ``path`` (removing ``tmp`` if that fails) and make the rename durable."""
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _discard(tmp: str) -> None:
    """Remove a temp file that will not be installed (gone already is fine)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def _copy(src, dst, chunk: int = 1 << 20) -> None:
    while block := src.read(chunk):
        dst.write(block)
