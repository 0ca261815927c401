"""Benchmark: the DESIGN.md section 6 accuracy protocol for every algorithm family.

Run: ``python benchmarks/segmentation_accuracy.py [--methods region_growing,...] [--quick]``.

Cases: the labelled real scans in ../shared/data (skipped when absent): pyradiomics brain1 and
breast1, BRATS pat0005 and pat0006 (tumour core 1+3+4 on T1c), ReMIND-022 (T1 with its SEG);
angiomyolipoma phantoms built from the real KiTS tumour shapes; and the bundled sample scans.

Protocol (``tscimg.segment.run_protocol``): the first click is the label's most interior voxel
(maximum of its distance transform, in mm); the box is the label's bounding box grown by 10% per
side. Dice after one click; Dice with click + box; then, from click + box, each further click
goes to the most interior voxel of the largest error region (positive where tumour is missed,
negative where the mask over-segments) until Dice 0.85 and 0.90 are reached (at most 10
clicks). Volume error is after one click. Seconds are per call.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from tscimg import LesionType, Modality, Scan, load_mask, load_scan
from tscimg.segment import Method, run_protocol
from tscimg.synthetic import SAMPLE_STUDIES
from tscimg.synthetic.rendering import voxel_centres_lps

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Case:
    """One benchmark case: a scan, its truth ``[k, j, i]`` and the lesion type."""

    name: str
    group: str
    scan: Scan
    truth: np.ndarray
    lesion_type: LesionType


def run_case(case: Case, method: Method) -> dict[str, float]:
    r = run_protocol(case.scan, case.truth, case.lesion_type, method=method)
    return {
        "dice_1": r.dice_one_click,
        "dice_box": r.dice_click_box,
        "clicks_85": _or_nan(r.clicks_to[0.85]),
        "clicks_90": _or_nan(r.clicks_to[0.90]),
        "volume_error_pct": r.volume_error_pct,
        "seconds": r.seconds_per_call,
    }


def _or_nan(clicks: int | None) -> float:
    return float("nan") if clicks is None else float(clicks)


#: The real labelled cases: name, image, label, label values of the tumour, lesion type.
REAL_SPECS: tuple[tuple[str, str, str, tuple[int, ...], str], ...] = (
    ("brain1", "pyradiomics/brain1_image.nrrd", "pyradiomics/brain1_label.nrrd", (1,), "sega"),
    (
        "breast1",
        "pyradiomics/breast1_image.nrrd",
        "pyradiomics/breast1_label.nrrd",
        (1,),
        "generic",
    ),
    (
        "brats-pat0005",
        "brats/pat0005/T1c_subtrMeanDivStd.nii.gz",
        "brats/pat0005/OTMultiClass.nii.gz",
        (1, 3, 4),
        "sega",
    ),
    (
        "brats-pat0006",
        "brats/pat0006/T1c_subtrMeanDivStd.nii.gz",
        "brats/pat0006/OTMultiClass.nii.gz",
        (1, 3, 4),
        "sega",
    ),
    ("remind022", "remind022/T1post_dicom", "remind022/tumor_seg.dcm", (1,), "sega"),
)


def real_cases() -> Iterator[Case]:
    for name, image, label, values, kind in REAL_SPECS:
        if not (DATA / image).exists():
            continue
        scan = load_scan(DATA / image)
        if scan.modality is None:
            scan = scan.derive(modality=Modality.MR)
        truth = np.isin(load_mask(DATA / label, reference=scan).array_view(), values)
        yield Case(name, "real", scan, truth, LesionType(kind))


def kits_phantoms() -> Iterator[Case]:
    """CT phantoms from real AML shapes: kidney 30-45 HU, fat -60 to -110 HU with
    soft-tissue strands, soft-tissue background, noise 10-20 HU, the case's own slices."""
    root = DATA / "kits_aml"
    if not root.exists():
        return
    for n, case in enumerate(sorted(p.name for p in root.iterdir())):
        labels = load_mask(root / case / "segmentation.nii.gz")
        arr = labels.array_view()
        rng = np.random.default_rng(n)
        kidney_hu = 30.0 + 15.0 * rng.random()
        fat_hu = -60.0 - 50.0 * rng.random()
        noise = 10.0 + 10.0 * rng.random()
        values = np.full(arr.shape, 15.0, dtype=np.float32)
        values[arr == 1] = kidney_hu
        values[arr == 3] = 5.0  # cyst
        tumour = arr == 2
        pts = voxel_centres_lps(labels.geometry).reshape(*arr.shape, 3)
        x, y, z = pts[..., 0], pts[..., 1], pts[..., 2]
        strands = np.sin(0.5 * x + 0.3 * y) * np.sin(0.45 * y - 0.5 * z) * np.sin(0.6 * z + 0.2 * x)
        values[tumour] = np.where(strands[tumour] > 0.5, 35.0, fat_hu)
        sigma = [0.7 / s for s in labels.geometry.spacing_mm[::-1]]
        values = ndimage.gaussian_filter(values, sigma) + rng.normal(0, noise, arr.shape)
        image = labels.geometry.apply_to(sitk.GetImageFromArray(np.rint(values).astype(np.int16)))
        scan = Scan(image, modality=Modality.CT, source=f"kits-phantom:{case}")
        yield Case(f"kits-{case}", "aml-phantom", scan, tumour, LesionType.AML)


