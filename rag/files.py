"""Write-then-rename: the one way Groundwork puts a file or folder in place durably."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; write a file or make a folder there.

    On success the file is fsynced, renamed onto `target` and the rename made durable, so a
    crash leaves the old target or the new one, never half of one. A folder that another
    process put in place first is kept (theirs is as good as ours) and ours is removed.
    On error the temporary path is removed and the exception goes on.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        try:
            os.replace(tmp, target)
        except OSError:
            if not (tmp.is_dir() and target.is_dir()):
                raise
        _fsync_dir(target.parent)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
