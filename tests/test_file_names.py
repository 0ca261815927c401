"""File names a radiologist's scripts produce: upper-case extensions, 2D NRRD/MHA, --series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from builders import run_tscimg
from conftest import SeriesWriter

from tscimg import Geometry, ImageReadError, InputError, Mask, load_mask, load_scan, write_volume

#: A 10 x 10 x 5 box of label 1 on a 1 x 1 x 2 mm grid: 500 voxels, 1.0 mL.
BOX_VOXELS = 500
GRID = Geometry((30, 30, 12), (1.0, 1.0, 2.0), (-10.0, 5.0, 3.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))


def _box_mask() -> Mask:
    values = np.zeros((12, 30, 30), dtype=np.uint8)  # [k, j, i]
    values[3:8, 10:20, 5:15] = 1
    return Mask.from_array(values, GRID)


@pytest.mark.parametrize("name", ["MASK.NII.GZ", "mask.MHA", "mask.Nii", "Mask.Nrrd"])
def test_a_mask_written_under_an_upper_case_extension_is_whole(tmp_path: Path, name: str) -> None:
    # Before: MASK.NII.GZ raised ITK's RuntimeError (exit 4 in tscimg segment); mask.MHA left
    # a 0-byte mask.MHA plus a stray .mhd/.zraw pair, with exit 0.
    path = write_volume(_box_mask(), tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    back = load_mask(path)
    assert int(np.count_nonzero(back.to_array())) == BOX_VOXELS
    assert back.geometry.differences(GRID, 1e-6, 1e-9) == []


@pytest.mark.parametrize("name", ["mask.mhd", "mask.nhdr"])
def test_detached_formats_are_refused_for_writing(tmp_path: Path, name: str) -> None:
    # Before: the data file kept the temporary name (.mask.mhd.x8f2.zraw) beside mask.mhd.
    with pytest.raises(InputError, match=r"tscimg writes \.nii, \.nii\.gz, \.nrrd and \.mha files"):
        write_volume(_box_mask(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_an_upper_case_mha_is_read(tmp_path: Path) -> None:
    # Before: "could not be read as an image (Unable to determine ImageIO reader)".
    sitk.WriteImage(_box_mask().image, str(tmp_path / "lower.mha"))
    (tmp_path / "lower.mha").rename(tmp_path / "SCAN.MHA")
    assert load_scan(tmp_path / "SCAN.MHA").geometry.size == (30, 30, 12)


def _planar_image(path: Path) -> Path:
    values = np.zeros((20, 40), dtype=np.int16)  # [j, i]
    values[5:10, 10:20] = 300
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.5, 0.25))
    image.SetOrigin((4.0, -2.0))
    sitk.WriteImage(image, str(path))
    return path


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_a_2d_nrrd_or_mha_is_one_plane_of_a_3d_grid(tmp_path: Path, suffix: str) -> None:
    # Before: Geometry of size (40, 20); tscimg segment --point 15,7,0 failed with an internal
    # error (zip() argument 2 is shorter than argument 1), exit 4.
    scan = load_scan(_planar_image(tmp_path / f"plane{suffix}"))
    assert scan.geometry.size == (40, 20, 1)
    assert scan.geometry.spacing_mm == (0.5, 0.25, 1.0)
    assert scan.geometry.origin_lps == (4.0, -2.0, 0.0)
    assert scan.is_planar
    mask = load_mask(tmp_path / f"plane{suffix}", reference=scan)
    assert int(np.count_nonzero(mask.to_array())) == 50  # 5 x 10 pixels


def test_info_on_a_2d_mha_keeps_the_json_contract(tmp_path: Path) -> None:
    result = run_tscimg("info", str(_planar_image(tmp_path / "plane.mha")), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["size"] == [40, 20, 1]
    assert record["direction"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def test_series_uid_with_a_nifti_is_refused_not_ignored(tmp_path: Path) -> None:
    path = write_volume(_box_mask(), tmp_path / "scan.nii.gz")
    with pytest.raises(InputError, match="picks a series in a DICOM folder; this is a NIfTI"):
        load_scan(path, series_uid="1.2.3.4")


def test_series_uid_must_be_the_dicom_files_own(write_series: SeriesWriter, tmp_path: Path) -> None:
    _, folder = write_series(GRID)
    one = sorted(folder.iterdir())[0]
    own = load_scan(one).series_uid
    assert own is not None
    assert load_scan(one, series_uid=own).series_uid == own
    with pytest.raises(InputError, match=f"belongs to series {own}, not to the series 1.2.3.4"):
        load_scan(one, series_uid="1.2.3.4")


def test_series_on_a_nifti_exits_1_naming_the_file(tmp_path: Path) -> None:
    path = write_volume(_box_mask(), tmp_path / "scan.nii.gz")
    result = run_tscimg("info", str(path), "--series", "1.2.3.4", "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["file"] == str(path)
    assert "Leave out --series" in error["message"]


def test_a_mixed_case_nifti_name_is_read_quietly(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Before: "not a readable NIfTI file (No such file or directory: 'scan.nii')"; then ITK's
    # C library printed "** mixed case extension '.Nii' is not valid" 7 times on stderr.
    write_volume(_box_mask(), tmp_path / "lower.nii")
    (tmp_path / "lower.nii").rename(tmp_path / "scan.Nii")
    capfd.readouterr()
    assert int(np.count_nonzero(load_mask(tmp_path / "scan.Nii").to_array())) == BOX_VOXELS
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    ("written", "named", "fix"),
    [("scan.nii", "scan.nii.gz", "not gzip-compressed, but its name ends in .nii.gz. "
      "Rename it 'scan.nii'"),
     ("scan.nii.gz", "scan.nii", "gzip-compressed, but its name ends in .nii. "
      "Rename it 'scan.nii.gz'")],
)  # fmt: skip
def test_a_nifti_named_against_its_compression_is_told_how_to_rename_it(
    tmp_path: Path, written: str, named: str, fix: str
) -> None:
    # Before: "not a readable NIfTI file (Not a gzipped file (b'\\x01'))" and "no 'n+1' magic;
    # the header is damaged, or it is another format".
    write_volume(_box_mask(), tmp_path / written).rename(tmp_path / named)
    with pytest.raises(ImageReadError) as caught:
        load_scan(tmp_path / named)
    assert f"the file is {fix}" in str(caught.value)


def test_a_nifti_scan_written_as_mha_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Before: ITK's MetaImage writer printed a multi-line WARNING on stderr for each NIfTI
    # header field it cannot keep (ITK_FileNotes, aux_file, descrip, ...).
    values = np.zeros((12, 30, 30), dtype=np.int16)
    values[3:8, 10:20, 5:15] = 300
    nifti = write_volume(Mask.from_array(values.astype(np.uint8), GRID), tmp_path / "scan.nii.gz")
    scan = load_scan(nifti)
    capfd.readouterr()
    write_volume(scan, tmp_path / "scan.mha")
    assert capfd.readouterr().err == ""
    assert int(np.count_nonzero(load_scan(tmp_path / "scan.mha").to_array())) == BOX_VOXELS
