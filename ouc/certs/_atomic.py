"""Atomic file writes: a crash leaves either the old file or the new one, never half of either.

The recipe: write a temporary file in the same directory (same file system, so the rename is
atomic), fsync it, ``os.replace`` it over the target, then fsync the directory so the rename
itself is durable. Private keys are created with mode 0600 from the first byte on, never
chmod-ed afterwards. Temporary files start with ``.`` and end with ``.tmp``; readers ignore them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ouc.errors import StoreError

__all__ = ["TMP_SUFFIX", "fsync_dir", "write_atomic"]

TMP_SUFFIX = ".tmp"


def fsync_dir(directory: Path) -> None:
    """Make renames and unlinks inside ``directory`` durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse directory fsync
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; the file gets exactly ``mode``.

    The folder must exist already (the store creates its own sub-folders).

    Raises:
        StoreError: the write failed; the old file (if any) is untouched.
    """
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}"
    try:
        # The folder must exist: a typo in an export path must not create folders anywhere.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed it; never widen beyond ``mode``
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}", path=str(path)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)
