"""Sample studies with known ground truth: digital patients and a QA phantom as DICOM.

Seven studies, each written by one function in its own module (:mod:`._sirt`, :mod:`._maa`,
:mod:`._ablation`, :mod:`._nema`, :mod:`._sbrt`, :mod:`._hdr`, :mod:`._tace`), deterministically
(fixed seeds, UIDs hashed from fixed strings, fixed dates):

``sirt``
    Post-treatment 90Y bremsstrahlung SPECT/CT (NM multi-frame + CT series) and
    90Y PET (Bq/mL) of one known right-lobar microsphere distribution.
``maa``
    99mTc-MAA planning SPECT/CT of the same patient: known lung shunt fraction
    and perfused territory (right lobe), its own frame of reference.
``ablation``
    Pre- and post-ablation CT with distinct frames of reference, a known rigid +
    B-spline transform (``transform.tfm``) and known per-tumour margins.
``nema``
    NEMA IEC body phantom (six spheres, 8:1, lung insert) in 90Y, PET and SPECT.
``sbrt``
    Liver SBRT of a right-lobe metastasis (45 Gy / 3 fractions): planning CT,
    RT Structure Set, RT Plan and RT Dose of an analytic dose with known DVHs
    (:mod:`._sbrt`).
``hdr``
    Interstitial 192Ir HDR brachytherapy of a second liver metastasis of the same
    patient (20 Gy / 1 fraction): CT, RT Structure Set, brachytherapy RT Plan and
    RT Dose of a point-source dose with known DVHs (:mod:`._hdr`).
``tace``
    Pre-TACE contrast CT and post-TACE unenhanced CT with known lipiodol
    deposition (complete, partial, rim-sparing, non-target), a clip with streak
    artefacts and a calcification (:mod:`._tace`).

Layout of an output folder (other packages rely on it)::

    sirt/{ct/,spect/NM000001.dcm,pet/,ground_truth/}
    maa/{ct/,spect/NM000001.dcm,ground_truth/}
    ablation/{pre_ct/,post_ct/,ground_truth/}
    nema/{pet/,spect/NM000001.dcm,ground_truth/}
    sbrt/{ct/,rt/{RS,RP,RD}.dcm,ground_truth/}
    hdr/{ct/,rt/{RS,RP,RD}.dcm,ground_truth/}
    tace/{pre_ct/,post_ct/,ground_truth/}

``ground_truth/`` holds NIfTI masks and maps on the CT grid of the study and
``truth.json``; ``sample_data/README.md`` documents every number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workstation.core.errors import InvalidInputError
from workstation.core.progress import Progress

__all__ = ["CASES", "CASE_FOLDERS", "RT_FOLDERS", "generate", "generate_cohort", "sample_data_dir"]

#: Case names in generation order.
CASES: tuple[str, ...] = ("sirt", "ablation", "nema", "maa", "sbrt", "hdr", "tace")

#: The sub-folders each case writes.
CASE_FOLDERS: dict[str, tuple[str, ...]] = {
    "sirt": ("ct", "spect", "pet", "ground_truth"),
    "maa": ("ct", "spect", "ground_truth"),
    "ablation": ("pre_ct", "post_ct", "ground_truth"),
    "nema": ("pet", "spect", "ground_truth"),
    "sbrt": ("ct", "ground_truth"),
    "hdr": ("ct", "ground_truth"),
    "tace": ("pre_ct", "post_ct", "ground_truth"),
}

#: The sub-folders of RT objects (RT Structure Set, RT Plan, RT Dose files), not image series.
RT_FOLDERS: dict[str, tuple[str, ...]] = {"sbrt": ("rt",), "hdr": ("rt",)}


def _check_cases(cases: Iterable[str] | None) -> list[str]:
    if cases is None:
        return list(CASES)
    chosen = [str(c).strip().lower() for c in cases]
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        raise InvalidInputError(
            f"Unknown sample case {unknown[0]!r} (option --case); choose from {', '.join(CASES)}."
        )
    return [c for c in CASES if c in chosen]


def generate(
    out_dir: str | os.PathLike[str],
    cases: Iterable[str] | None = None,
    previews: bool = False,
    progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """Write the sample studies (DICOM + ground truth) into ``out_dir``.

    Parameters
    ----------
    out_dir:
        Output folder; each case is written to ``out_dir/<case>/``. Files are
        written to a temporary folder first and moved in when complete.
    cases:
        Subset of :data:`CASES`; all by default.
    previews:
        Also write PNG previews (``out_dir/previews/<case>.png``) with matplotlib.
    progress:
        Optional callback ``progress(fraction, text)``.

    Returns
    -------
    dict
        The ``truth.json`` content of each generated case.
    """
    from workstation.io._atomic import atomic_directory
    from workstation.samples import _ablation, _hdr, _maa, _nema, _sbrt, _sirt, _tace

    chosen = _check_cases(cases)
    makers = {"sirt": _sirt.make_sirt, "maa": _maa.make_maa,
              "ablation": _ablation.make_ablation, "nema": _nema.make_nema,
              "sbrt": _sbrt.make_sbrt, "hdr": _hdr.make_hdr, "tace": _tace.make_tace}
    truths: dict[str, dict[str, Any]] = {}
    out = Path(out_dir)
    with atomic_directory(out) as tmp:
        for n, case in enumerate(chosen):
            if progress is not None:
                progress(n / len(chosen), f"generating {case}")
            truths[case] = makers[case](tmp / case)
            if previews:
                from workstation.samples._previews import write_preview

                write_preview(case, tmp / case, tmp / "previews" / f"{case}.png")
    if progress is not None:
        progress(1.0, "done")
    return truths


def generate_cohort(
    out_dir: str | os.PathLike[str],
    patients: int,
    seed: int = 2026,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write a synthetic cohort (``manifest.csv``, ``truth.json``, one folder per patient).

    Each patient has a 90Y SIRT (PET/CT, three lesions whose responses follow a known
    dose-response curve) and an ablation (masks with a known minimal margin, local
    progression from a known hazard model): see :mod:`._cohort`. Written to a
    temporary folder and moved in when complete.

    Returns
    -------
    dict
        The content of ``truth.json``.
    """
    from workstation.io._atomic import atomic_directory
    from workstation.samples._cohort import make_cohort

    with atomic_directory(Path(out_dir)) as tmp:
        truth = make_cohort(tmp, patients, seed=seed, progress=progress)
    if progress is not None:
        progress(1.0, "done")
    return truth


def _repository_copy() -> Path:
    """Where the repository keeps the committed sample studies."""
    return Path(__file__).resolve().parents[2] / "sample_data"


def _complete(folder: Path, cases: Iterable[str] = CASES) -> bool:
    return all((folder / c / "ground_truth" / "truth.json").is_file() for c in cases)


def sample_data_dir() -> Path:
    """The folder of the bundled sample studies.

    The repository's committed ``sample_data/`` when present; otherwise the
    studies are generated once into the user cache
    (``$XDG_CACHE_HOME/workstation/sample_data-v<version>``, default
    ``~/.cache/...``) and that folder is returned.
    """
    from workstation.samples._common import GENERATOR_VERSION

    repo = _repository_copy()
    if _complete(repo):
        return repo
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = cache_root / "workstation" / f"sample_data-v{GENERATOR_VERSION}"
    if not _complete(cache):
        generate(cache)
    return cache
