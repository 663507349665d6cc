"""Ablation commands: ``margin`` and ``plan-ablation``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import progress, say

app = typer.Typer()


@app.command()
def margin(
    tumor: Annotated[str, typer.Option("--tumor", help="Tumour MASK (binary, label image or fractional 0..1).")],
    ablation: Annotated[str, typer.Option("--ablation", help="Ablation-zone MASK (on the post-ablation CT).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    liver: Annotated[str | None, typer.Option("--liver", help="Liver MASK: subcapsular points are excluded from the minimum.")] = None,
    pre_ct: Annotated[str | None, typer.Option("--pre-ct", help="Pre-ablation CT (IMG) on which --tumor was drawn.")] = None,
    post_ct: Annotated[str | None, typer.Option("--post-ct", help="Post-ablation CT (IMG) of --ablation and --liver.")] = None,
    pre_series: Annotated[str | None, typer.Option("--pre-series", help="Series UID (prefix) in --pre-ct.")] = None,
    post_series: Annotated[str | None, typer.Option("--post-series", help="Series UID (prefix) in --post-ct.")] = None,
    subcapsular_mm: Annotated[float, typer.Option("--subcapsular-mm", help="Exclude tumour-surface points this close (mm) to the liver capsule from the minimum.")] = 5.0,
    registration_mode: Annotated[str, typer.Option("--registration-mode", help="Pre→post CT registration: deformable (tumour kept rigid), affine or rigid.")] = "deformable",
    inverse_consistency: Annotated[bool, typer.Option(help="Estimate the registration error by registering back (doubles the time).")] = True,
    dicom_results: Annotated[bool, typer.Option("--dicom-results", help="With a DICOM post-CT, also write the tumour and ablation masks (SEG), the margins (SR, TID 1500) and the report (Encapsulated PDF) into its study, for PACS.")] = False,
) -> None:
    """Sub-voxel ablation margins per tumour; with both CTs the tumour is registered to the post-CT first."""
    from workstation.ablation.workflow import run_margin
    from workstation.report.margin import render_margin_report

    with progress("margins") as advance:
        results = run_margin(
            tumor, ablation, output, liver_spec=liver, pre_ct=pre_ct, post_ct=post_ct,
            pre_series=pre_series, post_series=post_series, subcapsular_mm=subcapsular_mm,
            progress=advance, registration_mode=registration_mode, inverse_consistency=inverse_consistency,
            report_renderer=render_margin_report, dicom_results=dicom_results,
        )
    for t in results["tumors"]:
        say(f"tumour {t['label']}: minimal margin {t['minimal_margin_mm']} mm, "
            f"{100 * t['surface_fraction']['below_0mm']:.1f} % of its surface uncovered")
    say(f"wrote {output}/results.json, margin_map.nii.gz, report.html")



@app.command("plan-ablation")
def plan_ablation(
    tumor: Annotated[str, typer.Option("--tumor", help="Tumour MASK.")],
    device_table: Annotated[Path, typer.Option("--device-table", help="CSV: power_w,time_s,length_mm,diameter_mm[,tip_to_centre_mm].")],
    applicator: Annotated[list[str], typer.Option("--applicator", help="X,Y,Z,DX,DY,DZ,POWER_W,TIME_S: tip (LPS mm), shaft direction towards the tip, setting; repeat for several.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    liver: Annotated[str | None, typer.Option("--liver", help="Liver MASK for the subcapsular exclusion.")] = None,
    subcapsular_mm: Annotated[float, typer.Option("--subcapsular-mm", help="Subcapsular distance (mm).")] = 5.0,
) -> None:
    """Predict the ellipsoidal zone of planned applicators (union) and its margins around the tumour."""
    from workstation.ablation.workflow import run_plan
    from workstation.report.margin import render_margin_report

    with progress("plan") as advance:
        results = run_plan(tumor, device_table, applicator, output, liver_spec=liver,
                           subcapsular_mm=subcapsular_mm, progress=advance,
                           report_renderer=render_margin_report)
    covers = results["plan_covers_margin_mm"]
    say(f"minimal margin {results['minimal_margin_mm']} mm; covers with 5 mm: "
        f"{'yes' if covers['5'] else 'no'}, with 10 mm: {'yes' if covers['10'] else 'no'}")
    say(f"wrote {output}/results.json, predicted_zone.nii.gz, margin_map.nii.gz, report.html")

