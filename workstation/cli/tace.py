"""TACE and lesion commands: ``tace`` (lipiodol coverage) and ``lesions`` (per-lesion overview)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import progress, say

app = typer.Typer()


@app.command()
def tace(
    post_ct: Annotated[str, typer.Option("--post-ct", help="Post-TACE CT (IMG), ideally unenhanced.")],
    tumor: Annotated[str, typer.Option("--tumor", help="Tumour MASK: label image or binary (one tumour per component); on --pre-ct when given, else on --post-ct.")],
    liver: Annotated[str, typer.Option("--liver", help="Liver MASK on the post-TACE CT.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    pre_ct: Annotated[str | None, typer.Option("--pre-ct", help="Pre-TACE CT (IMG) of --tumor: registered to the post-TACE CT, its hyperdensities are pre-existing.")] = None,
    post_series: Annotated[str | None, typer.Option("--post-series", help="Series UID (prefix) in --post-ct.")] = None,
    pre_series: Annotated[str | None, typer.Option("--pre-series", help="Series UID (prefix) in --pre-ct.")] = None,
    registration_mode: Annotated[str, typer.Option("--registration-mode", help="Pre→post CT registration: deformable (tumours kept rigid), affine or rigid.")] = "deformable",
    transform: Annotated[str | None, typer.Option("--transform", help="A known transform (T.tfm, post-CT points → pre-CT points) instead of registering.")] = None,
    inverse_consistency: Annotated[bool, typer.Option(help="Estimate the registration error by registering back (doubles the time).")] = False,
    min_contrast_hu: Annotated[float | None, typer.Option("--min-contrast-hu", help="Seed contrast of lipiodol above the liver (HU); default adaptive (100 HU or 5 noise SD).")] = None,
) -> None:
    """Lipiodol deposition after TACE and per-tumour coverage, rim coverage, largest gap, class."""
    from workstation.report.tace import render_tace_report
    from workstation.tace import run_tace

    with progress("tace") as advance:
        results = run_tace(post_ct, tumor, liver, output, pre_ct=pre_ct, post_series=post_series,
                           pre_series=pre_series, registration_mode=registration_mode,
                           inverse_consistency=inverse_consistency, min_contrast_hu=min_contrast_hu,
                           transform=transform, report_renderer=render_tace_report,
                           progress=advance)
    for line in results["summary"]:
        say(line)
    for warning in results["warnings"]:
        say(f"warning: {warning}")
    say(f"wrote {output}/results.json, lipiodol.nii.gz, report.html")


@app.command()
def lesions(
    ct: Annotated[str, typer.Option("--ct", help="CT (IMG) of the lesions.")],
    liver: Annotated[str, typer.Option("--liver", help="Liver MASK.")],
    lesion_mask: Annotated[str, typer.Option("--lesions", help="Lesion MASK: label image or binary (one lesion per component).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    vessels: Annotated[str | None, typer.Option("--vessels", help="Vessel MASK (its parts ≥ 3 mm wide count); default: segmented on a contrast CT.")] = None,
    landmarks: Annotated[Path | None, typer.Option("--landmarks", help="JSON of LPS points: ivc, portal_bifurcation, right/middle/left_hepatic_vein (hilum and Couinaud planes).")] = None,
    series: Annotated[str | None, typer.Option("--series", help="Series UID (prefix) in --ct.")] = None,
) -> None:
    """Per-lesion size, location and distances, hepatic tumour burden, facts against published criteria."""
    from workstation.lesions import run_lesions
    from workstation.report.tace import render_lesion_report

    with progress("lesions") as advance:
        advance(0.05, "measuring")
        results = run_lesions(ct, liver, lesion_mask, output, vessels=vessels, landmarks=landmarks, series=series,
                              report_renderer=render_lesion_report)
        advance(1.0, "done")
    for r in results["lesions"]:
        seg = (r.get("couinaud") or {}).get("segment")
        say(f"lesion {r['label']}: {r.get('longest_diameter_mm')} x {r.get('short_axis_mm')} mm, {r['volume_ml']} mL, "
            f"capsule {r['capsule_distance_mm']} mm, vessel {r['vessel_distance_mm']} mm"
            + (f", segment {seg}" if seg else ""))
    say(f"hepatic tumour burden {results['tumour_burden_percent']} %")
    say(f"wrote {output}/results.json, report.html")
