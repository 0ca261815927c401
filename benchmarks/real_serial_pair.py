"""Benchmark: the longitudinal pipeline on a real serial pair (two visits of one patient).

Run: ``python benchmarks/real_serial_pair.py [--structures 10]``.

Data: ``../shared/data/ms_pair/patient12`` (open_ms_data, Lesjak et al., CC BY): two FLAIR
visits 81 days apart, 0.72 x 0.72 x 3 mm, the head turned by about 4 degrees and moved by
11 mm between them, with the dataset's own affine of each visit to a common space and a label of
the lesion tissue that changed (``gt.nii.gz``, common space). Skipped with a note when absent.
Every other real case of docs/accuracy.md is a single scan whose follow-ups are synthetic; this
is the one pair acquired twice, so what it measures includes what a synthetic follow-up cannot:
a second acquisition (its own noise, slice positions, coil and contrast).

Three measurements:

1. **Global registration** (``tscimg.longitudinal.register``, what carries every lesion) against
   the dataset's transforms: the map visit 1 -> visit 2 is T2 o T1^-1 (ITK convention: each
   maps common-space points to the visit's). Distance between the two maps over the brain
   (every 500th voxel above the 60th intensity percentile).
2. **The registration-based change over unchanged anatomy**: 16 balls of radius 10 mm, centred
   at random (seed 1) at least 25 mm inside the head's outline, each taken as a "lesion" and
   registered around (``register_lesion``: global stages, then the deformable stage). Truth:
   no change (brain tissue over 81 days; atrophy is under 1% a year). Balls of plain white
   matter hold little edge for the field to follow: a pessimistic test of the estimate.
3. **Carried structures**: the bright structures of visit 1's FLAIR (Gaussian 0.7 mm, above the
   99.3th percentile of the tissue at least 12 mm inside the head; 0.08-3 mL; on at least two
   slices; farther than 3 voxels from the change label mapped onto visit 1), largest first, up
   to ``--structures``: segmented at visit 1 with the protocol's prompts (the brightest voxel and
   the structure's extent grown by 10% and one voxel per side; preset ``generic``), carried to
   visit 2 (``carry_lesion``), both change estimates and the trust gate's verdict
   (``change_review``: more than 10 points apart flags the visit). Truth: about 0 (outside the
   dataset's change label); these are MS lesions and bright cortex, not TSC tumours, and the
   generic preset is not tuned for them: the figure is the carried measurement's
   repeatability on real re-acquisitions, not segmentation accuracy.

Figures are printed, nothing is asserted (tests/test_real_data.py asserts measurement 1).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from tscimg import LesionType, load_scan
from tscimg.core.mask import Mask
from tscimg.longitudinal import register
from tscimg.longitudinal.carry import LesionReference, carry_lesion, register_lesion
from tscimg.longitudinal.trust import TrustParameters, change_review
from tscimg.segment import Prompts, segment

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ms_pair" / "patient12"


def _ball(
    shape_kji: tuple[int, ...], spacing_kji: np.ndarray, centre: np.ndarray, r_mm: float
) -> np.ndarray:
    """A ball of radius ``r_mm`` around the voxel ``centre`` (k, j, i), as uint8."""
    k, j, i = np.ogrid[: shape_kji[0], : shape_kji[1], : shape_kji[2]]
    d2 = (
        ((k - centre[0]) * spacing_kji[0]) ** 2
        + ((j - centre[1]) * spacing_kji[1]) ** 2
        + ((i - centre[2]) * spacing_kji[2]) ** 2
    )
    return (d2 <= r_mm**2).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=10)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"real serial pair not available ({DATA}): skipped")
        return
    first = load_scan(DATA / "study1_FLAIR.nii.gz")
    second = load_scan(DATA / "study2_FLAIR.nii.gz")
    to_first = sitk.ReadTransform(str(DATA / "study1_FLAIR_to_common_space.txt"))
    to_second = sitk.ReadTransform(str(DATA / "study2_FLAIR_to_common_space.txt"))
    g = first.geometry
    spacing = np.asarray(g.spacing_mm[::-1])
    pixels = first.to_array().astype(float)

    # 1. global registration against the dataset's own transforms
    brain_kji = np.argwhere(pixels > np.percentile(pixels, 60))[::500]
    points = np.array([g.index_to_lps(tuple(float(v) for v in p[::-1])) for p in brain_kji])
    common = [to_first.GetInverse().TransformPoint(tuple(p)) for p in points]
    expected = np.array([to_second.TransformPoint(c) for c in common])
    centre = np.median(points, axis=0)
    t0 = time.perf_counter()
    registration = register(first, second, (centre - 15.0, centre + 15.0))
    seconds = time.perf_counter() - t0
    d = np.linalg.norm(registration.map_points(points) - expected, axis=1)
    moved = np.linalg.norm(points - expected, axis=1)
    print("## 1. Global registration against the dataset's transforms\n")
    print(
        f"{len(points)} brain points; the visits differ by {moved.mean():.1f} mm on average "
        f"(up to {moved.max():.1f}); tscimg's map differs from the dataset's by mean "
        f"{d.mean():.2f} mm, median {np.median(d):.2f}, 95th percentile "
        f"{np.percentile(d, 95):.2f}, worst {d.max():.2f} mm ({seconds:.1f} s; NCC "
        f"{registration.quality_ncc:.3f}; warnings: {list(registration.warnings) or 'none'})"
    )

    # 2. the registration estimate over unchanged anatomy
    head = ndimage.binary_fill_holes(pixels > np.percentile(pixels, 50))
    depth = ndimage.distance_transform_edt(head, sampling=spacing)
    candidates = np.argwhere(depth > 25.0)
    rng = np.random.default_rng(1)
    picks = candidates[rng.choice(len(candidates), 16, replace=False)]
    print("\n## 2. Registration-based change over unchanged brain (balls of radius 10 mm)\n")
    print("| centre (LPS mm) | change | deformable NCC | flagged by the registration |")
    print("|---|---|---|---|")
    changes, trusted = [], []
    for c in picks:
        ball = Mask.from_array(_ball(pixels.shape, spacing, c, 10.0), g)
        estimate = register_lesion(LesionReference(first, ball, "visit 1"), second)
        change = 100.0 * (estimate.volume_ratio - 1.0)
        changes.append(change)
        trusted.append(not estimate.review)
        lps = ", ".join(f"{v:.0f}" for v in g.index_to_lps(tuple(float(v) for v in c[::-1])))
        print(
            f"| {lps} | {change:+.1f}% | {estimate.quality_ncc:.2f} | "
            f"{'; '.join(estimate.review) or 'no'} |"
        )
    ch, ok = np.abs(np.asarray(changes)), np.asarray(trusted)
    print(
        f"\n{len(ch)} balls: mean change {np.mean(changes):+.2f}%, SD "
        f"{np.std(changes, ddof=1):.2f}, median |change| {np.median(ch):.2f}, worst "
        f"{ch.max():.2f}; not flagged ({ok.sum()}): worst {ch[ok].max():.2f}"
    )

    # 3. carried bright structures away from the change label
    gt = sitk.ReadImage(str(DATA / "gt.nii.gz"))
    changed = sitk.GetArrayFromImage(
        sitk.Resample(gt, first.image, to_first.GetInverse(), sitk.sitkNearestNeighbor, 0)
    )
    near_change = ndimage.binary_dilation(changed > 0, iterations=3)
    tissue = depth > 12.0
    smooth = ndimage.gaussian_filter(pixels, 0.7 / spacing)
    labels, n = ndimage.label((smooth > np.percentile(smooth[tissue], 99.3)) & tissue)
    sizes_ml = ndimage.sum(np.ones_like(pixels), labels, range(1, n + 1)) * np.prod(spacing) / 1e3
    print("\n## 3. Bright structures carried to visit 2 (truth: about 0%)\n")
    print(
        "| structure | its extent mL | visit 1 mL | visit 2 mL | segmentation | registration "
        "| trust gate | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    check = TrustParameters()
    rows: list[tuple[float, float, bool]] = []
    for index in np.argsort(-sizes_ml):
        if len(rows) >= args.structures:
            break
        component = labels == index + 1
        kji = np.argwhere(component)
        lo, hi = kji.min(axis=0), kji.max(axis=0)
        if not 0.08 <= sizes_ml[index] <= 3.0 or hi[0] == lo[0] or (component & near_change).any():
            continue
        click = kji[np.argmax(smooth[component])]
        margin = np.ceil(0.1 * (hi - lo + 1)).astype(int) + 1
        b_lo = np.maximum(lo - margin, 0)
        b_hi = np.minimum(hi + margin, np.asarray(pixels.shape) - 1)
        box = tuple(int(v) for v in (*b_lo[::-1], *b_hi[::-1]))
        prompts = Prompts(positive=(tuple(int(v) for v in click[::-1]),), box=box)
        baseline = segment(first, prompts, LesionType.GENERIC)
        t0 = time.perf_counter()
        reference = LesionReference(first, baseline.mask, "visit 1", baseline)
        carried = carry_lesion(reference, None, second, LesionType.GENERIC)
        seconds = time.perf_counter() - t0
        v0, v1 = baseline.volume_ml, carried.mask.volume_ml()
        ratio = carried.deformation.volume_ratio
        review, _ = change_review(v1, v0, ratio, "visit 1", check, carried=True)
        review = list(carried.review) + review
        seg, reg = 100.0 * (v1 / v0 - 1.0), 100.0 * (ratio - 1.0)
        rows.append((seg, reg, bool(review)))
        verdict = "flagged: " + review[0].split(":")[0] if review else "trusted"
        print(
            f"| {index + 1} | {sizes_ml[index]:.2f} | {v0:.3f} | {v1:.3f} | {seg:+.1f}% | "
            f"{reg:+.1f}% | {verdict} | {seconds:.1f} |"
        )
    if not rows:
        return
    seg_err = np.abs([r[0] for r in rows])
    reg_err = np.abs([r[1] for r in rows])
    flagged = np.array([r[2] for r in rows])
    unflagged = seg_err[~flagged]
    print(
        f"\n{len(rows)} structures: |change| by the segmentation median {np.median(seg_err):.1f}, "
        f"worst {seg_err.max():.1f} points; by the registration median {np.median(reg_err):.1f}, "
        f"worst {reg_err.max():.1f}; flagged by the trust gate {flagged.sum()}; not flagged: "
        f"segmentation worst {unflagged.max() if unflagged.size else float('nan'):.1f}"
    )


if __name__ == "__main__":
    main()
