"""Dosimetry commands: ``kernel``, ``plan`` and ``sirt``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from workstation.cli._common import parse_named_specs, progress, say
from workstation.core.constants import SOFT_TISSUE_DENSITY_G_PER_ML

app = typer.Typer()


@app.command()
def kernel(
    spacing: Annotated[
        tuple[float, float, float], typer.Option(help="Voxel size SX SY SZ in mm (x, y, z order).")
    ],
    nuclide: Annotated[str, typer.Option(help="Nuclide: Y-90 or Ho-166.")] = "Y-90",
    density: Annotated[float, typer.Option(help="Medium density in g/mL (ranges scale as 1/density).")] = 1.0,
    radius_mm: Annotated[float, typer.Option(help="Kernel support radius in unit-density water, mm.")] = 12.0,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the kernel as .npy (axes z, y, x; mGy/(MBq*s)).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print shape, spacing, density, centre value, energy closure as JSON.")] = False,
) -> None:
    """Voxel S-value kernel from the Graves et al. (2019) 90Y dose point kernel, in mGy/(MBq*s)."""
    import json

    import numpy as np

    from workstation.dosimetry.kernels import voxel_s_kernel
    from workstation.io import atomic_path

    sx, sy, sz = spacing
    k = voxel_s_kernel((sz, sy, sx), density_g_per_ml=density, nuclide=nuclide, radius_mm=radius_mm)
    if output is not None:
        if output.suffix != ".npy":
            from workstation.core.errors import InvalidInputError

            raise InvalidInputError(f"The kernel output {output} must end in .npy.")
        with atomic_path(output) as tmp, open(tmp, "wb") as fh:
            np.save(fh, k.values_mgy_per_mbq_s.astype(np.float64))
    summary = k.summary()
    if output is not None:
        summary["output"] = str(output)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        say(
            f"kernel {'x'.join(map(str, k.shape[::-1]))} voxels (x*y*z) of {sx:g} x {sy:g} x {sz:g} mm at "
            f"{density:g} g/mL: centre {k.centre_mgy_per_mbq_s:.5g} mGy/(MBq*s), "
            f"energy closure {100 * k.energy_closure:.2f} %"
            + (f", written to {output}" if output else "")
        )



@app.command()
def plan(
    model: Annotated[str, typer.Option(help="bsa (resin), mird (glass) or partition (one or several territories).")],
    height_cm: Annotated[float | None, typer.Option(help="bsa: patient height, cm.")] = None,
    weight_kg: Annotated[float | None, typer.Option(help="bsa: patient weight, kg.")] = None,
    liver_ml: Annotated[float | None, typer.Option(help="bsa: total liver volume; mird: perfused volume (mL).")] = None,
    tumor_ml: Annotated[float | None, typer.Option(help="bsa/partition: tumour volume, mL.")] = None,
    normal_ml: Annotated[float | None, typer.Option(help="partition: normal (perfused) liver volume, mL.")] = None,
    treated_fraction: Annotated[float | None, typer.Option(help="bsa: fraction of the liver treated (lobe volume / liver); default 1, or the MAA perfused territory / liver.")] = None,
    target_gy: Annotated[float | None, typer.Option(help="mird: target dose to the perfused liver, Gy.")] = None,
    tnr: Annotated[float | None, typer.Option(help="partition: tumour-to-normal ratio (MAA).")] = None,
    target_normal_gy: Annotated[float | None, typer.Option(help="partition: target normal-liver dose, Gy.")] = None,
    target_tumor_gy: Annotated[float | None, typer.Option(help="partition: target tumour dose, Gy.")] = None,
    normal_limit_gy: Annotated[float | None, typer.Option(help="partition: largest activity with normal liver <= this dose and lungs <= --lung-limit-gy.")] = None,
    territory: Annotated[list[str] | None, typer.Option(help="partition, several territories: NAME:TUMOR_ML:NORMAL_ML:TNR (repeat).")] = None,
    lung_shunt: Annotated[float | None, typer.Option(help="Lung shunt fraction (0-1); default 0, or measured on --maa.")] = None,
    residual: Annotated[float, typer.Option(help="Residual fraction in vial/catheter (0-1).")] = 0.0,
    lung_mass_g: Annotated[float, typer.Option(help="Lung mass, g.")] = 1000.0,
    lung_limit_gy: Annotated[float, typer.Option(help="Lung dose limit for --normal-limit-gy, Gy.")] = 30.0,
    liver_density: Annotated[float, typer.Option(help="Liver density for volume-to-mass, g/mL.")] = SOFT_TISSUE_DENSITY_G_PER_ML,
    ldm_factor: Annotated[float | None, typer.Option(help="LDM factor, Gy kg/GBq (default the nuclide's: Y-90 49.67, Ho-166 15.87).")] = None,
    nuclide: Annotated[str, typer.Option(help="mird/partition: Y-90 or Ho-166 (sets the default LDM factor).")] = "Y-90",
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    maa: Annotated[str | None, typer.Option(help="99mTc-MAA SPECT IMG: LSF, TNR and volumes not given as options are measured on it.")] = None,
    maa_series: Annotated[str | None, typer.Option(help="Series of --maa (UID or unique prefix).")] = None,
    maa_ct: Annotated[str | None, typer.Option(help="CT IMG of the MAA SPECT/CT: the --roi masks are put on its grid.")] = None,
    roi: Annotated[list[str] | None, typer.Option(help="With --maa: NAME=MASK (repeat); names liver, lungs (optional with --lung-shunt or --planar-counts), lesions (label image), perfused (optional territory).")] = None,
    planar_counts: Annotated[str | None, typer.Option("--planar-counts", help="Planar MAA counts LUNG_ANT,LUNG_POST,LIVER_ANT,LIVER_POST: the lung shunt by the geometric mean (AAPM Report 144).")] = None,
) -> None:
    """Prescribed activity from a planning model (BSA for 90Y resin; MIRD, partition / multi-compartment for 90Y or 166Ho)."""
    import json

    from workstation.core.errors import InvalidInputError
    from workstation.dosimetry import planning

    def need(name: str, value: float | None) -> float:
        if value is None:
            raise InvalidInputError(f"--model {model} needs --{name}.")
        return value

    m = model.lower()
    if lung_shunt is not None and planar_counts is not None:
        raise InvalidInputError("Give the lung shunt once: --lung-shunt or --planar-counts, not both.")
    lung_shunt_source = "given (--lung-shunt)" if lung_shunt is not None else None
    if planar_counts is not None:
        from workstation.dosimetry.maa import PLANAR_LSF_SOURCE, planar_lung_shunt_fraction

        try:
            counts = [float(v) for v in planar_counts.split(",")]
        except ValueError:
            counts = []
        if len(counts) != 4:
            raise InvalidInputError(
                f"--planar-counts {planar_counts!r} must be four numbers LUNG_ANT,LUNG_POST,LIVER_ANT,LIVER_POST."
            )
        lung_shunt = planar_lung_shunt_fraction(*counts)
        lung_shunt_source = f"planar geometric mean of --planar-counts ({PLANAR_LSF_SOURCE})"
    maa_result: dict[str, Any] | None = None
    if maa is not None:
        from workstation.dosimetry.maa import maa_uptake, plan_inputs_from_maa
        from workstation.io import read_image, read_mask

        specs = parse_named_specs(roi)
        maa_img = read_image(maa, series=maa_series)
        reference = read_image(maa_ct) if maa_ct is not None else maa_img
        maa_result = maa_uptake(
            maa_img, {n: read_mask(s, reference=reference) for n, s in specs.items()},
            density_g_per_ml=liver_density, lung_shunt_fraction=lung_shunt, lung_shunt_source=lung_shunt_source,
        )
        given = {"lung_shunt": lung_shunt, "tnr": tnr, "tumor_ml": tumor_ml, "normal_ml": normal_ml,
                 "liver_ml": liver_ml, "treated_fraction": treated_fraction}
        merged, taken = plan_inputs_from_maa("multi-compartment" if territory else m, maa_result, given)
        lung_shunt, tnr, tumor_ml, normal_ml, liver_ml, treated_fraction = (
            merged["lung_shunt"], merged["tnr"], merged["tumor_ml"], merged["normal_ml"], merged["liver_ml"],
            merged["treated_fraction"],
        )
        maa_result["used_for_plan"] = [f"--{k.replace('_', '-')}" for k in taken]
        if "lung_shunt" in taken:
            lung_shunt_source = "measured on the MAA SPECT/CT (lungs and liver volumes of interest)"
    elif roi or maa_ct is not None:
        raise InvalidInputError("--roi and --maa-ct need --maa IMG (the MAA SPECT).")
    lung_shunt = 0.0 if lung_shunt is None else lung_shunt
    treated_fraction = 1.0 if treated_fraction is None else treated_fraction
    result: dict[str, Any]
    if m == "bsa":
        result = planning.plan_bsa(
            need("height-cm", height_cm), need("weight-kg", weight_kg), need("liver-ml", liver_ml),
            need("tumor-ml", tumor_ml), treated_fraction, lung_shunt,
        )
    elif m == "mird":
        result = planning.plan_mird(
            need("target-gy", target_gy), need("liver-ml", liver_ml) * liver_density, lung_shunt,
            residual, lung_mass_g, ldm_factor, nuclide=nuclide,
        )
    elif m in ("partition", "multi-compartment"):
        kwargs = dict(
            lung_shunt_fraction=lung_shunt, target_normal_gy=target_normal_gy, target_tumor_gy=target_tumor_gy,
            normal_limit_gy=normal_limit_gy, lung_limit_gy=lung_limit_gy, residual_fraction=residual,
            lung_mass_g=lung_mass_g, ldm_gy_kg_per_gbq=ldm_factor, nuclide=nuclide,
        )
        if territory:
            terrs = [planning.parse_territory(spec, liver_density) for spec in territory]
            result = planning.plan_multi_compartment(terrs, **kwargs)  # type: ignore[arg-type]
        else:
            result = planning.plan_partition(
                need("tumor-ml", tumor_ml) * liver_density, need("normal-ml", normal_ml) * liver_density,
                need("tnr", tnr), **kwargs,  # type: ignore[arg-type]
            )
    else:
        raise InvalidInputError(f"Unknown --model {model!r}; choose bsa, mird or partition.")
    result["liver_density_g_per_ml"] = liver_density
    result["lung_shunt_source"] = lung_shunt_source or "none given: 0 assumed"
    if maa_result is not None:
        result["maa"] = maa_result
        result["warnings"] = [*result.get("warnings", []), *(f"MAA: {w}" for w in maa_result["warnings"])]
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"model: {result['model']}")
    if maa_result is not None:
        ratio = maa_result["tumor_to_normal_ratio"]
        typer.echo(
            f"MAA: lung shunt {100 * maa_result['lung_shunt_fraction']:.2f} % "
            f"({'given' if maa_result['lungs_volume_ml'] is None else 'SPECT/CT'}), "
            f"TNR {'n/a' if ratio is None else f'{ratio:.2f}'}, tumour {maa_result['tumor_volume_ml']:.1f} mL, "
            f"normal perfused liver {maa_result['normal_liver_volume_ml']:.1f} mL; "
            f"from the image: {', '.join(maa_result['used_for_plan']) or 'nothing'}"
        )
    typer.echo(f"prescribed activity: {result['prescribed_activity_gbq']:.3f} GBq")
    for key in ("doses",):
        for name, value in (result.get(key) or {}).items():
            typer.echo(f"  {name}: {value:.1f} Gy")
    for terr in result.get("territories", []) or []:
        typer.echo(
            f"  {terr['name']}: {terr['activity_gbq']:.3f} GBq, tumour {terr['tumor_gy']:.1f} Gy, "
            f"normal liver {terr['normal_liver_gy']:.1f} Gy"
        )
    if "lung_gy" in result and "lung_gy" not in (result.get("doses") or {}):
        typer.echo(f"  lung: {result['lung_gy']:.1f} Gy")
    typer.echo(f"lung shunt {100 * lung_shunt:.2f} %: {result['lung_shunt_source']}; "
               f"lung dose with a lung mass of {lung_mass_g:g} g")
    for w in result.get("warnings", []):
        typer.echo(f"warning: {w}")
    typer.echo(f"source: {result['source']}")



@app.command()
def sirt(
    activity: Annotated[str, typer.Option(help="Activity IMG: SPECT or PET (DICOM folder/file, NIfTI, NRRD, MHA).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    activity_units: Annotated[str | None, typer.Option(help="Bq/mL or counts, when the file does not say.")] = None,
    ct: Annotated[str | None, typer.Option(help="CT IMG of the same frame of reference (hybrid SPECT/CT).")] = None,
    roi: Annotated[list[str] | None, typer.Option(help="NAME=MASK (repeat); the role of each ROI comes from --roi-role, else from a word of its NAME (liver, lesion/tumour, lung, body, normal liver).")] = None,
    roi_role: Annotated[list[str] | None, typer.Option("--roi-role", help="NAME=ROLE (repeat): the role of the --roi NAME: liver, lesion, lung, body, normal_liver or other.")] = None,
    administered_gbq: Annotated[float | None, typer.Option(help="Administered activity, GBq.")] = None,
    lung_shunt: Annotated[float | None, typer.Option(help="Lung shunt fraction (0-1).")] = None,
    method: Annotated[str, typer.Option(help="ldm, vsv, vsv-density or all (comma-separated allowed).")] = "all",
    dose_grid: Annotated[str, typer.Option(help="Grid of the written doses: activity or ct.")] = "activity",
    ldm_factor: Annotated[float | None, typer.Option(help="LDM factor, Gy kg/GBq; default the nuclide's: Y-90 49.67 (or 49.38, 50), Ho-166 15.87.")] = None,
    residual: Annotated[float, typer.Option(help="Residual fraction left in vial/catheter (0-1).")] = 0.0,
    series: Annotated[str | None, typer.Option(help="Series UID (prefix) of the activity image in a DICOM folder.")] = None,
    ct_series: Annotated[str | None, typer.Option(help="Series UID (prefix) of the CT in a DICOM folder.")] = None,
    administration_time: Annotated[str | None, typer.Option(help="Administration date-time (ISO 8601), overriding the header.")] = None,
    nuclide: Annotated[str, typer.Option(help="Nuclide: Y-90 or Ho-166.")] = "Y-90",
    device: Annotated[str | None, typer.Option(help="glass or resin, for the safety thresholds.")] = None,
    prior_lung_dose_gy: Annotated[float, typer.Option(help="Lung dose of earlier treatments, Gy.")] = 0.0,
    lung_mass_g: Annotated[float | None, typer.Option(help="Lung mass for the lung-dose formula, g.")] = None,
    tissue_density: Annotated[float, typer.Option(help="Soft-tissue density of the LDM and VSV engines, g/mL.")] = SOFT_TISSUE_DENSITY_G_PER_ML,
    pvc: Annotated[str, typer.Option("--pvc", help="Partial-volume correction: rbv (corrected image feeds the engines), gtm (region means) or none.")] = "none",
    psf_fwhm_mm: Annotated[float | None, typer.Option("--psf-fwhm-mm", help="System resolution FWHM, mm, for --pvc (scanner spec or 'workstation qa' phantom fit).")] = None,
    dicom_results: Annotated[bool, typer.Option("--dicom-results", help="With DICOM inputs, also write the ROIs (SEG, RTSTRUCT), the numbers (SR, TID 1500) and the report (Encapsulated PDF) into the patient's study, for PACS (adds seconds).")] = False,
) -> None:
    """Voxel dosimetry of a SIRT activity image (90Y or 166Ho): LDM, VSV and density-corrected VSV."""
    import datetime as dt

    from workstation.core.errors import InvalidInputError
    from workstation.core.progress import scaled
    from workstation.dosimetry.nuclides import get_nuclide
    from workstation.dosimetry.pipeline import (
        check_ct_overlaps_activity,
        parse_methods,
        run_sirt,
        write_outputs,
    )
    from workstation.io import ensure_not_input, mask_needs_reference, read_image, read_mask

    get_nuclide(nuclide)
    parse_methods(method, ct is not None)
    if pvc.strip().lower() not in ("none", "rbv", "gtm"):
        raise InvalidInputError(f"Unknown --pvc {pvc!r}; choose rbv, gtm or none.")
    if (pvc.strip().lower() != "none") != (psf_fwhm_mm is not None):
        raise InvalidInputError("--pvc rbv|gtm and --psf-fwhm-mm go together: give the system FWHM in mm with --pvc.")
    if dose_grid not in ("activity", "ct"):
        raise InvalidInputError(f"--dose-grid must be activity or ct, got {dose_grid!r}.")
    if device is not None and device.lower() not in ("glass", "resin"):
        raise InvalidInputError(f"--device must be glass or resin, got {device!r}.")
    admin_dt = None
    if administration_time:
        try:
            admin_dt = dt.datetime.fromisoformat(administration_time)
        except ValueError:
            raise InvalidInputError(
                f"--administration-time {administration_time!r} is not an ISO 8601 date-time (e.g. 2026-11-27T10:30)."
            ) from None
    roi_specs = parse_named_specs(roi)
    from workstation.dosimetry.roles import resolve_roles

    chosen_roles = parse_named_specs(roi_role, option="--roi-role")
    roles, role_sources = resolve_roles(roi_specs, chosen_roles)
    ensure_not_input(output, activity, ct, *roi_specs.values())
    with progress("SIRT dosimetry") as advance:
        advance(0.0, "reading images")
        act_img = read_image(activity, series=series, units=activity_units)
        ct_img = read_image(ct, series=ct_series, units="HU") if ct else None
        if ct_img is not None:  # before the masks are placed on the CT: the message names both images
            check_ct_overlaps_activity(ct_img, act_img)
        # on the CT grid with a CT; else on their own grids, an RT Structure Set on the activity grid
        masks = {
            name: read_mask(spec, reference=ct_img if ct_img is not None
                            else act_img if mask_needs_reference(spec) else None)
            for name, spec in roi_specs.items()
        }
        result = run_sirt(
            act_img, ct=ct_img, rois=masks, activity_units=activity_units, administered_gbq=administered_gbq,
            lung_shunt_fraction=lung_shunt, residual_fraction=residual, method=method, ldm_gy_kg_per_gbq=ldm_factor,
            tissue_density_g_per_ml=tissue_density, administration_datetime=admin_dt, nuclide=nuclide,
            device=device, prior_lung_dose_gy=prior_lung_dose_gy, lung_mass_g=lung_mass_g,
            progress=scaled(advance, 0.1, 0.9),
            pvc=None if pvc.strip().lower() == "none" else pvc, psf_fwhm_mm=psf_fwhm_mm,
            psf_fwhm_source="given on the command line (--psf-fwhm-mm)" if psf_fwhm_mm is not None else None,
            roi_roles=chosen_roles,
        )
        advance(0.9, "writing outputs")
        inputs = [
            {"role": role, "path": path, "modality": vol.modality, "series_uid": vol.metadata.series_instance_uid,
             "description": vol.metadata.series_description}
            for role, path, vol in (("activity", activity, act_img), ("ct", ct, ct_img))
            if vol is not None
        ] + [{"role": f"ROI {name}", "path": spec} for name, spec in roi_specs.items()]
        from workstation.report.sirt import render_sirt_report

        files = write_outputs(result, output, dose_grid=dose_grid, inputs=inputs,
                              report_renderer=render_sirt_report, write_dicom=dicom_results)
    if roles:
        say("ROI roles: " + ", ".join(
            f"{name} {role.value.replace('_', ' ')}" + ("" if role_sources[name] == "chosen" else " (from the name)")
            for name, role in roles.items()
        ))
    for m, block in result.results["methods"].items():
        for name, met in block["rois"].items():
            say(f"{m:12s} {name:16s} mean {met['mean_gy']:8.1f} Gy  D90 {met['d90_gy']:8.1f} Gy  V100 {met['v_gy_percent']['100']:5.1f} %")
    pvc_block = result.results["activity"].get("partial_volume_correction") or {}
    for name, met in (pvc_block.get("gtm_ldm") or {}).get("rois", {}).items():
        say(f"{'gtm (ldm)':12s} {name:16s} mean {met['ldm_mean_gy']:8.1f} Gy  (partial-volume corrected region mean)")
    for w in result.warnings:
        say(f"warning: {w}")
    say(f"wrote {len(files)} files to {output}")

