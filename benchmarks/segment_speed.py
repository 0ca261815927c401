"""Benchmark: one `segment` call on an AML in a 512 x 512 x 300 CT, vs reading the scan.

Run: ``python benchmarks/segment_speed.py``. The floor, measured in the same run, is
SimpleITK reading the same scan from .nii.gz. Target (issue 3): <= 2 s per call on one core.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from timing import median_seconds

from tscimg import Geometry, LesionType, Modality, Scan
from tscimg.io import write_volume
from tscimg.segment import Prompts, segment


def main() -> None:
    spacing = (0.7, 0.7, 1.0)
    grid = Geometry((512, 512, 300), spacing, (-179.0, -179.0, -150.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    k, j, i = np.ogrid[:300, :512, :512]
    x, y, z = (i - 300) * 0.7, (j - 260) * 0.7, (k - 150) * 1.0
    values = np.full((300, 512, 512), 30.0, dtype=np.float32)
    values[(x / 35) ** 2 + (y / 30) ** 2 + (z / 55) ** 2 <= 1] = 40.0  # kidney
    aml = ((x - 5) / 16) ** 2 + ((y + 3) / 14) ** 2 + ((z - 10) / 13) ** 2 <= 1  # 12.2 mL
    values[aml] = -90.0
    values += np.random.default_rng(0).normal(0, 12, values.shape).astype(np.float32)
    scan = Scan(
        grid.apply_to(sitk.GetImageFromArray(values.astype(np.int16))), modality=Modality.CT
    )
    click = (307, 256, 160)
    box = (270, 221, 145, 345, 291, 175)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_volume(scan, Path(tmp) / "ct.nii.gz")
        floor = median_seconds(lambda: sitk.ReadImage(str(path)), 3)
    one = median_seconds(lambda: segment(scan, Prompts(positive=(click,)), LesionType.AML), 5)
    boxed = median_seconds(
        lambda: segment(scan, Prompts(positive=(click,), box=box), LesionType.AML), 5
    )
    volume = segment(scan, Prompts(positive=(click,)), LesionType.AML).volume_ml
    print(
        f"AML {aml.sum() * 0.49 / 1000:.2f} mL in a 512 x 512 x 300 CT; segmented {volume:.2f} mL"
    )
    print(f"floor: SimpleITK read of the scan (.nii.gz)  {floor:.2f} s")
    print(f"segment, one click                           {one:.2f} s  (target <= 2 s)")
    print(f"segment, click + box                         {boxed:.2f} s")


if __name__ == "__main__":
    main()
