"""DICOM series loading: geometry equal to SimpleITK and dcm2niix, and every broken-series case."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from builders import BLOB, IDENTITY, centred_geometry, phantom_scan
from conftest import SeriesWriter

from tscimg import DicomSeriesError, Geometry, ImageReadError, InputError, Modality, load_scan
from tscimg.synthetic import rotation_matrix

OBLIQUE = tuple(float(v) for v in rotation_matrix((15.0, -10.0, 8.0)).ravel())
GRIDS = {
    "axial": centred_geometry((64, 60, 24), (0.8, 0.8, 2.5)),
    "oblique": centred_geometry((56, 64, 20), (0.9, 0.9, 3.0), OBLIQUE),
    "anisotropic-0.7x0.7x5": centred_geometry((96, 90, 14), (0.7, 0.7, 5.0)),
}


def simpleitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def assert_same_geometry(a: Geometry, b: Geometry, tol: float = 1e-4) -> None:
    assert a.size == b.size
    assert np.allclose(a.spacing_mm, b.spacing_mm, atol=tol)
    assert np.allclose(a.origin_lps, b.origin_lps, atol=tol)
    assert np.allclose(a.direction, b.direction, atol=tol)


@pytest.mark.parametrize("grid", GRIDS.values(), ids=GRIDS.keys())
def test_series_geometry_and_pixels_match_simpleitk_and_the_truth(
    grid: Geometry, write_series: SeriesWriter
) -> None:
    written, folder = write_series(grid)
    scan = load_scan(folder)
    reference = simpleitk_series(folder)
    assert_same_geometry(scan.geometry, Geometry.of(reference))
    assert_same_geometry(scan.geometry, grid)
    assert np.array_equal(scan.to_array(), sitk.GetArrayFromImage(reference))
    # Rescale applied: CT values come back in HU, as written (air -1000, blob 300).
    assert np.array_equal(scan.to_array(), written.to_array())
    assert scan.to_array().min() == -1000
    assert scan.modality is Modality.CT and scan.warnings == ()


@pytest.mark.skipif(shutil.which("dcm2niix") is None, reason="dcm2niix is not installed")
@pytest.mark.parametrize("grid", GRIDS.values(), ids=GRIDS.keys())
def test_series_matches_dcm2niix_nifti_in_lps(
    grid: Geometry, write_series: SeriesWriter, tmp_path: Path
) -> None:
    _, folder = write_series(grid)
    scan = load_scan(folder)
    out = tmp_path / "dcm2niix"
    out.mkdir()
    subprocess.run(
        ["dcm2niix", "-z", "n", "-f", "conv", "-o", str(out), str(folder)],
        check=True,
        capture_output=True,
    )
    nii = nib.load(str(out / "conv.nii"))
    theirs_lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ nii.affine
    # dcm2niix may flip axes: map its voxel indices onto ours; it must be an exact permutation.
    m = np.linalg.inv(scan.geometry.index_to_lps_matrix) @ theirs_lps
    assert np.allclose(np.abs(m[:3, :3]), np.round(np.abs(m[:3, :3])), atol=1e-4)
    assert np.allclose(m[:3, 3], np.round(m[:3, 3]), atol=1e-3)
    data = np.asanyarray(nii.dataobj)
    idx = np.indices(data.shape).reshape(3, -1)
    ours = np.rint(m[:3, :3] @ idx + m[:3, 3:4]).astype(int)
    arr = scan.to_array()
    assert np.array_equal(arr[ours[2], ours[1], ours[0]], data.reshape(-1))


def test_shuffled_file_names_do_not_change_the_volume(write_series: SeriesWriter) -> None:
    _, folder = write_series(GRIDS["oblique"])
    before = load_scan(folder)
    files = sorted(folder.iterdir())
    names = [f"x{n:03d}" for n in range(len(files))]
    random.Random(7).shuffle(names)
    for f, name in zip(files, names, strict=True):
        f.rename(folder / name)  # no extension, names unrelated to position
    after = load_scan(folder)
    assert_same_geometry(after.geometry, before.geometry, 1e-9)
    assert np.array_equal(after.to_array(), before.to_array())


def test_two_series_in_one_folder_are_listed_and_one_can_be_chosen(
    write_series: SeriesWriter, tmp_path: Path
) -> None:
    a_scan, a = write_series(GRIDS["axial"], "a")
    _, b = write_series(GRIDS["oblique"], "b", modality=Modality.MR)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for folder in (a, b):
        for f in folder.iterdir():
            shutil.copy(f, mixed / f"{folder.name}_{f.name}")
    uid_a = pydicom.dcmread(next(a.iterdir())).SeriesInstanceUID
    uid_b = pydicom.dcmread(next(b.iterdir())).SeriesInstanceUID
    with pytest.raises(DicomSeriesError) as err:
        load_scan(mixed)
    text = str(err.value)
    assert str(mixed) in text and "2 series" in text
    assert f"{uid_a} 'a' CT 24 files" in text and f"{uid_b} 'b' MR 20 files" in text
    assert "--series" in text
    chosen = load_scan(mixed, series_uid=uid_a)
    assert np.array_equal(chosen.to_array(), a_scan.to_array())
    with pytest.raises(DicomSeriesError, match=r"no series with UID 1\.2\.3"):
        load_scan(mixed, series_uid="1.2.3")


def _extra_slice(folder: Path, name: str, orientation: list[float], image_type: list[str]) -> None:
    ds = pydicom.dcmread(next(iter(sorted(folder.iterdir()))))
    ds.ImageOrientationPatient = orientation
    ds.ImageType = image_type
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(folder / name)


def test_localizer_and_other_orientation_are_left_out_with_warnings(
    write_series: SeriesWriter,
) -> None:
    written, folder = write_series(GRIDS["axial"])
    _extra_slice(folder, "scout.dcm", [0, 1, 0, 0, 0, -1], ["ORIGINAL", "PRIMARY", "LOCALIZER"])
    _extra_slice(folder, "coronal.dcm", [1, 0, 0, 0, 0, -1], ["ORIGINAL", "PRIMARY", "OTHER"])
    scan = load_scan(folder)
    assert_same_geometry(scan.geometry, written.geometry)
    assert np.array_equal(scan.to_array(), written.to_array())
    text = " | ".join(scan.warnings)
    assert "1 localizer image(s) left out (scout.dcm)" in text
    assert "1 file(s) of another orientation or matrix size left out (coronal.dcm)" in text


def test_missing_slice_is_an_error_naming_the_gap(write_series: SeriesWriter) -> None:
    _, folder = write_series(GRIDS["axial"])
    (folder / "IM0011.dcm").unlink()
    with pytest.raises(DicomSeriesError) as err:
        load_scan(folder)
    text = str(err.value)
    assert "1 slice missing" in text and "IM0010.dcm" in text and "IM0012.dcm" in text
    assert "step is 5.000 mm where the series steps 2.500 mm" in text
    assert "--allow-resampling" in text


def test_missing_slice_is_interpolated_when_resampling_is_allowed(
    write_series: SeriesWriter,
) -> None:
    written, folder = write_series(GRIDS["axial"])
    (folder / "IM0011.dcm").unlink()
    scan = load_scan(folder, allow_resampling=True)
    assert_same_geometry(scan.geometry, written.geometry)
    truth = written.to_array().astype(float)
    got = scan.to_array()
    assert np.array_equal(np.delete(got, 10, axis=0), np.delete(truth, 10, axis=0))
    assert np.array_equal(got[10], np.rint((truth[9] + truth[11]) / 2))
    assert any("interpolated" in w for w in scan.warnings)


def test_identical_duplicates_are_removed_and_conflicting_ones_rejected(
    write_series: SeriesWriter,
) -> None:
    written, folder = write_series(GRIDS["axial"])
    shutil.copy(folder / "IM0005.dcm", folder / "copy_of_5.dcm")
    scan = load_scan(folder)
    assert np.array_equal(scan.to_array(), written.to_array())
    assert any("duplicate slice" in w for w in scan.warnings)

    ds = pydicom.dcmread(folder / "IM0007.dcm")
    ds.PixelData = (ds.pixel_array + 5).astype(np.int16).tobytes()
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(folder / "IM0007_repeat.dcm")
    with pytest.raises(DicomSeriesError) as err:
        load_scan(folder)
    assert "IM0007.dcm and IM0007_repeat.dcm are at the same position" in str(err.value)


def test_gantry_tilt_is_detected_and_resampled_onto_an_orthogonal_grid(
    write_series: SeriesWriter,
) -> None:
    tilt_deg, step = 15.0, 2.5
    shift_per_slice = step * np.tan(np.radians(tilt_deg))
    ortho = centred_geometry((64, 80, 24), (0.8, 0.8, step))
    # Render each tilted slice where it really is: slice k moves by k * shift along y (P).
    slices = []
    for k in range(ortho.size[2]):
        origin = np.asarray(ortho.index_to_lps((0, 0, k))) + [0.0, k * shift_per_slice, 0.0]
        one = Geometry((64, 80, 1), ortho.spacing_mm, tuple(origin), IDENTITY)
        slices.append(phantom_scan(one).to_array()[0])
    _, folder = write_series(ortho)
    for k, f in enumerate(sorted(folder.iterdir())):
        ds = pydicom.dcmread(f)
        ds.PixelData = (slices[k] + 1024).astype(np.int16).tobytes()
        ds.ImagePositionPatient = [
            f"{v:.6f}"
            for v in np.asarray(ortho.index_to_lps((0, 0, k))) + [0, k * shift_per_slice, 0]
        ]
        ds.GantryDetectorTilt = tilt_deg
        ds.save_as(f)
    scan = load_scan(folder)
    assert any("gantry tilt of 15.00 degrees" in w for w in scan.warnings)
    assert_same_geometry(scan.geometry, ortho)
    # The blob must sit where it is in the patient: its centroid within half a voxel.
    arr = scan.to_array()
    kji = np.argwhere(arr > 170).mean(axis=0)
    centroid = scan.geometry.index_to_lps(kji[::-1])
    truth = phantom_scan(ortho).to_array()
    true_centroid = ortho.index_to_lps(np.argwhere(truth > 170).mean(axis=0)[::-1])
    assert np.allclose(centroid, true_centroid, atol=0.4)
    assert np.allclose(centroid, BLOB.center_mm, atol=0.6)
    # Without the correction the blob would be off by ~k * shift along P.
    agreement = np.mean((arr > 170) == (truth > 170))
    assert agreement > 0.99


def _enhanced(folder: Path, shuffle: bool = False) -> hd.legacy.LegacyConvertedEnhancedCTImage:
    """The classic series in ``folder`` converted to one enhanced multi-frame object."""
    legacy = [pydicom.dcmread(f) for f in sorted(folder.iterdir())]
    if shuffle:
        random.Random(3).shuffle(legacy)
    return hd.legacy.LegacyConvertedEnhancedCTImage(
        legacy_datasets=legacy,
        series_instance_uid=hd.UID(),
        series_number=9,
        sop_instance_uid=hd.UID(),
        instance_number=1,
    )


def test_enhanced_multiframe_reads_like_the_classic_series(
    write_series: SeriesWriter, tmp_path: Path
) -> None:
    written, folder = write_series(GRIDS["oblique"])
    enhanced = _enhanced(folder, shuffle=True)
    path = tmp_path / "enhanced.dcm"
    enhanced.save_as(path)
    scan = load_scan(path)
    assert_same_geometry(scan.geometry, written.geometry)
    assert np.array_equal(scan.to_array(), written.to_array())
    # A folder holding only the multi-frame file reads the same.
    only = tmp_path / "mf"
    only.mkdir()
    shutil.copy(path, only / "x.dcm")
    assert np.array_equal(load_scan(only).to_array(), written.to_array())
    # an enhanced CT's reconstruction kernel is in its functional groups (it was not read, so a
    # kernel change between visits went unwarned)
    recon = pydicom.Dataset()
    recon.ConvolutionKernel = "B70f"
    enhanced.SharedFunctionalGroupsSequence[0].CTReconstructionSequence = [recon]
    enhanced.save_as(path)
    assert load_scan(path).reconstruction_kernel == "B70f"


def test_a_single_dicom_file_is_one_slice_in_place(write_series: SeriesWriter) -> None:
    written, folder = write_series(GRIDS["axial"])
    one = load_scan(folder / "IM0006.dcm")
    assert one.geometry.size == (64, 60, 1)
    assert np.allclose(one.geometry.origin_lps, written.geometry.index_to_lps((0, 0, 5)), atol=1e-5)
    assert np.array_equal(one.to_array()[0], written.to_array()[5])


def test_folder_without_dicom_images_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(DicomSeriesError, match="no DICOM image files found"):
        load_scan(tmp_path)


def test_truncated_and_corrupt_slice_files_are_named(write_series: SeriesWriter) -> None:
    _, folder = write_series(GRIDS["axial"])
    data = (folder / "IM0008.dcm").read_bytes()
    (folder / "IM0008.dcm").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError) as err:
        load_scan(folder)
    assert err.value.path == str(folder / "IM0008.dcm") and "truncated" in str(err.value)

    (folder / "IM0008.dcm").write_bytes(data)
    (folder / "IM0015.dcm").write_bytes(b"\x00garbage" * 20)
    with pytest.raises(DicomSeriesError) as gap:
        load_scan(folder)
    assert "1 slice missing" in str(gap.value)
    assert "1 unreadable DICOM file(s) skipped (IM0015.dcm: " in str(gap.value)


def test_a_cartesian_3d_echo_multiframe_reads_as_a_volume(
    write_series: SeriesWriter, tmp_path: Path
) -> None:
    """A 3D echo volume exported as multi-frame DICOM with plane positions (modality US) is a
    volume, not a cine: the ultrasound-cine path is only for frames without geometry."""
    written, folder = write_series(GRIDS["oblique"])
    enhanced = _enhanced(folder)
    enhanced.Modality = "US"
    path = tmp_path / "echo3d.dcm"
    enhanced.save_as(path)
    scan = load_scan(path)
    assert scan.modality is not None and scan.modality.value == "US"
    assert scan.frame_index is None and not scan.is_planar
    assert_same_geometry(scan.geometry, written.geometry)
    assert np.array_equal(scan.to_array(), written.to_array())
    with pytest.raises(InputError, match="selects a frame of an ultrasound cine"):
        load_scan(path, frame=2)


def test_one_slice_of_a_series_read_alone_says_where_the_series_is(
    write_series: SeriesWriter, tmp_path: Path
) -> None:
    # Before: no word; one 5 mm CT slice of TSC-001 segmented as a 2D frame gave 2.0 mL by
    # area-length for a 12.2 mL lesion.
    _, folder = write_series(centred_geometry((20, 20, 6), (1.0, 1.0, 3.0)))
    files = sorted(folder.iterdir())
    scan = load_scan(files[3])
    assert scan.geometry.size == (20, 20, 1)
    assert scan.warnings == (
        f"this file is one slice of a series: {files[0].name} beside it is another slice of the "
        f"same series ({scan.series_uid}); one slice is measured as a 2D frame (by area), not as "
        f"a volume. Pass the folder ({folder}) to read the whole series",
    )
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(files[3], alone / files[3].name)
    assert load_scan(alone / files[3].name).warnings == ()


def _rewrite(folder: Path, edit: object) -> None:
    for n, f in enumerate(sorted(folder.iterdir())):
        ds = pydicom.dcmread(f)
        edit(n, ds)  # type: ignore[operator]
        ds.save_as(f)


def test_orientation_jitter_in_the_last_digits_is_one_stack(write_series: SeriesWriter) -> None:
    """An oblique series whose ImageOrientationPatient jitters by 2e-6 from slice to slice
    around 0.1235 (a value rounding splits at 3 decimals): half the slices were left out as
    "another orientation" (double the slice spacing), or the series refused as gapped. It is
    one stack, as SimpleITK reads it (a helper's geometry audit)."""
    sine = 0.1235
    cosine = float(np.sqrt(1 - sine**2))
    direction = (cosine, -sine, 0.0, sine, cosine, 0.0, 0.0, 0.0, 1.0)
    written, folder = write_series(centred_geometry((40, 40, 16), (0.8, 0.8, 1.5), direction))

    def jitter(n: int, ds: pydicom.Dataset) -> None:
        e = 2e-6 if n % 2 else -2e-6
        ds.ImageOrientationPatient = [
            f"{v:.7f}" for v in (cosine, sine + e, 0, -sine - e, cosine, 0)
        ]

    _rewrite(folder, jitter)
    scan = load_scan(folder)
    assert scan.geometry.size == (40, 40, 16) and scan.warnings == ()
    assert_same_geometry(scan.geometry, written.geometry, 1e-4)
    assert np.array_equal(scan.to_array(), written.to_array())


def test_directions_off_perpendicular_are_made_perpendicular_so_masks_fit(
    write_series: SeriesWriter, tmp_path: Path
) -> None:
    """Row and column directions 5e-4 (and 3e-3) off perpendicular: the scan kept the skew,
    no mask file can hold it, and tscimg refused its own mask of the scan ("direction cosines
    differ by 0.00025"); at 3e-3, within the 1e-2 the header check accepts, the load failed as
    "implausible geometry". The directions are made perpendicular (each turned by half)."""
    from tscimg import Mask, load_mask, write_volume

    for skew in (5e-4, 3e-3):
        _, folder = write_series(GRIDS["axial"], f"skew{skew}")

        def skewed(n: int, ds: pydicom.Dataset, skew: float = skew) -> None:
            ds.ImageOrientationPatient = [1, 0, 0, skew, 1, 0]

        _rewrite(folder, skewed)
        scan = load_scan(folder)
        d = np.asarray(scan.geometry.direction).reshape(3, 3)
        assert np.allclose(d.T @ d, np.eye(3), atol=1e-12)
        assert "degrees from perpendicular" in " ".join(scan.warnings)
        labels = np.zeros(scan.geometry.size[::-1], dtype=np.uint8)
        labels[10:14, 20:30, 20:30] = 1
        write_volume(Mask.from_array(labels, scan.geometry), tmp_path / f"m{skew}.nii.gz")
        assert load_mask(tmp_path / f"m{skew}.nii.gz", reference=scan).voxel_count() == 400


def test_positions_written_to_one_decimal_on_an_oblique_stack_load(
    write_series: SeriesWriter,
) -> None:
    """ImagePositionPatient rounded to 0.1 mm on an oblique stack is up to 0.087 mm off the
    line through the slices, and a step up to twice that off the next: refused as "not on one
    line" or as a gap. It loads, within the rounding of the positions."""
    written, folder = write_series(GRIDS["oblique"])

    def rounded(n: int, ds: pydicom.Dataset) -> None:
        ds.ImagePositionPatient = [f"{float(v):.1f}" for v in ds.ImagePositionPatient]

    _rewrite(folder, rounded)
    scan = load_scan(folder)
    assert_same_geometry(scan.geometry, written.geometry, 0.1)
    assert np.array_equal(scan.to_array(), written.to_array())


def test_the_axial_diameter_of_a_dicom_scan_is_measured_on_its_slices(
    write_series: SeriesWriter, tmp_path: Path
) -> None:
    """1.2 x 0.6 mm pixels and 0.8 mm slices: the spacing rule took j (the largest spacing) as
    the slice axis, and the "axial" diameter of a lesion 10 mm across its slices and 30 mm
    along k read 29.7 mm. A scan read from DICOM is measured on its slices, k (a helper's
    geometry audit); the same voxels as NIfTI keep the spacing rule (documented)."""
    from tscimg import Mask, write_volume
    from tscimg.measure import MeasureParameters, acquisition_slices_of, measure_lesion

    written, folder = write_series(centred_geometry((40, 20, 50), (0.6, 1.2, 0.8)))
    scan = load_scan(folder)
    k, j, i = np.indices(scan.geometry.size[::-1])
    lesion = ((i - 20) * 0.6 / 5) ** 2 + ((j - 10) * 1.2 / 5) ** 2 + ((k - 25) * 0.8 / 15) ** 2
    mask = Mask.from_array((lesion <= 1).astype(np.uint8), scan.geometry)
    assert acquisition_slices_of(scan) == 2
    axis = MeasureParameters(slice_axis=acquisition_slices_of(scan))
    assert measure_lesion(mask, axis).record.axial_longest_diameter_mm == pytest.approx(10, abs=1.3)
    write_volume(written, tmp_path / "same.nii.gz")
    assert acquisition_slices_of(load_scan(tmp_path / "same.nii.gz")) is None
