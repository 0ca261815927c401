"""Real public scans from ../shared/data (each test skips when the data is absent)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from builders import shared_data

from tscimg import Geometry, MaskError, load_mask, load_scan


def test_remind_oblique_mr_series_matches_simpleitk() -> None:
    folder = shared_data("remind022", "T1post_dicom")
    scan = load_scan(folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    ref = reader.Execute()
    assert scan.geometry.differences(Geometry.of(ref), 1e-4, 1e-6) == []
    assert scan.geometry.size == (248, 256, 176)
    assert np.allclose(scan.geometry.spacing_mm, (0.977, 0.977, 1.0), atol=1e-3)
    assert abs(scan.geometry.direction[4]) < 0.95  # genuinely oblique
    assert np.array_equal(scan.to_array(), sitk.GetArrayFromImage(ref))
    assert scan.modality is not None and scan.modality.value == "MR"
    assert scan.acquisition_date is not None
    assert scan.warnings == ()


def test_remind_cropped_seg_maps_to_799_voxels_on_the_t1_grid() -> None:
    folder = shared_data("remind022", "T1post_dicom")
    seg = shared_data("remind022", "tumor_seg.dcm")
    scan = load_scan(folder)
    mask = load_mask(seg, reference=scan)
    assert mask.geometry == scan.geometry
    assert mask.voxel_count() == 799
    assert mask.voxel_count() * scan.geometry.voxel_volume_mm3 / 1000 == pytest.approx(
        0.762, abs=5e-4
    )
    assert mask.label_names == {1: "Glioma"}
    with pytest.raises(MaskError, match="scan it was drawn on"):
        load_mask(seg)


@pytest.mark.parametrize("case", ["brain1", "breast1"])
def test_pyradiomics_nrrd_reads_like_simpleitk(case: str) -> None:
    image = shared_data("pyradiomics", f"{case}_image.nrrd")
    label = shared_data("pyradiomics", f"{case}_label.nrrd")
    scan = load_scan(image)
    ref = sitk.ReadImage(str(image))
    assert scan.geometry == Geometry.of(ref)
    mask = load_mask(label, reference=scan)
    expected = {"brain1": 4137, "breast1": 143}[case]  # pyradiomics' VoxelNum
    assert mask.voxel_count(1) == expected


@pytest.mark.parametrize(("patient", "core_ml"), [("pat0005", 45.266), ("pat0006", 107.445)])
def test_brats_nifti_geometry_and_label_volumes(patient: str, core_ml: float) -> None:
    t1c = shared_data("brats", patient, "T1c_subtrMeanDivStd.nii.gz")
    labels = shared_data("brats", patient, "OTMultiClass.nii.gz")
    scan = load_scan(t1c)
    ref = sitk.ReadImage(str(t1c))
    assert scan.geometry.differences(Geometry.of(ref), 1e-4, 1e-6) == []
    mask = load_mask(labels, reference=scan)
    arr = mask.to_array()
    core = np.isin(arr, (1, 3, 4)).sum() * scan.geometry.voxel_volume_mm3 / 1000
    assert core == pytest.approx(core_ml, abs=5e-4)


@pytest.mark.parametrize(
    ("case", "tumour_ml"), [("case_00017", 6.392), ("case_00043", 11.727), ("case_00137", 2.520)]
)
def test_kits_aml_label_volumes(case: str, tumour_ml: float) -> None:
    seg = load_mask(shared_data("kits_aml", case, "segmentation.nii.gz"))
    volume_ml = seg.voxel_count(2) * seg.geometry.voxel_volume_mm3 / 1000
    assert volume_ml == pytest.approx(tumour_ml, abs=5e-4)


def test_real_ultrasound_cine_loads_with_its_metadata() -> None:
    scan = load_scan(shared_data("echo", "examples_ybr_color.dcm"))
    assert scan.modality is not None and scan.modality.value == "US"
    assert scan.geometry.size[2] == 30
    assert scan.warnings  # no patient geometry: said so, not hidden
