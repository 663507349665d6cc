"""Registration commands: ``register`` and ``transform``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, cast

import typer

from workstation.cli._common import progress, say

app = typer.Typer()


def _read_mask_for_registration(spec: str, fixed: Any) -> Any:
    """A MASK on its own grid when it has one (so its space can be recognised), else on the fixed grid."""
    from workstation.io import mask_needs_reference, read_mask

    return read_mask(spec, reference=fixed if mask_needs_reference(spec) else None)


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
            fixed_vol, moving_vol, mode=cast(Literal["rigid", "affine", "deformable"], mode),  # checked above
            fixed_mask=fmask, exclude=excl, rigid_masks=rigid,
            landmarks_fixed=lm_fixed, landmarks_moving=lm_moving,
            same_frame_bound_mm=same_frame_bound_mm, inverse_consistency=inverse_consistency,
            number_of_threads=threads, progress=advance,
            metric=cast(Literal["mattes", "correlation", "meansquares"] | None, metric),  # register() checks it
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
        interp: Literal["partial", "nearest"] = "partial" if partial else "nearest"
        out = transform_volume(_read_mask_for_registration(mask, ref), ref, tx, interpolation=interp)
    write_image(out, output)
    say(f"wrote {output}")

