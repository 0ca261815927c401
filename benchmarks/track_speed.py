"""Benchmark: seconds per follow-up visit of `tscimg track` on a 512 x 512 x 200 CT study.

Run: ``python benchmarks/track_speed.py [--visits 4]``.

A synthetic abdomen (body, spine, kidney in perirenal fat, a fat-rich angiomyolipoma with
soft-tissue strands) is written as four DICOM series (0.7 x 0.7 x 1.25 mm), the patient
repositioned at every visit (up to 6 degrees and 12 mm) while the AML shrinks. Per follow-up
visit the pipeline is timed stage by stage — load (tscimg.load_scan), register (global stages
and the deformable stage around the lesion), segment (carrying the lesion from the baseline),
measure — next to the floor measured in the same
run: SimpleITK's GDCM series reader reading the same files. The whole `tscimg.track` run
(which also hashes every input for provenance and resume) is timed as well.
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from timing import median_seconds

import tscimg
from tscimg import Geometry, LesionType, Modality, Scan
from tscimg.io import SeriesIdentity, write_dicom_series
from tscimg.longitudinal import carry_lesion
from tscimg.longitudinal.carry import LesionReference, register_lesion
from tscimg.measure import measure_mask
from tscimg.segment import Prompts, segment
from tscimg.synthetic import Ellipsoid, RigidPose

SIZE = (512, 512, 200)
SPACING = (0.7, 0.7, 1.25)

BODY = Ellipsoid((0.0, 0.0, 0.0), (160.0, 115.0, 400.0))
SPINE = Ellipsoid((0.0, 60.0, 0.0), (18.0, 16.0, 400.0))
PERIRENAL = Ellipsoid((70.0, 35.0, 0.0), (40.0, 38.0, 66.0), (0.0, 10.0, 15.0))
KIDNEY = Ellipsoid((70.0, 35.0, 0.0), (30.0, 27.0, 55.0), (0.0, 10.0, 15.0))
AML = Ellipsoid((76.0, 31.0, 12.0), (16.0, 14.0, 13.0), (10.0, 0.0, 20.0))
VISITS = (
    ("2024-01-10", 1.0, RigidPose()),
    ("2024-07-12", 0.62, RigidPose((-5.7, 0.5, -2.6), (0.6, 8.9, -10.3))),
    ("2025-01-14", 0.55, RigidPose((-2.9, 4.3, -4.7), (10.2, 10.9, -8.6))),
    ("2025-07-15", 0.52, RigidPose((-2.4, 3.0, -0.1), (-7.5, -10.1, 2.3))),
)


def _grid() -> Geometry:
    origin = -(np.asarray(SIZE) - 1) * np.asarray(SPACING) / 2
    return Geometry(SIZE, SPACING, tuple(float(v) for v in origin), (1, 0, 0, 0, 1, 0, 0, 0, 1))


def _render(grid: Geometry, pose: RigidPose, aml: Ellipsoid, seed: int) -> np.ndarray:
    """One value per voxel (no sub-voxel sampling: this is a speed benchmark), slice by slice."""
    rng = np.random.default_rng(seed)
    out = np.empty(SIZE[::-1], dtype=np.int16)
    j, i = np.meshgrid(np.arange(SIZE[1]), np.arange(SIZE[0]), indexing="ij")
    m = grid.index_to_lps_matrix
    for k in range(SIZE[2]):
        idx = np.stack([i.ravel(), j.ravel(), np.full(i.size, k)], axis=1).astype(float)
        body_pts = pose.lps_to_body(idx @ m[:3, :3].T + m[:3, 3])
        v = np.full(len(body_pts), -1000.0)
        v[BODY.contains(body_pts)] = 40.0
        v[SPINE.contains(body_pts)] = 700.0
        v[PERIRENAL.contains(body_pts)] = -100.0
        v[KIDNEY.contains(body_pts)] = 35.0
        inside = aml.contains(body_pts)
        x, y, z = body_pts[inside].T
        strands = np.sin(0.55 * x + 0.3 * y) * np.sin(0.45 * y - 0.5 * z) > 0.45
        v[inside] = np.where(strands, 35.0, -95.0)
        out[k] = np.clip(
            v.reshape(SIZE[1], SIZE[0]) + rng.normal(0, 12, (SIZE[1], SIZE[0])), -1024, 3071
        )
    return out


def _sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=4)
    args = parser.parse_args()
    grid = _grid()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = ["patient_id,date,image,lesion_id,lesion_type,point_lps,treatment_start"]
        folders = []
        print(f"writing {args.visits} visits of {SIZE[0]} x {SIZE[1]} x {SIZE[2]} CT ...")
        for n, (date, ratio, pose) in enumerate(VISITS[: args.visits]):
            aml = AML.scaled_to_volume(AML.volume_ml * ratio)
            pixels = _render(grid, pose, aml, n)
            image = grid.apply_to(sitk.GetImageFromArray(pixels), copy=False)
            scan = Scan(
                image, modality=Modality.CT, acquisition_date=datetime.date.fromisoformat(date)
            )
            folder = root / f"visit{n}"
            write_dicom_series(scan, folder, SeriesIdentity("BENCH", f"visit{n}", f"visit{n}"))
            folders.append(folder)
            centre = pose.body_to_lps(np.asarray([aml.center_mm]))[0]
            prompt = ";".join(f"{v:.2f}" for v in centre) if n == 0 else ""
            rows.append(f"BENCH,{date},visit{n},L1,aml,{prompt},{VISITS[0][0] if n == 0 else ''}")
        (root / "manifest.csv").write_text("\n".join(rows) + "\n")

        print(
            "\n| visit | SimpleITK read (floor) | load | register | segment | measure | total "
            "| x floor | volume mL (truth) |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        first = tscimg.load_scan(folders[0])
        point = first.geometry.lps_to_index(
            VISITS[0][2].body_to_lps(np.asarray([AML.center_mm]))[0]
        )
        baseline = segment(
            first, Prompts(positive=(tuple(round(v) for v in point),)), LesionType.AML
        )
        reference = LesionReference(first, baseline.mask, VISITS[0][0], baseline)
        print(
            f"| {VISITS[0][0]} (baseline, one click) | | | | | | | | "
            f"{baseline.volume_ml:.2f} ({AML.volume_ml:.2f}) |"
        )
        ratios = []
        for n in range(1, len(folders)):
            floor = median_seconds(lambda folder=folders[n]: _sitk_series(folder), 3)
            t0 = time.perf_counter()
            scan = tscimg.load_scan(folders[n])
            t_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            deformation = register_lesion(reference, scan)
            t_register = time.perf_counter() - t0
            t0 = time.perf_counter()
            carried = carry_lesion(reference, None, scan, LesionType.AML, deformation=deformation)
            t_segment = time.perf_counter() - t0
            t0 = time.perf_counter()
            volume = measure_mask(carried.mask).total.volume_ml
            t_measure = time.perf_counter() - t0
            total = t_load + t_register + t_segment + t_measure
            ratios.append(total / floor)
            truth = AML.volume_ml * VISITS[n][1]
            print(
                f"| {VISITS[n][0]} | {floor:.2f} s | {t_load:.2f} s | {t_register:.2f} s | "
                f"{t_segment:.2f} s | {t_measure:.2f} s | {total:.2f} s | {total / floor:.1f}x "
                f"| {volume:.2f} ({truth:.2f}); registration {deformation.volume_ml:.2f}"
                + (f"; review: {'; '.join(carried.review)}" if carried.review else "")
                + " |"
            )
        print(
            f"\nmean per follow-up: {np.mean(ratios):.1f}x the SimpleITK read time (target <= 3x)"
        )
        t0 = time.perf_counter()
        result = tscimg.track(root / "manifest.csv", root / "out")
        whole = time.perf_counter() - t0
        if result.errors:
            print(f"whole tscimg.track run failed: {result.errors[0].message}")
            return
        a = result.patients[0].assessments[0]
        print(
            f"whole tscimg.track run ({len(folders)} visits, hashing, reports): {whole:.1f} s; "
            f"status {a.status.value}, changes "
            + ", ".join(f"{t.change_from_baseline_pct:+.1f}%" for t in a.timepoints)
        )


if __name__ == "__main__":
    main()
