"""The ``workstation`` command line (contract: ``shared/spec/CLI.md``).

Thin: parse, call the packages, print. Heavy imports happen inside the commands
so that ``workstation --help`` stays fast. Every :class:`WorkstationError`
becomes exit status 2 and one sentence on stderr; any other exception is an
internal error, exit status 1, with a traceback only under ``--debug``.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from workstation import __version__
from workstation.core.constants import SOFT_TISSUE_DENSITY_G_PER_ML
from workstation.core.errors import WorkstationError

app = typer.Typer(
    name="workstation",
    help="SIRT (90Y) dosimetry and ablation-margin imaging workstation.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_STATE: dict[str, bool] = {"debug": False, "quiet": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"workstation {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or chatter.")] = False,
) -> None:
    """SIRT (90Y) dosimetry and ablation-margin imaging workstation."""
    _STATE["debug"] = debug
    _STATE["quiet"] = quiet


# ----------------------------------------------------------------- helpers
def is_quiet() -> bool:
    """True with ``--quiet`` or when stdout is not a terminal."""
    return _STATE["quiet"] or not sys.stdout.isatty()


def say(message: str) -> None:
    """Print a line of chatter unless ``--quiet``."""
    if not _STATE["quiet"]:
        typer.echo(message)


@contextlib.contextmanager
def progress(description: str) -> Iterator[Any]:
    """A rich progress bar on a terminal; a no-op object otherwise.

    Yields a callable ``advance(fraction: float, text: str | None = None)``.
    """
    if is_quiet():
        yield lambda fraction, text=None: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task(description, total=1.0)

        def advance(fraction: float, text: str | None = None) -> None:
            bar.update(task, completed=min(max(fraction, 0.0), 1.0), description=text or description)

        yield advance


# ---------------------------------------------------------------- commands
@app.command()
def convert(
    image: Annotated[str, typer.Argument(help="Input IMG: DICOM folder/file, NIfTI, NRRD or MHA.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .nii.gz, .nii, .nrrd or .mha.")],
    series: Annotated[str | None, typer.Option(help="Series Instance UID (or unique prefix).")] = None,
) -> None:
    """Convert any readable volume to NIfTI/NRRD/MHA, keeping its geometry."""
    from workstation.io import ensure_not_input, read_image, write_image

    ensure_not_input(output, image)
    vol = read_image(image, series=series)
    write_image(vol, output)
    say(f"wrote {output} ({'x'.join(map(str, vol.shape[::-1]))} voxels, {vol.units.value})")


# Further commands are added below this line by each subpackage's work.


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path("demo_output"),
    no_viewer: Annotated[bool, typer.Option("--no-viewer", help="Do not open the viewer at the end.")] = False,
) -> None:
    """The whole SIRT and ablation workflow on the bundled sample studies, with every output."""
    from workstation.demo import run_demo
    from workstation.io import ensure_not_input
    from workstation.samples import sample_data_dir

    ensure_not_input(output, sample_data_dir())
    summary = run_demo(output, viewer=not no_viewer, echo=say)
    if not _STATE["quiet"]:
        from rich.console import Console
        from rich.table import Table as RichTable

        table = RichTable(title=f"workstation demo: {summary['seconds']:.0f} s, outputs in {output}")
        for col in ("step", "s", "outputs", "result"):
            table.add_column(col, overflow="fold")
        for st in summary["steps"]:
            table.add_row(st["name"], f"{st['seconds']:.1f}", "\n".join(st["outputs"]),
                          "\n".join(st["notes"]))
        Console(width=max(120, Console().width)).print(table)
    say(f"summary: {output / 'demo_summary.json'}; reports: {output}/sirt_spect/report.html, "
        f"{output}/margins/report.html, {output}/qa/report.html")


@app.command()
def qa(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path("qa_output"),
    phantom: Annotated[str | None, typer.Option(help="Your own NEMA IEC phantom image (IMG).")] = None,
    sphere_concentration: Annotated[
        float | None, typer.Option(help="Stated sphere concentration, Bq/mL at the image reference time.")
    ] = None,
    background: Annotated[
        float | None, typer.Option(help="Stated background concentration, Bq/mL at the image reference time.")
    ] = None,
    series: Annotated[str | None, typer.Option(help="Series of --phantom (UID or unique prefix).")] = None,
    no_physics: Annotated[bool, typer.Option("--no-physics", help="Skip the physics self-checks.")] = False,
) -> None:
    """Physics self-checks and NEMA IEC phantom QA: pass/fail table, qa.json and a report."""
    from workstation.io import ensure_not_input
    from workstation.qa.run import bundled_phantoms, parse_phantom_option, run_qa, write_qa

    phantoms = parse_phantom_option(phantom, sphere_concentration, background, series)
    ensure_not_input(output, *(p.path for p in (phantoms if phantoms is not None else bundled_phantoms())))
    with progress("QA") as tick:
        qa_dict, results = run_qa(phantoms, physics=not no_physics, progress=tick)
    write_qa(output, qa_dict, results)
    if not _STATE["quiet"]:
        from rich.console import Console
        from rich.table import Table as RichTable

        table = RichTable(title="QA")
        for col in ("group", "check", "value", "tolerance", "result"):
            table.add_column(col)
        for row in qa_dict["table"]:
            value = row["value"]
            table.add_row(str(row["group"]), str(row["check"]),
                          f"{value:.4g}" if isinstance(value, float) else str(value),
                          str(row["tolerance"]), "pass" if row["passed"] else "[red]FAIL[/red]")
        Console().print(table)
        for row in qa_dict["table"]:
            if row["passed"] is False and row.get("reason"):
                typer.echo(f"FAIL: {row['reason']}")
    say(f"QA {'passed' if qa_dict['passed'] else 'FAILED'}; wrote {output}/qa.json and {output}/report.html")
    if not qa_dict["passed"]:
        raise typer.Exit(code=3)


def _read_mask_for_registration(spec: str, fixed: Any) -> Any:
    """A MASK on its own grid when it has one (so its space can be recognised), else on the fixed grid."""
    from workstation.core.errors import InvalidInputError
    from workstation.io import read_mask

    try:
        return read_mask(spec)
    except InvalidInputError as exc:
        text = str(exc).lower()
        if "reference" not in text and "rasterize" not in text:  # RTSTRUCT needs an image grid
            raise
        return read_mask(spec, reference=fixed)


@app.command("register")
def register_images(
    fixed: Annotated[str, typer.Option("--fixed", help="Fixed IMG (e.g. CT, post-ablation CT).")],
    moving: Annotated[str, typer.Option("--moving", help="Moving IMG (e.g. SPECT/PET, pre-ablation CT).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    mode: Annotated[str, typer.Option("--mode", help="rigid, affine or deformable.")] = "rigid",
    fixed_mask: Annotated[str | None, typer.Option("--fixed-mask", help="MASK where the metric is evaluated (e.g. the liver dilated 1-2 cm).")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="MASK removed from the metric (tumour, ablation zone); repeatable. On the moving image's grid it is taken in the moving space.")] = None,
    rigid_mask: Annotated[list[str] | None, typer.Option("--rigid-mask", help="MASK kept rigid by the deformable transform (tumour on the moving image); repeatable.")] = None,
    landmarks: Annotated[Path | None, typer.Option("--landmarks", help="CSV of landmark pairs: fixed x,y,z then moving x,y,z (LPS mm).")] = None,
    fixed_series: Annotated[str | None, typer.Option("--fixed-series", help="Series UID (prefix) in --fixed.")] = None,
    moving_series: Annotated[str | None, typer.Option("--moving-series", help="Series UID (prefix) in --moving.")] = None,
    same_frame_bound_mm: Annotated[float | None, typer.Option("--same-frame-bound-mm", help="Largest rigid correction accepted for images sharing a frame of reference (mm).")] = None,
    inverse_consistency: Annotated[bool, typer.Option("--inverse-consistency/--no-inverse-consistency", help="Also register backwards to estimate the error (doubles the time).")] = True,
    threads: Annotated[int | None, typer.Option("--threads", help="Threads for SimpleITK.")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="mattes, correlation or meansquares; default correlation for CT to CT, else mattes.")] = None,
) -> None:
    """Register MOVING to FIXED: transform.tfm (fixed -> moving points, ITK), moving_resampled.nii.gz, registration.json."""
    from workstation.core.errors import InvalidInputError
    from workstation.io import atomic_directory, ensure_not_input, read_image, write_image
    from workstation.registration import read_landmarks, register, transform_volume

    if mode not in ("rigid", "affine", "deformable"):
        raise InvalidInputError(f"--mode {mode!r} is not one of rigid, affine, deformable.")
    ensure_not_input(output, fixed, moving, fixed_mask, *(exclude or []), *(rigid_mask or []))
    fixed_vol = read_image(fixed, series=fixed_series)
    moving_vol = read_image(moving, series=moving_series)
    fmask = _read_mask_for_registration(fixed_mask, fixed_vol) if fixed_mask else None
    excl = [_read_mask_for_registration(m, fixed_vol) for m in exclude or []]
    rigid = [_read_mask_for_registration(m, moving_vol) for m in rigid_mask or []]
    lm_fixed = lm_moving = None
    if landmarks is not None:
        lm_fixed, lm_moving = read_landmarks(landmarks)
    with progress(f"registering ({mode})") as advance:
        result = register(
            fixed_vol, moving_vol, mode=mode, fixed_mask=fmask, exclude=excl, rigid_masks=rigid,
            landmarks_fixed=lm_fixed, landmarks_moving=lm_moving,
            same_frame_bound_mm=same_frame_bound_mm, inverse_consistency=inverse_consistency,
            number_of_threads=threads, metric=metric, progress=advance,  # type: ignore[arg-type]
        )
        resampled = transform_volume(moving_vol, fixed_vol, result.transform, interpolation="linear")
    result.report["inputs"] = {"fixed": fixed, "moving": moving, "fixed_mask": fixed_mask,
                               "exclude": list(exclude or []), "rigid_masks": list(rigid_mask or []),
                               "landmarks": None if landmarks is None else str(landmarks)}
    with atomic_directory(output) as tmp:
        result.save(tmp)
        write_image(resampled, tmp / "moving_resampled.nii.gz")
    err = result.report["estimated_error"]
    if "inverse_consistency_mm" in err:
        say(f"inverse consistency: mean {err['inverse_consistency_mm']['mean']} mm, "
            f"95th percentile {err['inverse_consistency_mm']['p95']} mm")
    if "landmark_tre_mm" in err:
        say(f"landmark TRE: mean {err['landmark_tre_mm']['after']['mean']} mm")
    for warning in result.report["warnings"]:
        say(f"warning: {warning}")
    say(f"wrote {output}/transform.tfm, moving_resampled.nii.gz, registration.json")


@app.command("transform")
def transform_command(
    transform: Annotated[Path, typer.Option("--transform", help="ITK transform file (fixed -> moving points), e.g. from `register`.")],
    reference: Annotated[str, typer.Option("--reference", help="IMG whose grid the output takes (the fixed image).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .nii.gz, .nii, .nrrd or .mha.")],
    image: Annotated[str | None, typer.Option("--image", help="Moving IMG, resampled linearly.")] = None,
    mask: Annotated[str | None, typer.Option("--mask", help="Moving MASK, resampled by nearest neighbour (or --partial).")] = None,
    partial: Annotated[bool, typer.Option("--partial", help="For --mask: write the partial-volume fraction (0..1).")] = False,
    reference_series: Annotated[str | None, typer.Option("--reference-series", help="Series UID (prefix) in --reference.")] = None,
) -> None:
    """Apply a registration transform to a moving image or mask, onto the reference grid."""
    from workstation.core.errors import InvalidInputError
    from workstation.io import ensure_not_input, read_image, write_image
    from workstation.registration import read_transform, transform_volume

    if (image is None) == (mask is None):
        raise InvalidInputError("Give exactly one of --image and --mask.")
    if partial and mask is None:
        raise InvalidInputError("--partial applies to --mask only.")
    ensure_not_input(output, image, mask, reference, transform)
    tx = read_transform(transform)
    ref = read_image(reference, series=reference_series)
    if image is not None:
        out = transform_volume(read_image(image), ref, tx, interpolation="linear")
    else:
        assert mask is not None
        interp = "partial" if partial else "nearest"
        out = transform_volume(_read_mask_for_registration(mask, ref), ref, tx, interpolation=interp)
    write_image(out, output)
    say(f"wrote {output}")


@app.command("sample-data")
def sample_data(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path("sample_data"),
    case: Annotated[
        list[str] | None,
        typer.Option("--case", help="sirt, maa, ablation or nema (repeatable); all by default."),
    ] = None,
    previews: Annotated[bool, typer.Option(help="Also write PNG previews in OUTPUT/previews/.")] = False,
) -> None:
    """Write the sample studies (DICOM) with their ground truth (masks, activity, LDM dose, truth.json)."""
    from workstation.samples import generate

    with progress("generating sample studies") as advance:
        truths = generate(output, cases=case, previews=previews, progress=advance)
    for name in truths:
        say(f"wrote {output / name} (ground truth in {output / name / 'ground_truth'})")


_SEGMENT_KINDS = ("body", "lungs", "liver", "lesions", "ablation-zone", "uptake")


def _parse_seeds(extra: list[str]) -> list[tuple[float, float, float]]:
    """``--seed X Y Z`` groups from the extra arguments of ``segment``."""
    from workstation.core.errors import InvalidInputError

    seeds: list[tuple[float, float, float]] = []
    k = 0
    while k < len(extra):
        if extra[k] != "--seed":
            raise InvalidInputError(f"Unexpected argument {extra[k]!r}; seeds are given as --seed X Y Z (LPS mm).")
        try:
            x, y, z = (float(v) for v in extra[k + 1 : k + 4])
        except ValueError:
            raise InvalidInputError(
                f"--seed needs three numbers X Y Z (LPS mm), got {' '.join(extra[k + 1 : k + 4]) or 'none'}."
            ) from None
        seeds.append((x, y, z))
        k += 4
    return seeds


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def segment(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="body, lungs, liver, lesions, ablation-zone or uptake.")],
    image: Annotated[str, typer.Option(help="IMG: the CT (or SPECT/PET for uptake).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Label image .nii.gz, .nrrd or .mha.")],
    within: Annotated[
        str | None,
        typer.Option(help="MASK to stay within (liver for lesions and uptake; body for lungs/liver)."),
    ] = None,
    percent: Annotated[float | None, typer.Option(help="uptake: threshold in percent of the maximum.")] = None,
    threshold: Annotated[float | None, typer.Option(help="uptake: absolute threshold in image units.")] = None,
    min_diameter_mm: Annotated[
        float, typer.Option(help="lesions: smallest diameter of an automatic lesion, mm.")
    ] = 10.0,
    series: Annotated[str | None, typer.Option(help="Series of --image (UID or prefix).")] = None,
) -> None:
    """Segment KIND on an image; seeds as --seed X Y Z (LPS mm, repeat for several lesions).

    liver, lesions: automatic without a seed; ablation-zone: needs one seed.
    """
    from workstation.core.errors import InvalidInputError
    from workstation.io import ensure_not_input, read_image, read_mask, write_image
    from workstation.segmentation import (
        segment_ablation_zone,
        segment_body,
        segment_lesions,
        segment_liver,
        segment_lungs,
        segment_uptake,
    )

    if kind not in _SEGMENT_KINDS:
        raise InvalidInputError(f"Unknown KIND {kind!r}; choose one of {', '.join(_SEGMENT_KINDS)}.")
    seeds = _parse_seeds(list(ctx.args))
    if seeds and kind in ("body", "lungs", "uptake"):
        raise InvalidInputError(f"--seed is not used by 'segment {kind}'.")
    if len(seeds) > 1 and kind in ("liver", "ablation-zone"):
        raise InvalidInputError(f"'segment {kind}' takes one --seed, not {len(seeds)}.")
    if kind == "ablation-zone" and not seeds:
        raise InvalidInputError("'segment ablation-zone' needs a seed inside the zone: --seed X Y Z (LPS mm).")
    if kind != "uptake" and (percent is not None or threshold is not None):
        raise InvalidInputError("--percent and --threshold are options of 'segment uptake' only.")
    ensure_not_input(output, image, within)
    with progress(f"segment {kind}") as advance:
        vol = read_image(image, series=series)
        mask = read_mask(within, reference=vol) if within else None
        advance(0.2, f"segment {kind}: computing")
        if kind == "body":
            labels = segment_body(vol)
        elif kind == "lungs":
            labels = segment_lungs(vol, body=mask)
        elif kind == "liver":
            labels = segment_liver(vol, seed_lps=seeds[0] if seeds else None, body=mask)
        elif kind == "lesions":
            liver = mask if mask is not None else segment_liver(vol)
            labels = segment_lesions(vol, liver, seeds_lps=seeds or None, min_diameter_mm=min_diameter_mm)
        elif kind == "ablation-zone":
            labels = segment_ablation_zone(vol, seeds[0], within=mask)
        else:
            labels = segment_uptake(vol, within=mask, percent=percent, absolute=threshold)
        advance(0.9, f"segment {kind}: writing")
        write_image(labels, output)
    ml = vol.voxel_volume_ml
    parts = ", ".join(
        f"{name} {float((labels.array == value).sum()) * ml:.1f} mL"
        for value, name in sorted(labels.label_names.items())
    )
    say(f"wrote {output} ({parts})")


@app.command()
def mask(
    spec: Annotated[
        str,
        typer.Argument(help="MASK: IMG, FILE.seg.nrrd#Segment, SEG.dcm#Label or RTSTRUCT.dcm#ROI."),
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Label image .nii.gz/.nrrd/.mha, or .dcm for a DICOM SEG."),
    ],
    image: Annotated[
        str | None,
        typer.Option(help="IMG whose grid the mask is put on (needed for RTSTRUCT and SEG output)."),
    ] = None,
    series: Annotated[str | None, typer.Option(help="Series of --image (UID or prefix).")] = None,
) -> None:
    """Put a MASK on an image's grid and write it as a label image or a DICOM SEG."""
    from workstation.core.errors import InvalidInputError
    from workstation.io import ensure_not_input, read_image, read_mask, write_image, write_seg

    ensure_not_input(output, spec, image)
    reference = read_image(image, series=series) if image else None
    labels = read_mask(spec, reference=reference)
    if output.name.lower().endswith(".dcm"):
        if reference is None:
            raise InvalidInputError(
                f"Writing the DICOM SEG {output} needs --image, the DICOM series it belongs to."
            )
        write_seg(labels, output, reference)
    else:
        write_image(labels, output)
    for warning in labels.metadata.warnings:
        typer.echo(f"warning: {warning}", err=True)
    names = ", ".join(f"{value}={name}" for value, name in sorted(labels.label_names.items()))
    say(f"wrote {output} ({int((labels.array != 0).sum())} voxels inside; labels {names})")


