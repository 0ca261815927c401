"""Benchmark: `measure_mask` on a 50 mL lesion in a 512 x 512 x 300 mask, vs reading it.

Run: ``python benchmarks/measure_speed.py``. Prints seconds per call (median of 7) next to the
floor measured in the same run: reading the same mask file with SimpleITK. Target (issue 4):
<= 0.3 s per measurement.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from timing import median_seconds

from tscimg import Geometry, Mask, load_mask
from tscimg.io import write_volume
from tscimg.measure import measure_mask


def main() -> None:
    grid = Geometry((512, 512, 300), (0.7, 0.7, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    radius = (50_000 * 3 / (4 * math.pi)) ** (1 / 3)
    k, j, i = np.ogrid[:300, :512, :512]
    inside = ((i - 256) * 0.7) ** 2 + ((j - 256) * 0.7) ** 2 + ((k - 150) * 1.0) ** 2 <= radius**2
    mask = Mask.from_array(inside.astype(np.uint8), grid)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_volume(mask, Path(tmp) / "lesion.nii.gz")
        read_s = median_seconds(lambda: sitk.ReadImage(str(path)))
        load_s = median_seconds(lambda: load_mask(path))
    measure_s = median_seconds(lambda: measure_mask(mask))
    result = measure_mask(mask).total
    print(f"lesion: {result.volume_ml:.2f} mL in a 512 x 512 x 300 mask")
    print(f"floor: SimpleITK read of the mask file  {read_s:.3f} s")
    print(f"tscimg load_mask                         {load_s:.3f} s")
    print(f"tscimg measure_mask (all figures)        {measure_s:.3f} s  (target <= 0.300 s)")


if __name__ == "__main__":
    main()
