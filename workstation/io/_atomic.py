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
    _mkdir(target.parent)
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
    _mkdir(target)
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
    """Refuse an output that overwrites or lies inside an input, or that cannot be written.

    A DICOM file input protects its whole folder (the folder is the series: an
    output written there would become part of it). Checked before any work, so
    a bad output path costs nothing.
    """
    out = Path(output).resolve()
    for item in inputs:
        if item is None:
            continue
        src = Path(str(item).split("#", 1)[0]).resolve()
        protected = src if src.is_dir() else (src.parent if _is_dicom_image_file(src) else None)
        if out == src or (protected is not None and (out == protected or protected in out.parents)):
            raise InvalidInputError(
                f"The output {output} would overwrite or write into the input {item}; "
                "choose another output path."
            )
    _ensure_writable(out, output)


def _is_dicom_image_file(path: Path) -> bool:
    """A DICOM file (preamble 'DICM') holding an image, not a SEG/RTSTRUCT/RTDOSE of its own."""
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if head[128:132] != b"DICM":
        return False
    try:
        import pydicom

        modality = str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality", ""))
    except Exception:  # noqa: BLE001 - unreadable here means: treat as an image file
        return True
    return modality.upper() not in ("SEG", "RTSTRUCT", "RTDOSE", "RTPLAN", "SR")


def _ensure_writable(out: Path, given: str | os.PathLike[str]) -> None:
    """The nearest existing ancestor of ``out`` must be a writable folder."""
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe != out and not probe.is_dir():
        raise InvalidInputError(f"The output {given} cannot be created: {probe} is a file, not a folder.")
    folder = probe if probe.is_dir() else probe.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError(f"The output {given} cannot be written: no write permission in {folder}.")


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"The output folder {path} cannot be created ({exc.strerror or exc}).") from None
