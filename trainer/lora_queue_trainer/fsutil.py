"""Atomic folder writes: build in a temporary sibling, fsync, rename into place."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def fsync_tree(root: str | os.PathLike) -> None:
    """fsync every file and folder under root, so a rename that follows never
    publishes a folder whose contents are still only in the page cache."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


def fsync_dir(path: str | os.PathLike) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders
    finally:
        os.close(fd)


def temp_sibling(final: str | os.PathLike, tag: str = "tmp") -> Path:
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.{tag}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def publish_dir(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """fsync ``tmp`` and rename it to ``final``. An existing ``final`` is moved
    aside first and removed only after the new one is in place, so at every
    instant ``final`` is either the old complete folder or the new one."""
    tmp, final = Path(tmp), Path(final)
    fsync_tree(tmp)
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