def sample_cases() -> Iterator[Case]:
    for make in SAMPLE_STUDIES:
        study = make()
        for visit in study.visits:
            g = visit.scan.geometry
            truth = (
                visit.lesions["L1"]
                .contains(visit.pose.lps_to_body(voxel_centres_lps(g)))
                .reshape(g.size[::-1])
            )
            yield Case(
                f"{study.patient_id}/{visit.scan.acquisition_date}",
                "sample",
                visit.scan,
                truth,
                study.lesion_type,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(m.value for m in Method))
    parser.add_argument("--groups", default="real,aml-phantom,sample")
    args = parser.parse_args()
    groups = set(args.groups.split(","))
    cases = [
        c
        for source in (real_cases, kits_phantoms, sample_cases)
        for c in source()
        if c.group in groups
    ]
    for name in args.methods.split(","):
        method = Method(name)
        print(f"\n### {method.value}\n")
        print(
            "| case | group | Dice 1 click | Dice click+box | clicks to 0.85 | clicks to 0.90 | "
            "volume error 1 click | s/call |"
        )
        print("|---|---|---|---|---|---|---|---|")
        rows = []
        for case in cases:
            r = run_case(case, method)
            rows.append((case, r))
            fmt = lambda v: "-" if np.isnan(v) else f"{v:.0f}"  # noqa: E731
            print(
                f"| {case.name} | {case.group} | {r['dice_1']:.3f} | {r['dice_box']:.3f} | "
                f"{fmt(r['clicks_85'])} | {fmt(r['clicks_90'])} | "
                f"{r['volume_error_pct']:+.1f}% | {r['seconds']:.2f} |",
                flush=True,
            )
        for group in ("real", "aml-phantom", "sample"):
            sel = [r for c, r in rows if c.group == group]
            if not sel:
                continue
            c90 = [10.0 if np.isnan(r["clicks_90"]) else r["clicks_90"] for r in sel]
            print(
                f"| **mean {group}** | | {np.mean([r['dice_1'] for r in sel]):.3f} | "
                f"{np.mean([r['dice_box'] for r in sel]):.3f} (min "
                f"{np.min([r['dice_box'] for r in sel]):.3f}) | | {np.mean(c90):.1f} | "
                f"{np.mean([abs(r['volume_error_pct']) for r in sel]):.1f}% abs | "
                f"{np.mean([r['seconds'] for r in sel]):.2f} |"
            )


if __name__ == "__main__":
    main()
