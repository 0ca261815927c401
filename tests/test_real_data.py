"""Real public scans from ../shared/data (each test skips when the data is absent)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from builders import shared_data

from tscimg import Geometry, InputError, MaskError, load_mask, load_scan
from tscimg.longitudinal import register


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


def test_real_ultrasound_cine_loads_with_its_calibration_frames_and_grey_values() -> None:
    path = shared_data("echo", "examples_ybr_color.dcm")
    scan = load_scan(path)
    assert scan.modality is not None and scan.modality.value == "US"
    assert scan.frame_count == 30 and scan.frame_index == 0
    assert scan.frame_time_ms == pytest.approx(33.333)
    # SequenceOfUltrasoundRegions: PhysicalDeltaX/Y 0.0510497 cm
    assert scan.geometry.spacing_mm[:2] == pytest.approx((0.510497, 0.510497), abs=1e-6)
    assert scan.geometry.size == (320, 240, 1) and scan.is_planar and scan.calibrated
    assert scan.image.GetNumberOfComponentsPerPixel() == 1  # YBR_FULL_422 -> grey
    assert any("no patient coordinates" in w for w in scan.warnings)
    assert any("extends beyond" in w for w in scan.warnings)  # the region is larger than the image
    # grey = luminance of pydicom's RGB, the Y of YBR (BT.601)
    import pydicom

    rgb = pydicom.dcmread(path).pixel_array[7].astype(float)
    luminance = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    frame7 = load_scan(path, frame=7).to_array()[0]
    assert np.abs(frame7 - luminance).max() <= 0.5
    with pytest.raises(InputError, match="the cine has 30 frame"):
        load_scan(path, frame=30)


def test_real_serial_mr_pair_registers_like_the_datasets_own_transforms() -> None:
    """Two real FLAIR visits of one patient 81 days apart (3 mm slices, the head turned by
    about 4 degrees and moved by 11 mm between them). The dataset gives each visit's affine to
    a common space (ITK convention: common-space points to the visit's points), so the visit-1
    to visit-2 map is T2 o T1^-1: an independent reference for the global registration that
    carries every lesion. Measured: mean 0.41 mm, worst 0.81 mm over the brain."""
    folder = shared_data("ms_pair", "patient12")
    first = load_scan(folder / "study1_FLAIR.nii.gz")
    second = load_scan(folder / "study2_FLAIR.nii.gz")
    to_first = sitk.ReadTransform(str(folder / "study1_FLAIR_to_common_space.txt"))
    to_second = sitk.ReadTransform(str(folder / "study2_FLAIR_to_common_space.txt"))
    pixels = first.to_array()
    brain_kji = np.argwhere(pixels > np.percentile(pixels, 60))[::500]
    points = np.array([first.geometry.index_to_lps(tuple(p[::-1])) for p in brain_kji])
    common = [to_first.GetInverse().TransformPoint(tuple(p)) for p in points]
    expected = np.array([to_second.TransformPoint(c) for c in common])
    assert np.linalg.norm(points - expected, axis=1).mean() > 5.0  # the visits do differ
    centre = np.median(points, axis=0)
    registration = register(first, second, (centre - 15.0, centre + 15.0))
    distance = np.linalg.norm(registration.map_points(points) - expected, axis=1)
    assert registration.warnings == ()
    assert distance.mean() < 0.7  # in-plane voxel 0.72 mm
    assert distance.max() < 1.5  # half a slice


def test_a_dicom_seg_placed_on_an_unrelated_scan_says_so_not_that_it_is_empty() -> None:
    """ReMIND-022's SEG (799 voxels) given with brain1's NRRD scan (no frame of reference):
    its frames are off that grid, were resampled onto it, and the measure said "the mask is
    empty (labels present: none)". It now says none of the SEG's voxels falls in the scan."""
    seg = shared_data("remind022", "tumor_seg.dcm")
    scan = load_scan(shared_data("pyradiomics", "brain1_image.nrrd"))
    with pytest.raises(MaskError, match="none of the SEG's 799 segmented voxels falls inside"):
        load_mask(seg, reference=scan)
