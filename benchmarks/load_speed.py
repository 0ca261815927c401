"""Benchmark: `load_scan` on a 512 x 512 x 200 CT (DICOM series and NIfTI) vs SimpleITK.

Run: ``python benchmarks/load_speed.py``. The floor, measured in the same run, is SimpleITK
reading the same files (GDCM series reader with its own file ordering; ReadImage for NIfTI).
tscimg additionally reads every header with pydicom to order, check and correct the series.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from timing import median_seconds

from tscimg import Geometry, Modality, Scan, load_scan
from tscimg.io import SeriesIdentity, write_dicom_series, write_volume


def _sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def main() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(40, 15, (200, 512, 512)).astype(np.int16)
    grid = Geometry(
        (512, 512, 200), (0.7, 0.7, 1.25), (-179.0, -179.0, -125.0), (1, 0, 0, 0, 1, 0, 0, 0, 1)
    )
    scan = Scan(grid.apply_to(sitk.GetImageFromArray(values), copy=False), modality=Modality.CT)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ct"
        write_dicom_series(scan, folder, SeriesIdentity("BENCH", "bench"))
        nifti = write_volume(scan, Path(tmp) / "ct.nii.gz")
        floor_dicom = median_seconds(lambda: _sitk_series(folder), 3)
        ours_dicom = median_seconds(lambda: load_scan(folder), 3)
        floor_nifti = median_seconds(lambda: sitk.ReadImage(str(nifti)), 3)
        ours_nifti = median_seconds(lambda: load_scan(nifti), 3)
    print("512 x 512 x 200 CT, median of 3")
    print(
        f"DICOM series: SimpleITK {floor_dicom:.2f} s, tscimg {ours_dicom:.2f} s "
        f"({ours_dicom / floor_dicom:.2f}x the floor)"
    )
    print(
        f"NIfTI .nii.gz: SimpleITK {floor_nifti:.2f} s, tscimg {ours_nifti:.2f} s "
        f"({ours_nifti / floor_nifti:.2f}x the floor)"
    )


if __name__ == "__main__":
    main()
