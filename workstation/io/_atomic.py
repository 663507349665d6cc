"""Outputs are written to a temporary name and renamed when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from workstation.core.errors import InvalidInputError

__all__ = ["atomic_path", "atomic_directory", "ensure_not_input"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _suffixes(path: Path) -> str:
    return "".join(path.suffixes)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; rename it to ``path`` on success.

    The temporary name keeps the suffixes (``.nii.gz`` …) so that writers that
    choose the format by extension work. On an exception nothing is left behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name.split('.')[0]}.", suffix=_suffixes(target) or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file private (0600); outputs get the usual mode (0666 & ~umask)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory; on success its files are moved into ``path``.

    Existing files of the same name in ``path`` are replaced one by one (each
    replacement atomic); files of ``path`` that the step did not write are kept.
    On an exception the temporary directory is removed and ``path`` is unchanged.
    """
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=target))
    try:
        yield tmp
        for item in sorted(tmp.rglob("*")):
            rel = item.relative_to(tmp)
            dest = target / rel
            if item.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_not_input(output: str | os.PathLike[str], *inputs: str | os.PathLike[str] | None) -> None:
    """Refuse an output path that is, or lies inside, one of the inputs."""
    out = Path(output).resolve()
    for item in inputs:
        if item is None:
            continue
        src = Path(str(item).split("#", 1)[0]).resolve()
        if out == src or (src.is_dir() and src in out.parents):
            raise InvalidInputError(
                f"The output {output} would overwrite or write into the input {item}; "
                "choose another output path."
            )
