"""Benchmark: measurement accuracy against pyradiomics, analytic ellipsoids and KiTS annotators.

Run: ``python benchmarks/measure_accuracy.py``. Real-data sections are skipped when
../shared/data is absent. The tables in docs/measurement.md come from this script.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np

from tscimg import Geometry, Mask, load_mask, load_scan
from tscimg.measure import measure_mask
from tscimg.synthetic import Ellipsoid, rotation_matrix
from tscimg.synthetic.rendering import voxel_centres_lps

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pyradiomics_parity() -> None:
    ref_csv = DATA / "pyradiomics" / "reference_shape.csv"
    if not ref_csv.exists():
        print("pyradiomics data absent: skipped")
        return
    print("| case | VoxelVolume rel. diff | MeshVolume | SurfaceArea | Maximum3DDiameter |")
    print("|---|---|---|---|---|")
    for row in csv.DictReader(ref_csv.open()):
        case = row["case"]
        if "_" in case:
            continue
        scan = load_scan(DATA / "pyradiomics" / f"{case}_image.nrrd")
        m = measure_mask(
            load_mask(DATA / "pyradiomics" / f"{case}_label.nrrd", scan), label=1
        ).total
        rel = [
            m.volume_ml * 1000 / float(row["VoxelVolume_mm3"]) - 1,
            m.mesh_volume_ml * 1000 / float(row["MeshVolume_mm3"]) - 1,
            m.surface_area_mm2 / float(row["SurfaceArea_mm2"]) - 1,
            m.max_3d_diameter_mm / float(row["Maximum3DDiameter_mm"]) - 1,
        ]
        print(f"| {case} | " + " | ".join(f"{100 * r:+.3g}%" for r in rel) + " |")


def ellipsoids() -> None:
    print(
        "\n| volume mL | spacing mm | voxel vol. err | mesh vol. err | max diam. err mm | "
        "orthogonal diam. err mm | voxel diagonal mm | uncertainty / volume |"
    )
    print("|---|---|---|---|---|---|---|---|")
    direction = tuple(float(v) for v in rotation_matrix((10.0, -20.0, 30.0)).ravel())
    for volume_ml in (0.3, 1.0, 5.0, 50.0, 200.0):
        for spacing in ((0.7, 0.7, 2.5), (1.0, 1.0, 1.0), (0.5, 0.5, 2.0), (0.8, 0.8, 5.0)):
            scale = (volume_ml * 1000 * 3 / (4 * math.pi) / 0.48) ** (1 / 3)
            axes = (scale, 0.8 * scale, 0.6 * scale)
            shape = Ellipsoid((3.3, -2.1, 1.7), axes, (20.0, 35.0, -15.0))
            size = tuple(int(np.ceil((2 * axes[0] + 4 * max(spacing)) / s)) for s in spacing)
            d = np.asarray(direction).reshape(3, 3)
            origin = -d @ ((np.asarray(size) - 1) * np.asarray(spacing) / 2)
            grid = Geometry(size, spacing, tuple(origin), direction)
            inside = shape.contains(voxel_centres_lps(grid)).reshape(grid.size[::-1])
            m = measure_mask(Mask.from_array(inside, grid)).total
            true_d = sorted((2 * a for a in axes), reverse=True)
            orth = ", ".join(
                f"{g - t:+.2f}" for g, t in zip(m.orthogonal_diameters_mm, true_d, strict=True)
            )
            print(
                f"| {volume_ml:g} | {' x '.join(map(str, spacing))} | "
                f"{100 * (m.volume_ml / shape.volume_ml - 1):+.2f}% | "
                f"{100 * (m.mesh_volume_ml / shape.volume_ml - 1):+.2f}% | "
                f"{m.max_3d_diameter_mm - true_d[0]:+.2f} | {orth} | "
                f"{np.linalg.norm(spacing):.2f} | "
                f"{100 * m.volume_uncertainty_ml / shape.volume_ml:.1f}% |"
            )


def kits() -> None:
    root = DATA / "kits_aml"
    if not root.exists():
        print("KiTS data absent: skipped")
        return
    print(
        "\n| case | slices mm | consensus mL | annotators mL | annotator SD / range mL | "
        "tscimg uncertainty mL | axial diameter mm (KiTS size) |"
    )
    print("|---|---|---|---|---|---|---|")
    sizes = {"case_00017": 23.0, "case_00043": 30.0, "case_00137": 16.6}
    for case in sorted(sizes):
        mask = load_mask(root / case / "segmentation.nii.gz")
        result = measure_mask(mask, label=2)
        vols = [
            measure_mask(load_mask(p)).total.volume_ml
            for p in sorted((root / case / "instances").iterdir())
        ]
        t = result.total
        print(
            f"| {case} | {max(mask.geometry.spacing_mm):g} | {t.volume_ml:.3f} | "
            f"{', '.join(f'{v:.3f}' for v in vols)} | {np.std(vols, ddof=1):.3f} / "
            f"{np.ptp(vols):.3f} | {t.volume_uncertainty_ml:.3f} | "
            f"{t.axial_longest_diameter_mm:.1f} ({sizes[case]:.1f}) |"
        )


if __name__ == "__main__":
    sections = sys.argv[1:] or ["pyradiomics", "ellipsoids", "kits"]
    for name in sections:
        {"pyradiomics": pyradiomics_parity, "ellipsoids": ellipsoids, "kits": kits}[name]()
