"""``workstation qa``: physics self-checks and phantom QA, with qa.json and a report."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.core.errors import InvalidInputError
from workstation.core.outputs import jsonable
from workstation.core.progress import Progress, no_progress
from workstation.core.volume import Volume
from workstation.qa.nema import (
    QA_TOLERANCES,
    PhantomQAResult,
    analyse_nema_phantom,
)
from workstation.qa.physics import run_physics_checks

__all__ = ["PhantomInput", "bundled_phantoms", "run_qa", "build_qa_report"]


@dataclass
class PhantomInput:
    """A phantom image with its stated concentrations (Bq/mL at the image reference time)."""

    name: str
    path: str
    sphere_concentration: float
    background_concentration: float
    series: str | None = None
    #: ``"Bq/mL"`` or ``"counts"`` when the file does not say (no Units tag, NIfTI, NRRD).
    units: str | None = None


def bundled_phantoms() -> list[PhantomInput]:
    """The PET and SPECT images of the bundled NEMA IEC phantom, with its truth."""
    from workstation.samples import sample_data_dir

    root = sample_data_dir() / "nema"
    truth = json.loads((root / "ground_truth" / "truth.json").read_text(encoding="utf-8"))
    return [
        PhantomInput(f"bundled NEMA {m.upper()}", str(root / m), float(truth["sphere_bq_per_ml"]),
                     float(truth["background_bq_per_ml"]))
        for m in ("pet", "spect")
    ]


def _vsv_engine(activity: Volume) -> Volume:
    from workstation.dosimetry import absorbed_dose_vsv

    return absorbed_dose_vsv(activity)


def run_qa(
    phantoms: list[PhantomInput] | None = None,
    physics: bool = True,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], list[tuple[PhantomInput, PhantomQAResult]]]:
    """Run the checks; returns the qa.json dictionary and the phantom results."""
    from workstation import __version__
    from workstation.io import read_image

    tick = progress or no_progress
    phantoms = bundled_phantoms() if phantoms is None else phantoms
    tick(0.05, "physics self-checks")
    physics_rows = run_physics_checks() if physics else []
    results: list[tuple[PhantomInput, PhantomQAResult]] = []
    for n, ph in enumerate(phantoms):
        tick(0.2 + 0.7 * n / max(len(phantoms), 1), f"phantom {ph.name}")
        image = read_image(ph.path, series=ph.series, units=ph.units)
        res = analyse_nema_phantom(image, ph.sphere_concentration, ph.background_concentration,
                                   dose_engine=_vsv_engine)
        results.append((ph, res))
    table = [
        {"group": "physics", **{k: r[k] for k in ("check", "value", "tolerance", "passed")},
         "reason": None if r["passed"] else f"{r['check']}: {r['value']} against {r['expected']} "
         f"({r['source']})"}
        for r in physics_rows
    ]
    table.extend({"group": ph.name, **c} for ph, res in results for c in res.checks)
    passed = all(row["passed"] for row in table if row["passed"] is not None)
    qa = {
        "workstation_version": __version__,
        "passed": passed,
        "table": table,
        "physics": physics_rows,
        "phantoms": [{"name": ph.name, "path": ph.path, **res.to_dict()} for ph, res in results],
        "tolerances": QA_TOLERANCES,
    }
    tick(1.0, "done")
    return qa, results


def build_qa_report(qa: dict[str, Any], results: list[tuple[PhantomInput, PhantomQAResult]]):
    """The QA report document (built by :func:`workstation.report.qa.build_qa_report`)."""
    from workstation.report.qa import build_qa_report as _build

    return _build(qa, results)


def write_qa(out_dir: str | os.PathLike[str], qa: dict[str, Any],
             results: list[tuple[PhantomInput, PhantomQAResult]]) -> list[Path]:
    """Write qa.json, report.html and report.pdf atomically into ``out_dir``."""
    from workstation.io import atomic_directory
    from workstation.report.document import render_html, render_pdf

    doc = build_qa_report(qa, results)
    with atomic_directory(out_dir) as tmp:
        (tmp / "qa.json").write_text(json.dumps(jsonable(qa), indent=2, allow_nan=False), "utf-8")
        (tmp / "report.html").write_text(render_html(doc), "utf-8")
        (tmp / "report.pdf").write_bytes(render_pdf(doc))
    return [Path(out_dir) / n for n in ("qa.json", "report.html", "report.pdf")]


def parse_phantom_option(path: str | None, sphere: float | None, background: float | None,
                         series: str | None = None, units: str | None = None) -> list[PhantomInput] | None:
    """``--phantom IMG --sphere-concentration C --background B [--units U]`` → inputs (None: the bundled ones)."""
    if path is None:
        if sphere is not None or background is not None or units is not None:
            raise InvalidInputError("--sphere-concentration, --background and --units need --phantom IMG.")
        return None
    if units is not None and units.strip().lower() not in ("bq/ml", "counts"):
        raise InvalidInputError(f"--units must be Bq/mL or counts, got {units!r}.")
    if sphere is None or background is None:
        raise InvalidInputError(
            f"--phantom {path} needs --sphere-concentration and --background (Bq/mL at the image's "
            "reference time)."
        )
    return [PhantomInput(f"phantom {Path(path).name}", path, sphere, background, series, units)]