@app.command()
def kernel(
    spacing: Annotated[
        tuple[float, float, float], typer.Option(help="Voxel size SX SY SZ in mm (x, y, z order).")
    ],
    nuclide: Annotated[str, typer.Option(help="Nuclide (only Y-90).")] = "Y-90",
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
    ldm_factor: Annotated[float | None, typer.Option(help="LDM factor, Gy kg/GBq (default 49.67).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    maa: Annotated[str | None, typer.Option(help="99mTc-MAA SPECT IMG: LSF, TNR and volumes not given as options are measured on it.")] = None,
    maa_series: Annotated[str | None, typer.Option(help="Series of --maa (UID or unique prefix).")] = None,
    maa_ct: Annotated[str | None, typer.Option(help="CT IMG of the MAA SPECT/CT: the --roi masks are put on its grid.")] = None,
    roi: Annotated[list[str] | None, typer.Option(help="With --maa: NAME=MASK (repeat); names liver, lungs, lesions (label image), perfused (optional territory).")] = None,
) -> None:
    """Prescribed 90Y activity from a planning model (BSA, MIRD, partition / multi-compartment)."""
    import json

    from workstation.core.errors import InvalidInputError
    from workstation.dosimetry import planning

    def need(name: str, value: float | None) -> float:
        if value is None:
            raise InvalidInputError(f"--model {model} needs --{name}.")
        return value

    m = model.lower()
    maa_result: dict[str, Any] | None = None
    if maa is not None:
        from workstation.dosimetry.maa import maa_uptake
        from workstation.io import read_image, read_mask

        specs: dict[str, str] = {}
        for item in roi or []:
            name, sep, spec = item.partition("=")
            if not sep or not name.strip() or not spec or name.strip() in specs:
                raise InvalidInputError(f"--roi {item!r} must be NAME=MASK with a new, non-empty NAME.")
            specs[name.strip()] = spec
        maa_img = read_image(maa, series=maa_series)
        reference = read_image(maa_ct) if maa_ct is not None else maa_img
        maa_result = maa_uptake(
            maa_img, {n: read_mask(s, reference=reference) for n, s in specs.items()}, density_g_per_ml=liver_density
        )
        measured = {
            "lung_shunt": maa_result["lung_shunt_fraction"],
            "tnr": maa_result["tumor_to_normal_ratio"],
            "tumor_ml": maa_result["all_lesions_volume_ml"] if m == "bsa" else maa_result["tumor_volume_ml"],
            "normal_ml": maa_result["normal_liver_volume_ml"],
            "liver_ml": maa_result["liver_volume_ml"] if m == "bsa" else maa_result["perfused_volume_ml"],
            "treated_fraction": maa_result["perfused_volume_ml"] / maa_result["liver_volume_ml"]  # type: ignore[operator]
            if maa_result["perfused_territory"] == "given" else None,
        }
        used = {"bsa": ("lung_shunt", "liver_ml", "tumor_ml", "treated_fraction"), "mird": ("lung_shunt", "liver_ml")}
        given = {"lung_shunt": lung_shunt, "tnr": tnr, "tumor_ml": tumor_ml, "normal_ml": normal_ml,
                 "liver_ml": liver_ml, "treated_fraction": treated_fraction}
        relevant = used.get(m, ("lung_shunt",) if territory else ("lung_shunt", "tnr", "tumor_ml", "normal_ml"))
        measured = {k: (v if k in relevant else None) for k, v in measured.items()}
        from_image = [k for k, v in given.items() if v is None and measured[k] is not None]
        lung_shunt = measured["lung_shunt"] if lung_shunt is None else lung_shunt
        tnr = measured["tnr"] if tnr is None else tnr
        tumor_ml = measured["tumor_ml"] if tumor_ml is None else tumor_ml
        normal_ml = measured["normal_ml"] if normal_ml is None else normal_ml
        liver_ml = measured["liver_ml"] if liver_ml is None else liver_ml
        treated_fraction = measured["treated_fraction"] if treated_fraction is None else treated_fraction
        maa_result["used_for_plan"] = [f"--{k.replace('_', '-')}" for k in from_image]
    elif roi or maa_ct is not None:
        raise InvalidInputError("--roi and --maa-ct need --maa IMG (the MAA SPECT).")
    lung_shunt = 0.0 if lung_shunt is None else lung_shunt
    treated_fraction = 1.0 if treated_fraction is None else treated_fraction
    if m == "bsa":
        result = planning.plan_bsa(
            need("height-cm", height_cm), need("weight-kg", weight_kg), need("liver-ml", liver_ml),
            need("tumor-ml", tumor_ml), treated_fraction, lung_shunt,
        )
    elif m == "mird":
        result = planning.plan_mird(
            need("target-gy", target_gy), need("liver-ml", liver_ml) * liver_density, lung_shunt,
            residual, lung_mass_g, ldm_factor,
        )
    elif m in ("partition", "multi-compartment"):
        kwargs = dict(
            lung_shunt_fraction=lung_shunt, target_normal_gy=target_normal_gy, target_tumor_gy=target_tumor_gy,
            normal_limit_gy=normal_limit_gy, lung_limit_gy=lung_limit_gy, residual_fraction=residual,
            lung_mass_g=lung_mass_g, ldm_gy_kg_per_gbq=ldm_factor,
        )
        if territory:
            terrs = []
            for spec in territory:
                parts = spec.split(":")
                try:
                    name, t_ml, n_ml, ratio = parts[0], *map(float, parts[1:])
                except ValueError:
                    raise InvalidInputError(
                        f"--territory {spec!r} must be NAME:TUMOR_ML:NORMAL_ML:TNR with numbers."
                    ) from None
                if len(parts) != 4:
                    raise InvalidInputError(f"--territory {spec!r} must be NAME:TUMOR_ML:NORMAL_ML:TNR.")
                terrs.append(planning.Territory(name, t_ml * liver_density, n_ml * liver_density, ratio))
            result = planning.plan_multi_compartment(terrs, **kwargs)  # type: ignore[arg-type]
        else:
            result = planning.plan_partition(
                need("tumor-ml", tumor_ml) * liver_density, need("normal-ml", normal_ml) * liver_density,
                need("tnr", tnr), **kwargs,  # type: ignore[arg-type]
            )
    else:
        raise InvalidInputError(f"Unknown --model {model!r}; choose bsa, mird or partition.")
    result["liver_density_g_per_ml"] = liver_density
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
            f"MAA: lung shunt {100 * maa_result['lung_shunt_fraction']:.2f} % (SPECT/CT), "
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
    for w in result.get("warnings", []):
        typer.echo(f"warning: {w}")
    typer.echo(f"source: {result['source']}")


@app.command()
def sirt(
    activity: Annotated[str, typer.Option(help="Activity IMG: SPECT or PET (DICOM folder/file, NIfTI, NRRD, MHA).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    activity_units: Annotated[str | None, typer.Option(help="Bq/mL or counts, when the file does not say.")] = None,
    ct: Annotated[str | None, typer.Option(help="CT IMG of the same frame of reference (hybrid SPECT/CT).")] = None,
    roi: Annotated[list[str] | None, typer.Option(help="NAME=MASK (repeat); names liver, lesion*/tumor*, lung*, body have roles.")] = None,
    administered_gbq: Annotated[float | None, typer.Option(help="Administered activity, GBq.")] = None,
    lung_shunt: Annotated[float | None, typer.Option(help="Lung shunt fraction (0-1).")] = None,
    method: Annotated[str, typer.Option(help="ldm, vsv, vsv-density or all (comma-separated allowed).")] = "all",
    dose_grid: Annotated[str, typer.Option(help="Grid of the written doses: activity or ct.")] = "activity",
    ldm_factor: Annotated[float | None, typer.Option(help="LDM factor, Gy kg/GBq: 49.67 (default), 49.38 or 50.")] = None,
    residual: Annotated[float, typer.Option(help="Residual fraction left in vial/catheter (0-1).")] = 0.0,
    series: Annotated[str | None, typer.Option(help="Series UID (prefix) of the activity image in a DICOM folder.")] = None,
    ct_series: Annotated[str | None, typer.Option(help="Series UID (prefix) of the CT in a DICOM folder.")] = None,
    administration_time: Annotated[str | None, typer.Option(help="Administration date-time (ISO 8601), overriding the header.")] = None,
    nuclide: Annotated[str, typer.Option(help="Nuclide (only Y-90).")] = "Y-90",
    device: Annotated[str | None, typer.Option(help="glass or resin, for the safety thresholds.")] = None,
    prior_lung_dose_gy: Annotated[float, typer.Option(help="Lung dose of earlier treatments, Gy.")] = 0.0,
    lung_mass_g: Annotated[float | None, typer.Option(help="Lung mass for the lung-dose formula, g.")] = None,
    tissue_density: Annotated[float, typer.Option(help="Soft-tissue density of the LDM and VSV engines, g/mL.")] = SOFT_TISSUE_DENSITY_G_PER_ML,
    pvc: Annotated[str, typer.Option("--pvc", help="Partial-volume correction: rbv (corrected image feeds the engines), gtm (region means) or none.")] = "none",
    psf_fwhm_mm: Annotated[float | None, typer.Option("--psf-fwhm-mm", help="System resolution FWHM, mm, for --pvc (scanner spec or 'workstation qa' phantom fit).")] = None,
) -> None:
    """Voxel dosimetry of a 90Y SIRT activity image: LDM, VSV and density-corrected VSV."""
    import datetime as dt

    from workstation.core.errors import InvalidInputError
    from workstation.dosimetry.nuclides import get_nuclide
    from workstation.dosimetry.pipeline import parse_methods, run_sirt, write_outputs
    from workstation.io import ensure_not_input, read_image, read_mask

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
    roi_specs: dict[str, str] = {}
    for item in roi or []:
        if "=" not in item:
            raise InvalidInputError(f"--roi {item!r} must be NAME=MASK.")
        name, spec = item.split("=", 1)
        name = name.strip()
        if not name or name in roi_specs:
            raise InvalidInputError(f"--roi {item!r}: ROI names must be non-empty and unique.")
        roi_specs[name] = spec
    ensure_not_input(output, activity, ct, *roi_specs.values())
    with progress("SIRT dosimetry") as advance:
        advance(0.0, "reading images")
        act_img = read_image(activity, series=series, units=activity_units)
        ct_img = read_image(ct, series=ct_series, units="HU") if ct else None
        if ct_img is not None and not ct_img.overlaps(act_img):
            from workstation.core.errors import NoOverlapError

            raise NoOverlapError(
                f"The CT {ct} and the activity image {activity} do not overlap in patient space; "
                "check that they belong to the same study and frame of reference."
            )
        masks = {}
        for name, spec in roi_specs.items():
            try:
                masks[name] = read_mask(spec, reference=ct_img)
            except WorkstationError:
                if ct_img is not None:
                    raise
                masks[name] = read_mask(spec, reference=act_img)
        result = run_sirt(
            act_img, ct=ct_img, rois=masks, activity_units=activity_units, administered_gbq=administered_gbq,
            lung_shunt_fraction=lung_shunt, residual_fraction=residual, method=method, ldm_gy_kg_per_gbq=ldm_factor,
            tissue_density_g_per_ml=tissue_density, administration_datetime=admin_dt, nuclide=nuclide,
            device=device, prior_lung_dose_gy=prior_lung_dose_gy, lung_mass_g=lung_mass_g,
            progress=lambda fr, text=None: advance(0.1 + 0.8 * fr, text),
            pvc=None if pvc.strip().lower() == "none" else pvc, psf_fwhm_mm=psf_fwhm_mm,
            psf_fwhm_source="given on the command line (--psf-fwhm-mm)" if psf_fwhm_mm is not None else None,
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
                              report_renderer=render_sirt_report)
    for m, block in result.results["methods"].items():
        for name, met in block["rois"].items():
            say(f"{m:12s} {name:16s} mean {met['mean_gy']:8.1f} Gy  D90 {met['d90_gy']:8.1f} Gy  V100 {met['v_gy_percent']['100']:5.1f} %")
    pvc_block = result.results["activity"].get("partial_volume_correction") or {}
    for name, met in (pvc_block.get("gtm_ldm") or {}).get("rois", {}).items():
        say(f"{'gtm (ldm)':12s} {name:16s} mean {met['ldm_mean_gy']:8.1f} Gy  (partial-volume corrected region mean)")
    for w in result.warnings:
        say(f"warning: {w}")
    say(f"wrote {len(files)} files to {output}")


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
) -> None:
    """Sub-voxel ablation margins per tumour; with both CTs the tumour is registered to the post-CT first."""
    from workstation.ablation.workflow import run_margin
    from workstation.report.margin import render_margin_report

    with progress("margins") as advance:
        results = run_margin(
            tumor, ablation, output, liver_spec=liver, pre_ct=pre_ct, post_ct=post_ct,
            pre_series=pre_series, post_series=post_series, subcapsular_mm=subcapsular_mm,
            progress=advance, registration_mode=registration_mode, inverse_consistency=inverse_consistency,
            report_renderer=render_margin_report,
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


@app.command()
def view(
    images: Annotated[list[str] | None, typer.Argument(help="IMGs to show (CT, SPECT, PET…).")] = None,
    dose: Annotated[str | None, typer.Option(help="Absorbed-dose IMG (Gy), shown as a colour wash.")] = None,
    labels: Annotated[list[str] | None, typer.Option("--labels", help="MASK to outline (repeatable).")] = None,
    screenshot: Annotated[
        Path | None, typer.Option(help="Render to this PNG without a window and exit.")
    ] = None,
    isodose: Annotated[
        list[float] | None, typer.Option(help="Isodose line level in Gy (repeatable).")
    ] = None,
    series: Annotated[str | None, typer.Option(help="Series Instance UID (or unique prefix).")] = None,
    window: Annotated[
        str, typer.Option(help="CT window preset: 'soft tissue', liver, lung or bone.")
    ] = "soft tissue",
    dose_threshold: Annotated[
        float | None, typer.Option(help="Dose (Gy) below which the wash is transparent [5 % of max].")
    ] = None,
) -> None:
    """Open the napari viewer with overlays; --screenshot renders a PNG and exits."""
    from workstation.io import ensure_not_input
    from workstation.viewer._cli import open_window, read_view_inputs

    inputs = [*(images or []), dose, *(labels or [])]
    if screenshot is not None:
        ensure_not_input(screenshot, *inputs)
    vols, dose_vol, masks = read_view_inputs(images or [], dose=dose, labels=labels or [], series=series)
    if screenshot is None:
        open_window(vols, dose_vol, masks, isodose_levels_gy=isodose, window=window,
                    dose_threshold_gy=dose_threshold)
        return
    from workstation.viewer import screenshot as render

    render(screenshot, vols, dose=dose_vol, labels=masks, isodose_levels_gy=isodose, window=window,
           dose_threshold_gy=dose_threshold)
    say(f"wrote {screenshot}")


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="A DICOM folder or file, or a NIfTI/NRRD/MHA file.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List every series/volume with modality, description, size, spacing, origin, direction, units."""
    from workstation.io.info import describe_path, print_table

    with progress("indexing") as advance:
        entries, skipped = describe_path(path, progress=advance)
    if json_output:
        import json

        typer.echo(json.dumps(entries, indent=2))
    else:
        print_table(path, entries, skipped)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and map errors to exit codes.

    Usage errors are reported by typer itself (exit 2); domain errors here.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="workstation", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except WorkstationError as exc:
        if debug:
            traceback.print_exc()
        typer.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place internal errors are reported
        if debug:
            traceback.print_exc()
        else:
            typer.echo(
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)",
                err=True,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
