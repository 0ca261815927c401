"""NIfTI (sform/qform, RAS to LPS), NRRD and MHA reading, label-map masks, atomic writes."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from builders import centred_geometry, phantom_scan
from conftest import SeriesWriter

from tscimg import (
    Geometry,
    GeometryMismatchError,
    ImageReadError,
    Mask,
    MaskError,
    load_mask,
    load_scan,
    write_volume,
)
from tscimg.synthetic import rotation_matrix

OBLIQUE = tuple(float(v) for v in rotation_matrix((-9.0, 14.0, 4.0)).ravel())


def test_nifti_and_dicom_copies_of_a_scan_agree(write_series: SeriesWriter, tmp_path: Path) -> None:
    grid = centred_geometry((40, 44, 18), (0.7, 0.7, 5.0), OBLIQUE)
    written, folder = write_series(grid)
    nifti = write_volume(written, tmp_path / "copy.nii.gz")
    from_dicom, from_nifti = load_scan(folder), load_scan(nifti)
    assert from_nifti.geometry.differences(from_dicom.geometry, 1e-4, 1e-5) == []
    assert np.array_equal(from_nifti.to_array(), from_dicom.to_array())


def test_nifti_reads_like_simpleitk_when_sform_and_qform_agree(tmp_path: Path) -> None:
    grid = centred_geometry((20, 22, 9), (0.9, 1.1, 3.0), OBLIQUE)
    path = write_volume(phantom_scan(grid), tmp_path / "a.nii")
    ours = load_scan(path)
    theirs = sitk.ReadImage(str(path))
    assert ours.geometry.differences(Geometry.of(theirs), 1e-4, 1e-5) == []
    assert np.array_equal(ours.to_array(), sitk.GetArrayFromImage(theirs))


def _nifti(
    tmp_path: Path,
    sform: np.ndarray | None,
    qform: np.ndarray | None,
    data: np.ndarray | None = None,
) -> Path:
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) if data is None else data
    img = nib.Nifti1Image(data, None)
    if sform is not None:
        img.set_sform(sform, code=2)
    else:
        img.set_sform(np.eye(4), code=0)
    if qform is not None:
        img.set_qform(qform, code=1)
    else:
        img.set_qform(np.eye(4), code=0)
    path = tmp_path / "t.nii.gz"
    nib.save(img, str(path))
    return path


def test_ras_affine_becomes_lps_geometry_and_array_order_is_kji(tmp_path: Path) -> None:
    ras = np.array([[-0.5, 0, 0, 10.0], [0, -0.6, 0, 20.0], [0, 0, 2.0, 30.0], [0, 0, 0, 1]])
    scan = load_scan(_nifti(tmp_path, ras, ras))
    g = scan.geometry
    assert g.size == (4, 5, 6)
    assert np.allclose(g.spacing_mm, (0.5, 0.6, 2.0))
    assert np.allclose(g.origin_lps, (-10.0, -20.0, 30.0))
    assert np.allclose(g.direction, np.eye(3).ravel())
    # voxel (i, j, k) = (3, 1, 2) holds data[3, 1, 2]
    assert scan.to_array()[2, 1, 3] == 3 * 30 + 1 * 6 + 2


def test_sform_wins_over_qform_and_qform_is_used_alone(tmp_path: Path) -> None:
    s = np.array([[1.0, 0, 0, 5], [0, 1, 0, 6], [0, 0, 1, 7], [0, 0, 0, 1]])
    q = np.array([[2.0, 0, 0, -5], [0, 2, 0, -6], [0, 0, 2, -7], [0, 0, 0, 1]])
    both = load_scan(_nifti(tmp_path, s, q)).geometry
    assert np.allclose(both.origin_lps, (-5, -6, 7)) and np.allclose(both.spacing_mm, 1.0)
    only_q = load_scan(_nifti(tmp_path, None, q)).geometry
    assert np.allclose(only_q.origin_lps, (5, 6, -7)) and np.allclose(only_q.spacing_mm, 2.0)


def test_sform_and_qform_that_disagree_are_read_by_the_sform_with_a_warning(
    tmp_path: Path,
) -> None:
    # Before: no word, while SimpleITK read this file (sform code 2, qform code 1) by the qform,
    # 12 mm and 10 degrees away.
    s = np.array([[1.0, 0, 0, 12], [0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]])
    c, n = np.cos(np.radians(10.0)), np.sin(np.radians(10.0))
    q = np.array([[c, -n, 0, 0], [n, c, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]])
    path = _nifti(tmp_path, s, q)
    assert np.allclose(sitk.ReadImage(str(path)).GetOrigin(), (0, 0, 0))  # ITK: the qform
    scan = load_scan(path)
    assert np.allclose(scan.geometry.origin_lps, (-12, 0, 0))
    # the far corner (3, 4, 5): the sform puts it at (15, 4, 10), the qform rotates (3, 4) by
    # 10 degrees to (2.2596, 4.4602): 12.777 mm apart; the origin 12 mm
    far = np.hypot(15 - (3 * c - 4 * n), 4 - (3 * n + 4 * c))
    assert scan.warnings == (
        f"the sform and the qform place the image differently (corners up to {far:.3g} mm "
        "apart): the sform is used (NIfTI standard), but ITK-based tools (ITK-SNAP, 3D Slicer) "
        "may read this file by the qform, and points taken from them in LPS or RAS would miss",
    )
    assert load_scan(_nifti(tmp_path, s, s)).warnings == ()


def test_sheared_affine_and_4d_series_are_clear_errors(tmp_path: Path) -> None:
    sheared = np.array([[1.0, 0.3, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    with pytest.raises(ImageReadError, match="sheared"):
        load_scan(_nifti(tmp_path, sheared, None))
    four_d = np.zeros((4, 5, 6, 3), dtype=np.int16)
    with pytest.raises(ImageReadError, match="4D array"):
        load_scan(_nifti(tmp_path, np.eye(4), None, four_d))
    single = load_scan(_nifti(tmp_path, np.eye(4), None, np.ones((4, 5, 6, 1), dtype=np.int16)))
    assert single.geometry.size == (4, 5, 6)


def test_nifti_scaling_is_applied(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.full((3, 3, 3), 100, dtype=np.int16), np.eye(4))
    img.header.set_slope_inter(2.0, -1024.0)
    nib.save(img, str(tmp_path / "scaled.nii"))
    assert np.all(load_scan(tmp_path / "scaled.nii").to_array() == -824.0)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".nii.gz"])
def test_volume_formats_round_trip_geometry_and_pixels(tmp_path: Path, suffix: str) -> None:
    scan = phantom_scan(centred_geometry((21, 17, 9), (0.6, 0.75, 4.0), OBLIQUE))
    path = write_volume(scan, tmp_path / f"scan{suffix}")
    back = load_scan(path)
    assert back.geometry.differences(scan.geometry, 1e-5, 1e-6) == []
    assert np.array_equal(back.to_array(), scan.to_array())
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_label_map_masks_must_lie_on_their_scan(tmp_path: Path) -> None:
    grid = centred_geometry((16, 16, 8), (1.0, 1.0, 2.0), OBLIQUE)
    scan = phantom_scan(grid)
    labels = (scan.to_array() > 170).astype(np.uint8)
    path = write_volume(Mask.from_array(labels, grid), tmp_path / "m.nii.gz")
    mask = load_mask(path, reference=scan.derive(source="scan.nii.gz"))
    assert mask.voxel_count() == int(labels.sum()) > 0

    moved = Geometry(
        grid.size, grid.spacing_mm, (grid.origin_lps[0] + 3, *grid.origin_lps[1:]), grid.direction
    )
    other = write_volume(Mask.from_array(labels, moved), tmp_path / "moved.nrrd")
    with pytest.raises(GeometryMismatchError) as err:
        load_mask(other, reference=scan.derive(source="scan.nii.gz"))
    assert "moved.nrrd" in str(err.value) and "scan.nii.gz" in str(err.value)

    fuzzy = write_volume(grid.apply_to(sitk.GetImageFromArray(labels * 0.5)), tmp_path / "f.mha")
    with pytest.raises(MaskError, match="non-integer"):
        load_mask(fuzzy)


def test_a_label_map_with_its_axes_reordered_is_placed_on_its_scan(tmp_path: Path) -> None:
    """The same voxels stored with the axes in another order: nibabel's ``as_closest_canonical``
    (RAS-first, the order many tools save) of a mask drawn on a scan read LPS-first, and a
    transposed copy. Each is reordered onto the scan's grid voxel for voxel, with a warning;
    the volume is the drawn one exactly. A mask shifted by half a voxel is still refused (its
    voxels are not the scan's)."""
    grid = centred_geometry((16, 12, 8), (0.8, 0.9, 2.5), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    scan = phantom_scan(grid).derive(source="scan.nii.gz")
    labels = np.zeros(grid.size[::-1], dtype=np.uint8)
    labels[2:5, 3:9, 4:7] = 1
    labels[6, 1, 10] = 2  # one voxel of another label, off centre on every axis
    drawn = write_volume(Mask.from_array(labels, grid), tmp_path / "drawn.nii")
    canonical = nib.as_closest_canonical(nib.load(str(drawn)))
    assert canonical.affine[0, 0] > 0 and canonical.affine[1, 1] > 0  # RAS: i, j reversed
    nib.save(canonical, str(tmp_path / "ras.nii.gz"))
    transposed = nib.Nifti1Image(
        np.transpose(np.asarray(canonical.dataobj), (2, 0, 1)),
        canonical.affine[:, [2, 0, 1, 3]],
    )
    nib.save(transposed, str(tmp_path / "kij.nii.gz"))
    for name in ("ras.nii.gz", "kij.nii.gz"):
        mask = load_mask(tmp_path / name, reference=scan)
        assert mask.geometry.differences(grid) == []
        np.testing.assert_array_equal(mask.array_view(), labels)
        assert mask.volume_ml() == pytest.approx(int((labels > 0).sum()) * 0.8 * 0.9 * 2.5 / 1000)
        assert any("ordered differently from scan.nii.gz" in w for w in mask.warnings)
    half = Geometry(
        grid.size, grid.spacing_mm, (grid.origin_lps[0] + 0.4, *grid.origin_lps[1:]), grid.direction
    )
    turned = Geometry(
        grid.size, grid.spacing_mm, grid.origin_lps, (1, 5e-4, 0, -5e-4, 1, 0, 0, 0, 1)
    )
    with pytest.raises(GeometryMismatchError, match="direction cosines differ"):
        Mask.from_array(labels, turned).placed_on(grid, "scan.nii.gz")  # the same order, turned
    shifted = write_volume(Mask.from_array(labels, half), tmp_path / "shifted.nii.gz")
    with pytest.raises(GeometryMismatchError, match=r"origin differs by 0\.4 mm"):
        load_mask(shifted, reference=scan)


def test_unknown_missing_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="no such file"):
        load_scan(tmp_path / "absent.nii.gz")
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        load_scan(tmp_path / "empty.nii.gz")
    (tmp_path / "scan.xyz").write_text("?")
    with pytest.raises(ImageReadError, match="unrecognised image format"):
        load_scan(tmp_path / "scan.xyz")
    (tmp_path / "bad.nrrd").write_text("NRRD0004\nnonsense\n")
    with pytest.raises(ImageReadError, match=r"bad\.nrrd"):
        load_scan(tmp_path / "bad.nrrd")


def test_an_integer_nifti_2_is_read_without_a_library_error_on_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Before: the right pixels (nibabel's, after ITK failed), but ITK's C library printed
    # "** ERROR: nifti_convert_nhdr2nim: bad dim[0]" on stderr, under a successful command.
    data = np.zeros((10, 12, 14), np.int16)
    data[2:5, 3:7, 4:9] = 7  # 3 x 4 x 5 = 60 voxels
    nib.save(nib.Nifti2Image(data, np.diag([1.0, 1.0, 2.0, 1.0])), str(tmp_path / "n2.nii.gz"))
    capfd.readouterr()
    scan = load_scan(tmp_path / "n2.nii.gz")
    assert capfd.readouterr().err == ""
    assert scan.geometry.size == (10, 12, 14)
    assert int(np.count_nonzero(scan.to_array() == 7)) == 60


@pytest.mark.parametrize(
    ("space", "warned"),
    [("scanner-xyz", True), ("3D-right-handed", True), ("left-posterior-superior", False),
     ("RAS", False)],
)  # fmt: skip
def test_an_nrrd_outside_patient_space_is_read_with_a_warning(
    tmp_path: Path, space: str, warned: bool
) -> None:
    # Before: a scanner-xyz NRRD's positions were taken as LPS without a word.
    data = np.zeros((4, 3, 2), np.int16).tobytes()
    header = (
        f"NRRD0004\ntype: short\ndimension: 3\nspace: {space}\nsizes: 2 3 4\n"
        "space directions: (1,0,0) (0,2,0) (0,0,3)\nkinds: domain domain domain\n"
        "endian: little\nencoding: raw\nspace origin: (10,20,30)\n\n"
    )
    path = tmp_path / "scan.nrrd"
    path.write_bytes(header.encode() + data)
    scan = load_scan(path)
    assert scan.geometry.spacing_mm == (1.0, 2.0, 3.0)
    expected = (
        f"the NRRD space {space!r} is not a patient space (LPS, RAS, LAS): its positions are "
        "taken as LPS mm; volumes are right, but LPS/RAS points and a DICOM SEG's placement may "
        "not match the patient",
    )
    assert scan.warnings == (expected if warned else ())


_META = (
    "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
    "ElementSpacing = 0.8 0.9 2.5\nDimSize = 20 22 12\nElementType = MET_UCHAR\n"
)


def _meta_mask() -> np.ndarray:
    labels = np.zeros((12, 22, 20), np.uint8)
    labels[3:8, 6:14, 5:12] = 1  # 280 voxels, 0.504 mL
    return labels


def test_metaimage_slice_lists_missing_files_or_data_are_refused(tmp_path: Path) -> None:
    """ITK's MetaImage reader took an ElementDataFile LIST or pattern naming 6 slice files for
    12 slices, or slice files short of data, as whole: the missing voxels were uninitialised
    memory, and one file measured 168, then 1009 voxels (labels up to 255). They are refused;
    a whole list reads the 280 voxels."""
    labels = _meta_mask()
    for k in range(12):
        (tmp_path / f"s{k}.raw").write_bytes(labels[k].tobytes())
    names = "\n".join(f"s{k}.raw" for k in range(12))
    whole = tmp_path / "whole.mhd"
    whole.write_text(_META + "ElementDataFile = LIST\n" + names + "\n")
    assert load_mask(whole).voxel_count() == 280
    pattern = tmp_path / "pattern.mhd"
    pattern.write_text(_META + "ElementDataFile = s%d.raw 0 11 1\n")
    assert load_mask(pattern).voxel_count() == 280
    half = tmp_path / "half.mhd"
    half.write_text(_META + "ElementDataFile = LIST\n" + "\n".join(names.split()[:6]) + "\n")
    short_pattern = tmp_path / "short_pattern.mhd"
    short_pattern.write_text(_META + "ElementDataFile = s%d.raw 0 5 1\n")
    for path in (half, short_pattern):
        with pytest.raises(ImageReadError, match=r"names 6 data file\(s\) where .* needs 12"):
            load_mask(path)
    (tmp_path / "s11.raw").write_bytes(labels[11].tobytes()[:100])
    with pytest.raises(ImageReadError, match="truncated"):
        load_mask(whole)


def test_a_compressed_metaimage_whose_stream_is_short_is_refused(tmp_path: Path) -> None:
    """A MetaImage's zlib stream holding half the promised bytes (its CompressedDataSize
    right) was read as whole: 168 voxels once, 1509 another time. It is refused; the whole
    stream reads the 280 voxels."""
    import zlib

    raw = _meta_mask().tobytes()
    for name, data, ok in (("whole", raw, True), ("short", raw[:2640], False)):
        packed = zlib.compress(data)
        path = tmp_path / f"{name}.mha"
        head = (
            f"CompressedData = True\nCompressedDataSize = {len(packed)}\nElementDataFile = LOCAL\n"
        )
        path.write_bytes((_META + head).encode() + packed)
        if ok:
            assert load_mask(path).voxel_count() == 280
        else:
            with pytest.raises(ImageReadError, match="truncated: its header promises 5280 bytes"):
                load_mask(path)


def test_nifti_units_and_missing_forms_are_read_as_itk_reads_them(tmp_path: Path) -> None:
    """xyzt_units in metres or micrometres were ignored: a mask in metres measured 5e-10 mL
    for 0.504 (and in micrometres was refused as damaged); a NIfTI without qform and sform
    was placed as nibabel centres it, so a mask written on it lay elsewhere in ITK-based tools
    (no overlap at all). Both are read now as SimpleITK (ITK-SNAP, Slicer) reads them."""
    mask = np.zeros((20, 22, 12), np.uint8)
    mask[5:12, 6:14, 3:8] = 1  # 280 voxels at 0.8 x 0.9 x 2.5 mm: 0.504 mL
    files = {}
    for units, factor in (("meter", 0.001), ("micron", 1000.0)):
        img = nib.Nifti1Image(mask, np.diag([0.8 * factor, 0.9 * factor, 2.5 * factor, 1]))
        img.header.set_xyzt_units(units)
        files[units] = tmp_path / f"{units}.nii.gz"
        nib.save(img, files[units])
    bare = nib.Nifti1Image(mask, None)
    bare.header.set_zooms((0.8, 0.9, 2.5))
    files["none"] = tmp_path / "none.nii.gz"
    nib.save(bare, files["none"])
    assert int(nib.load(files["none"]).header["sform_code"]) == 0
    for name, path in files.items():
        loaded = load_mask(path)
        itk = Geometry.of(sitk.ReadImage(str(path)))
        assert loaded.geometry.differences(itk, 1e-3, 1e-6) == [], name
        assert loaded.volume_ml() == pytest.approx(0.504, rel=1e-4), name
        assert loaded.warnings, name  # each says what it did


def test_a_voxel_too_small_for_a_clinical_scan_is_refused_as_a_unit_error(tmp_path: Path) -> None:
    """Voxels of 0.001 mm (a header in metres read as mm) passed the plausibility check, and
    segmenting asked for a 60 GB clean-up ball (MemoryError, exit 4)."""
    path = tmp_path / "tiny.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((10, 10, 10), np.int16), np.diag([0.001] * 3 + [1])), path)
    with pytest.raises(ImageReadError, match=r"voxel size 0\.001 mm .* a unit error"):
        load_scan(path)


def test_an_nrrd_reader_failure_says_why(tmp_path: Path) -> None:
    """A bzip2 NRRD: the message ended at "Read: Error reading x.nrrd:", leaving out ITK's
    reason, "bzip2 encoding not available"."""
    import bz2

    data = np.zeros((4, 5, 6), np.uint8).tobytes()
    head = (
        "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 6 5 4\nspace: left-posterior-superior\n"
        "space directions: (1,0,0) (0,1,0) (0,0,1)\nencoding: bzip2\nspace origin: (0,0,0)\n\n"
    )
    path = tmp_path / "b.nrrd"
    path.write_bytes(head.encode() + bz2.compress(data))
    with pytest.raises(ImageReadError, match="bzip2 encoding not available"):
        load_scan(path)


def test_a_double_label_map_keeps_labels_float32_cannot_hold(tmp_path: Path) -> None:
    """Labels 16777216 and 16777217 stored as float64 were cut to float32 and became one."""
    labels = np.zeros((20, 22, 12))
    labels[5:12, 6:14, 3:8] = 16777217.0
    labels[1:3, 1:3, 1:3] = 16777216.0
    path = tmp_path / "doubles.nii.gz"
    nib.save(nib.Nifti1Image(labels, np.diag([0.8, 0.9, 2.5, 1]), dtype=np.float64), path)
    mask = load_mask(path)
    assert mask.labels == (16777216, 16777217)
    assert mask.voxel_count(16777217) == 280 and mask.voxel_count(16777216) == 8
