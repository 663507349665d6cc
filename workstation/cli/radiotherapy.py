"""Local radiotherapy commands: ``rt-dose`` (coverage of a planning system's dose) and ``combine`` (EQD2 sums)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import parse_named_specs, progress, say

app = typer.Typer()


def _parameter_overrides(items: list[str] | None, option: str) -> dict[str, float]:
    from workstation.core.errors import InvalidInputError

    out: dict[str, float] = {}
    for name, value in parse_named_specs(items, option).items():
        try:
            out[name] = float(value)
        except ValueError:
            raise InvalidInputError(f"{option} {name}={value!r}: the value must be a number.") from None
        if not out[name] > 0:
            raise InvalidInputError(f"{option} {name}={value}: the value must be positive.")
    return out


@app.command("rt-dose")
def rt_dose(
    dose: Annotated[list[str], typer.Option("--dose", help="RT Dose file or folder (repeat for beam doses).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    plan: Annotated[str | None, typer.Option("--plan", help="RT Plan: fractions, prescription, brachytherapy totals.")] = None,
    structures: Annotated[str | None, typer.Option("--structures", help="RT Structure Set; every contoured ROI is evaluated.")] = None,
    roi: Annotated[list[str] | None, typer.Option("--roi", help="NAME=MASK (repeat): more structures.")] = None,
    ct: Annotated[str | None, typer.Option("--ct", help="CT IMG: the evaluation grid (dose resampled trilinearly onto it).")] = None,
    ct_series: Annotated[str | None, typer.Option("--ct-series", help="Series UID (prefix) of the CT in a DICOM folder.")] = None,
    prescription_gy: Annotated[float | None, typer.Option("--prescription-gy", help="Total prescription dose, Gy (overrides the plan).")] = None,
    fractions: Annotated[int | None, typer.Option("--fractions", help="Number of fractions (overrides the plan).")] = None,
    transform: Annotated[Path | None, typer.Option("--transform", help="Transform (CT space -> dose space) for a dose in another frame of reference.")] = None,
    alpha_beta: Annotated[list[str] | None, typer.Option("--alpha-beta", help="NAME=GY (repeat): α/β of a structure.")] = None,
    repair_half_time: Annotated[list[str] | None, typer.Option("--repair-half-time", help="NAME=H (repeat): repair half-time of a structure, hours.")] = None,
) -> None:
    """Dose from a planning system (SBRT, HDR brachytherapy): DVH, coverage, conformity, constraints, EQD2."""
    from workstation.io import ensure_not_input, read_image
    from workstation.radiotherapy import run_rt_dose, write_rt_dose_outputs
    from workstation.report.radiotherapy import render_rt_dose_report

    ensure_not_input(output, *dose, plan, structures, ct)
    rois = parse_named_specs(roi)
    tfm = None
    if transform is not None:
        import SimpleITK as sitk

        from workstation.core.errors import InvalidInputError

        try:
            tfm = sitk.ReadTransform(str(transform))
        except RuntimeError as exc:
            raise InvalidInputError(f"{transform}: not a readable transform ({str(exc).splitlines()[0]}).") from None
    with progress("rt-dose") as advance:
        advance(0.05, "reading")
        ct_vol = read_image(ct, series=ct_series) if ct else None
        advance(0.3, "evaluating")
        result = run_rt_dose(dose if len(dose) > 1 else dose[0], plan=plan, structures=structures, rois=rois,
                             ct=ct_vol, prescription_gy=prescription_gy, fractions=fractions, transform=tfm,
                             alpha_beta_gy=_parameter_overrides(alpha_beta, "--alpha-beta"),
                             repair_half_time_h=_parameter_overrides(repair_half_time, "--repair-half-time"))
        advance(0.7, "writing")
        inputs = [{"role": "RT Dose", "path": d} for d in dose]
        inputs += [{"role": r, "path": p} for r, p in (("RT Plan", plan), ("RT Structure Set", structures),
                                                        ("CT", ct)) if p]
        inputs += [{"role": f"ROI {n}", "path": s} for n, s in rois.items()]
        write_rt_dose_outputs(result, output, inputs=inputs, report_renderer=render_rt_dose_report)
    r = result.results
    say(f"prescription {r['prescription_gy']} Gy in {r['fractions']} fraction(s)")
    for name, m in r["rois"].items():
        v100 = m.get("v100_percent")
        say(f"{name}: mean {m['mean_gy']:.2f} Gy, D98 {m['d98_gy']:.2f} Gy, D2 {m['d2_gy']:.2f} Gy"
            + (f", V100 {v100:.1f} %" if v100 is not None else ""))
    conf = r["conformity"]
    if conf.get("paddick") is not None:
        say(f"conformity ({conf['target']}): Paddick {conf['paddick']:.3f}, gradient index {conf['gradient_index']:.2f}")
    for c in r["constraints"]:
        say(f"{'ok  ' if c['passed'] else 'FAIL'} {c['description']}: {c['value']:.1f} {c['unit']}")
    for w in r["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    say(f"wrote {output}/results.json, dvh.csv, dose.nii.gz, eqd2.nii.gz, report.html")


@app.command()
def combine(
    dose: Annotated[list[str], typer.Option("--dose", help="NAME=IMG:SCHEME (repeat); SCHEME sirt:NUCLIDE, ebrt:FRACTIONS or hdr:FRACTIONS.")],
    ct: Annotated[str, typer.Option("--ct", help="CT IMG: the grid of the sum.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    transform: Annotated[list[str] | None, typer.Option("--transform", help="NAME=T.tfm (repeat): CT space -> that dose's space.")] = None,
    structures: Annotated[str | None, typer.Option("--structures", help="RT Structure Set on the CT.")] = None,
    roi: Annotated[list[str] | None, typer.Option("--roi", help="NAME=MASK (repeat).")] = None,
    ct_series: Annotated[str | None, typer.Option("--ct-series", help="Series UID (prefix) of the CT.")] = None,
    alpha_beta: Annotated[list[str] | None, typer.Option("--alpha-beta", help="NAME=GY (repeat): α/β of a structure.")] = None,
    repair_half_time: Annotated[list[str] | None, typer.Option("--repair-half-time", help="NAME=H (repeat), hours.")] = None,
) -> None:
    """Sum treatments (SIRT, SBRT, HDR) in EQD2 on the CT grid, with each structure's α/β."""
    from workstation.io import ensure_not_input, read_image
    from workstation.radiotherapy import parse_dose_spec, run_combine, write_combine_outputs
    from workstation.report.radiotherapy import render_combine_report

    files = [parse_dose_spec(d)[1] for d in dose]
    transforms = parse_named_specs(transform, "--transform")
    rois = parse_named_specs(roi)
    ensure_not_input(output, *files, ct, structures, *transforms.values())
    with progress("combine") as advance:
        ct_vol = read_image(ct, series=ct_series)
        advance(0.2, "summing")
        result = run_combine(dose, ct_vol, transforms=transforms, structures=structures, rois=rois,
                             alpha_beta_gy=_parameter_overrides(alpha_beta, "--alpha-beta"),
                             repair_half_time_h=_parameter_overrides(repair_half_time, "--repair-half-time"))
        advance(0.7, "writing")
        inputs = [{"role": f"dose {d.split('=')[0]}", "path": f} for d, f in zip(dose, files, strict=True)]
        inputs.append({"role": "CT", "path": ct})
        if structures:
            inputs.append({"role": "RT Structure Set", "path": structures})
        inputs += [{"role": f"ROI {n}", "path": s} for n, s in rois.items()]
        write_combine_outputs(result, output, inputs=inputs, report_renderer=render_combine_report)
    for name, entry in result.results["rois"].items():
        say(f"{name}: total EQD2 mean {entry['total']['mean_gy']:.2f} Gy, D2 {entry['total']['d2_gy']:.2f} Gy")
    for w in result.results["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    say(f"wrote {output}/eqd2_total.nii.gz, results.json, report.html")
