"""The public Python API as a trial coordinator uses it in a notebook: objects built by hand,
wrong arguments, repr. Each wrong argument gets a tscimg error naming it, never a bare
TypeError, ValueError or AttributeError from deeper down."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import tscimg
from tscimg import Geometry, ImageReadError, InputError, Mask, MaskError, PromptError, Scan
from tscimg.measure import MeasureParameters, measure_lesion, measure_mask
from tscimg.segment import Prompts, run_protocol, segment

SAMPLES = Path(__file__).resolve().parents[1] / "sample_scans"
FLIPPED = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)


def block_scan() -> Scan:
    """40 x 30 x 20 voxels of 1 x 1 x 2 mm, a 10 x 6 x 4 voxel block of 100 on 0 (0.48 mL)."""
    pixels = np.zeros((20, 30, 40), np.float32)
    pixels[8:12, 12:18, 15:25] = 100.0
    return Scan.from_array(pixels, (1.0, 1.0, 2.0), (10.0, 20.0, 30.0), FLIPPED, source="block")


def test_scan_from_array_keeps_the_geometry_and_does_not_keep_the_array() -> None:
    pixels = np.zeros((4, 5, 6), np.int16)
    scan = Scan.from_array(
        pixels, (0.8, 0.9, 3.0), (-10.0, 5.0, 2.0), FLIPPED, modality="CT", source="hand"
    )
    assert scan.geometry == Geometry((6, 5, 4), (0.8, 0.9, 3.0), (-10.0, 5.0, 2.0), FLIPPED)
    assert scan.modality is tscimg.Modality.CT
    pixels[0, 0, 0] = 7
    assert scan.to_array()[0, 0, 0] == 0
    half = Scan.from_array(np.full((4, 5, 6), 1.5, np.float16))  # was numpy's TypeError
    assert half.image.GetPixelIDTypeAsString() == "32-bit float"
    assert half.to_array()[3, 4, 5] == 1.5


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"pixels": np.zeros((4, 5))}, "a scan needs a 3D array of numbers [k, j, i], got shape"),
        ({"pixels": np.zeros((4, 5, 6)), "spacing_mm": (1.0, 1.0)}, "spacing_mm [1.0, 1.0]"),
        ({"pixels": np.zeros((4, 5, 6)), "spacing_mm": (1.0, 1.0, 0.0)}, "voxel size 0 mm along k"),
        ({"pixels": np.zeros((4, 5, 6), np.complex64)}, "got shape (4, 5, 6) of complex64"),
        (
            {"pixels": np.zeros((4, 5, 6)), "modality": "XR"},
            "unknown modality 'XR'. Use one of: CT",
        ),
    ],
)
def test_scan_from_array_refuses_what_is_not_a_3d_grid(
    arguments: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InputError) as err:
        Scan.from_array(**arguments)  # type: ignore[arg-type]
    assert fragment in str(err.value)


def test_a_scan_or_mask_of_a_numpy_array_is_refused_with_the_way_to_build_one() -> None:
    with pytest.raises(InputError, match=r"a Scan holds a SimpleITK\.Image, got ndarray.*from_"):
        Scan(np.zeros((4, 5, 6)))  # type: ignore[arg-type]
    with pytest.raises(MaskError, match=r"a Mask holds a SimpleITK\.Image, got ndarray.*from_"):
        Mask(np.zeros((4, 5, 6), np.uint8))  # type: ignore[arg-type]


def test_repr_of_scan_and_mask_shows_the_grid_not_the_pixels() -> None:
    scan = block_scan()
    mask = Mask.from_array(scan.to_array() > 0, scan.geometry, source="block mask")
    assert repr(scan) == (
        "Scan(size=[40, 30, 20], spacing_mm=[1.0, 1.0, 2.0], modality=None, "
        "acquisition_date=None, pixel_type='32-bit float', source='block', warnings=0)"
    )
    assert repr(mask) == (
        "Mask(size=[40, 30, 20], spacing_mm=[1.0, 1.0, 2.0], voxel_count=240, label_names={}, "
        "source='block mask', warnings=0)"
    )


def test_a_label_too_large_for_the_mask_is_refused_not_wrapped_to_background() -> None:
    g = Geometry((2, 2, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), FLIPPED)
    labels = np.zeros((2, 2, 2), np.int64)
    labels[0, 0, 0] = 2**32  # was stored as uint32: 0, the lesion silently gone
    with pytest.raises(MaskError, match="label 4294967296 is larger than the largest label"):
        Mask.from_array(labels, g)
    labels[0, 0, 0] = 2**32 - 1
    assert Mask.from_array(labels, g).labels == (2**32 - 1,)


def test_a_geometry_built_from_lists_equals_the_same_grid_from_simpleitk() -> None:
    by_hand = Geometry([40, 30, 20], [1, 1, 2], [10, 20, 30], list(FLIPPED))
    assert by_hand == block_scan().geometry
    assert hash(by_hand) == hash(block_scan().geometry)
    with pytest.raises(InputError, match="Geometry direction needs 9 numbers"):
        Geometry((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 1.0))


def test_prompts_built_by_hand_from_lists_and_whole_floats_segment_like_tuples() -> None:
    scan = block_scan()
    expected = segment(scan, Prompts(positive=((20, 15, 10),))).voxel_count
    assert expected == 240  # the block
    for point in ([20, 15, 10], (20.0, 15.0, 10.0), tuple(np.array([20, 15, 10]))):
        result = segment(scan, Prompts(positive=[point]))  # type: ignore[list-item]
        assert result.voxel_count == 240
        assert result.prompts.positive == ((20, 15, 10),)
    with pytest.raises(PromptError, match=r"positive point \(20.5, 15, 10\) is not whole voxel"):
        Prompts(positive=[(20.5, 15, 10)])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"positive_index": [(1, 2)]}, "a point (1, 2) has 2 coordinates, not 3"),
        ({"positive_lps": [(1.0, 2.0)]}, "a point (1.0, 2.0) has 2 coordinates, not 3"),
        ({"box_index": (1, 2, 3, 4, 5)}, "the box (1, 2, 3, 4, 5) has 5 coordinates, not 6"),
        ({"box_ras": (1, 2, 3, 4, 5)}, "the box (1, 2, 3, 4, 5) has 5 coordinates, not 6"),
        ({"positive_index": (1, 2, 3)}, "a point 1 is not a sequence of 3 numbers"),
    ],
)
def test_from_physical_names_a_point_or_box_of_the_wrong_length(
    arguments: dict[str, object], fragment: str
) -> None:
    with pytest.raises(PromptError) as err:
        Prompts.from_physical(block_scan().geometry, source="block", **arguments)  # type: ignore[arg-type]
    assert fragment in str(err.value)


def test_segment_names_a_wrong_argument() -> None:
    scan = block_scan()
    prompts = Prompts(positive=((20, 15, 10),))
    with pytest.raises(InputError, match=r"unknown lesion type 'kidney'\. Use one of: aml, sega"):
        segment(scan, prompts, "kidney")
    with pytest.raises(InputError, match=r"unknown method 'foo'\. Use one of: region_growing"):
        segment(scan, prompts, method="foo")
    with pytest.raises(PromptError, match=r"segment\(\) needs a Prompts object, got list"):
        segment(scan, [(20, 15, 10)])  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"segment\(\) needs a tscimg\.Scan, got Image"):
        segment(scan.image, prompts)  # type: ignore[arg-type]


def test_measure_mask_names_a_wrong_argument() -> None:
    scan = block_scan()
    mask = Mask.from_array(scan.to_array() > 0, scan.geometry)
    assert measure_mask(mask, label=1).total.volume_ml == pytest.approx(0.48)
    with pytest.raises(MaskError, match="label must be a positive integer or None, got '1'"):
        measure_mask(mask, label="1")  # type: ignore[arg-type]  # was: "label 1 is not in the mask"
    with pytest.raises(MaskError, match=r"measure_mask\(\) needs a tscimg\.Mask, got Scan"):
        measure_mask(scan)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="parameters must be a MeasureParameters, got dict"):
        measure_mask(mask, {"min_volume_ml": 0.1})  # type: ignore[arg-type]
    assert measure_mask(mask, MeasureParameters(min_volume_ml=0.1)).total.voxel_count == 240


def test_io_entry_points_name_an_argument_of_the_wrong_type(tmp_path: Path) -> None:
    scan = block_scan()
    mask = Mask.from_array(scan.to_array() > 0, scan.geometry, source="block mask")
    written = tscimg.write_volume(mask, tmp_path / "mask.nii.gz")
    with pytest.raises(
        MaskError, match=r"reference must be the tscimg\.Scan the mask was drawn on"
    ):
        tscimg.load_mask(written, reference="scan.nii.gz")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"write_volume writes a Scan, Mask or SimpleITK\.Image"):
        tscimg.write_volume(scan.to_array(), tmp_path / "pixels.nii.gz")  # type: ignore[arg-type]
    assert not (tmp_path / "pixels.nii.gz").exists()
    with pytest.raises(InputError, match=r"a path must be a str or pathlib\.Path, got NoneType"):
        tscimg.load_scan(None)  # type: ignore[arg-type]


def test_a_mask_written_and_read_back_keeps_the_flipped_grid_of_its_scan(tmp_path: Path) -> None:
    scan = block_scan()
    mask = segment(scan, Prompts(positive=[(20, 15, 10)])).mask  # type: ignore[list-item]
    for name in ("mask.nii.gz", "mask.nrrd", "mask.mha"):
        back = tscimg.load_mask(tscimg.write_volume(mask, tmp_path / name), reference=scan)
        assert back.geometry.differences(scan.geometry) == []
        assert back.geometry.direction == FLIPPED
        assert back.voxel_count() == 240


def test_geometry_conversions_name_a_point_of_the_wrong_length() -> None:
    g = block_scan().geometry
    assert g.index_to_lps((1, 2, 3)) == (9.0, 18.0, 36.0)  # flipped i and j
    with pytest.raises(InputError, match=r"voxel index \(1, 2\) does not have 3 coordinates"):
        g.index_to_lps((1, 2))
    with pytest.raises(InputError, match=r"LPS point \(1.0, 2.0\) does not have 3 coordinates"):
        g.lps_to_index((1.0, 2.0))
    with pytest.raises(InputError, match=r"voxel index \(1, 2\) does not have 3 coordinates"):
        g.contains_index((1, 2))
    with pytest.raises(InputError, match=r"a point \(1.0, 2.0\) has 2 coordinates, not 3"):
        tscimg.ras_to_lps((1.0, 2.0))


def test_segment_names_a_2d_or_colour_scan_instead_of_failing_inside() -> None:
    frame = sitk.GetImageFromArray(np.zeros((48, 64), np.float32))  # 2D: size (64, 48)
    with pytest.raises(InputError, match=r"segmenting needs a 3D scan, got a 2D image of size"):
        segment(Scan(frame, source="frame"), Prompts(positive=[(30, 25, 0)]))  # type: ignore[list-item]
    grey = sitk.GetImageFromArray(np.zeros((5, 6, 7), np.uint8))
    colour = Scan(sitk.Compose([grey, grey, grey]), source="rgb")
    with pytest.raises(InputError, match="segmenting needs grey levels, got 3 components"):
        segment(colour, Prompts(positive=[(3, 3, 2)]))  # type: ignore[list-item]


def test_label_0_is_refused_as_the_background_not_measured_as_a_lesion() -> None:
    scan = block_scan()
    mask = Mask.from_array(scan.to_array() > 0, scan.geometry)
    # was measured: the 23,760 background voxels, 47.52 mL, as if a lesion
    with pytest.raises(MaskError, match=r"got 0 \(0 is the background\)"):
        measure_mask(mask, label=0)
    with pytest.raises(MaskError, match="label must be a positive integer or None, got -1"):
        measure_lesion(mask, label=-1)
    with pytest.raises(MaskError, match=r"measure_lesion\(\) needs a tscimg\.Mask, got Scan"):
        measure_lesion(scan)  # type: ignore[arg-type]
    assert measure_lesion(mask, label=1).record.volume_ml == pytest.approx(0.48)


def test_run_protocol_counts_every_positive_label_of_an_integer_truth() -> None:
    scan = block_scan()
    labels = (scan.to_array() > 0).astype(np.uint8) * 2  # the block as label 2
    # label 2 gave Dice 0.0 for a perfect segmentation (bitwise & of the mask and 2)
    assert run_protocol(scan, labels, max_clicks=1).dice_one_click == 1.0
    as_mask = Mask.from_array(labels, scan.geometry)
    assert run_protocol(scan, as_mask, max_clicks=1).dice_one_click == 1.0
    with pytest.raises(MaskError, match=r"shape \(20, 30, 39\) is not the scan's \[k, j, i\]"):
        run_protocol(scan, np.ones((20, 30, 39), bool))
    with pytest.raises(MaskError, match="must be a boolean or integer array, got float64"):
        run_protocol(scan, labels.astype(float))


@pytest.mark.parametrize("frame", ["3", 2.5, True])
def test_a_cine_frame_that_is_not_a_whole_number_is_named(frame: object) -> None:
    cine = SAMPLES / "TSC-004" / "2024-05-10" / "echo2d_cine.dcm"
    # were TypeError ('<=' int and str), numpy's IndexError, and an ITK RuntimeError (True)
    with pytest.raises(InputError, match=r"frame must be a whole frame number \(0-based\), got"):
        tscimg.load_scan(cine, frame=frame)  # type: ignore[arg-type]
    assert tscimg.load_scan(cine, frame=np.int64(3)).frame_index == 3


def test_a_mask_is_built_and_checked_on_the_scan_itself_as_on_its_geometry() -> None:
    scan = block_scan()
    by_scan = Mask.from_array(scan.to_array() > 0, scan)  # was AttributeError: no 'size'
    assert by_scan.geometry == scan.geometry
    by_scan.require_on(scan, "block")  # was AttributeError: no 'require_same'
    assert scan.geometry.differences(by_scan) == []
    with pytest.raises(InputError, match="geometry must be a Geometry, a Scan, a Mask or a"):
        Mask.from_array(scan.to_array() > 0, scan.to_array())  # type: ignore[arg-type]


def test_voxel_count_of_a_label_given_as_text_is_refused_not_zero() -> None:
    scan = block_scan()
    mask = Mask.from_array(scan.to_array() > 0, scan.geometry)
    assert mask.voxel_count(1) == 240
    with pytest.raises(MaskError, match="label must be an integer or None, got '1'"):
        mask.voxel_count("1")  # type: ignore[arg-type]  # was 0
    with pytest.raises(MaskError, match=r"label must be an integer or None, got 1\.5"):
        mask.volume_ml(1.5)  # type: ignore[arg-type]


def test_prompts_from_physical_takes_the_scan_for_its_grid_and_names_it() -> None:
    scan = block_scan()  # flipped: LPS (-10, 5, 50) is voxel (20, 15, 10)
    by_scan = Prompts.from_physical(scan, positive_lps=[(-10.0, 5.0, 50.0)])
    assert by_scan == Prompts.from_physical(scan.geometry, positive_lps=[(-10.0, 5.0, 50.0)])
    assert by_scan.positive == ((20, 15, 10),)
    with pytest.raises(PromptError, match=r"^block: a point \(1.0, 2.0\) has 2 coordinates"):
        Prompts.from_physical(scan, positive_lps=[(1.0, 2.0)])


def test_a_scan_is_built_on_another_scans_geometry_as_a_mask_is() -> None:
    """``Scan.from_array(pixels, scan.geometry)`` (the form ``Mask.from_array`` takes) raised
    TypeError 'Geometry' object is not iterable; it now takes the grid, and an array of another
    shape is refused naming both."""
    grid = Geometry((6, 5, 4), (0.8, 0.8, 3.0), (-10.0, 5.0, 2.0), (0, 1, 0, 1, 0, 0, 0, 0, -1))
    scan = Scan.from_array(np.zeros((4, 5, 6), np.int16), grid, modality="CT")
    assert scan.geometry == grid
    with pytest.raises(ImageReadError, match=r"shape \(5, 5, 6\).*size \[6, 5, 4\]"):
        Scan.from_array(np.zeros((5, 5, 6), np.int16), grid)
    with pytest.raises(ImageReadError, match="not both"):  # the origin would be ignored
        Scan.from_array(np.zeros((4, 5, 6), np.int16), grid, origin_lps=(1.0, 2.0, 3.0))


def test_register_and_carry_lesion_say_what_they_were_given_wrongly() -> None:
    """``register(scan, mask)`` raised AttributeError 'Mask' object has no attribute
    'is_planar', and ``carry_lesion(..., "kidney")`` a bare ValueError: both are InputErrors now,
    as ``segment(..., "kidney")`` raises, naming what was given and what to give."""
    from tscimg.longitudinal import carry_lesion
    from tscimg.longitudinal.registration import register

    grid = Geometry((20, 20, 10), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    scan = Scan.from_array(np.random.default_rng(0).random((10, 20, 20), np.float32), grid)
    mask = Mask.from_array(np.ones((10, 20, 20), np.uint8), grid)
    with pytest.raises(InputError, match="follow_up is a Mask") as err:
        register(scan, mask)  # type: ignore[arg-type]
    assert "mask_bounds_lps" in str(err.value)
    with pytest.raises(InputError, match=r"unknown lesion type 'kidney'.*aml, sega"):
        carry_lesion(scan, mask, scan, "kidney")


def test_carrying_names_arguments_of_the_wrong_kind_and_a_deformation_of_other_scans() -> None:
    """Found by a library user's script: a Mask or a path as the follow-up, swapped arguments,
    RegistrationParameters for CarryParameters, a Registration for the deformation, a mask or
    a 6-number box for ``lesion_box_lps``, a box outside the scan or holding NaN: each failed
    inside (AttributeError, TypeError, ITK's RuntimeError). And a deformation computed for
    another follow-up was used as given: the sample's other follow-up's outline, 11.08 mL for
    0.317 (TSC-003). Each is an InputError naming what was given."""
    from tscimg.longitudinal import LesionReference, carry_lesion, register, register_lesion
    from tscimg.longitudinal.registration import RegistrationParameters

    grid = Geometry((20, 20, 10), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    k, j, i = np.indices((10, 20, 20))
    blob = ((i - 10) ** 2 + (j - 10) ** 2 + ((k - 5) * 2) ** 2 < 30).astype(np.float32)
    scan = Scan.from_array(100 * blob, grid, modality="MR", source="a.nii")
    mask = Mask.from_array(blob.astype(np.uint8), grid)
    shorter = Geometry((18, 20, 10), grid.spacing_mm, grid.origin_lps, grid.direction)
    other = Scan.from_array(100 * blob[:, :, :18], shorter, modality="MR")
    reference = LesionReference(scan, mask, "2024-01-10")
    wrong = {
        "the follow-up must be a tscimg.Scan, got a Mask": lambda: carry_lesion(
            reference,
            None,
            mask,
            "sega",  # type: ignore[arg-type]
        ),
        "the follow-up must be a tscimg.Scan, got a str": lambda: carry_lesion(
            reference,
            None,
            "b.nii",
            "sega",  # type: ignore[arg-type]
        ),
        "the reference must be a LesionReference": lambda: carry_lesion(
            mask,
            scan,
            scan,
            "sega",  # type: ignore[arg-type]
        ),
        "needs its lesion's Mask": lambda: carry_lesion(scan, None, scan, "sega"),
        "parameters must be CarryParameters": lambda: carry_lesion(
            reference,
            None,
            scan,
            "sega",
            RegistrationParameters(),  # type: ignore[arg-type]
        ),
        "the reference must be a LesionReference (a scan, its mask and date), got a Scan": (
            lambda: register_lesion(scan, scan)  # type: ignore[arg-type]
        ),
        "lesion_box_lps must be two LPS points": lambda: register(
            scan,
            scan,
            mask,  # type: ignore[arg-type]
        ),
        "two points of 3 finite numbers": lambda: register(
            scan, scan, (np.array([np.nan, 0, 0]), np.ones(3))
        ),
        "lies outside the previous scan": lambda: register(
            scan, scan, (np.full(3, 500.0), np.full(3, 510.0))
        ),
    }
    for message, call in wrong.items():
        with pytest.raises(InputError, match=re.escape(message)):
            call()
    deformation = register_lesion(reference, other)
    with pytest.raises(InputError, match="computed for another follow-up scan"):
        carry_lesion(reference, None, scan, "sega", deformation=deformation)
    shifted = Scan.from_array(100 * np.roll(blob, 1, axis=2), grid, modality="MR")
    brighter = Scan.from_array(120 * blob, grid, modality="MR")  # the same grid, other voxels
    on_shifted = register_lesion(reference, shifted)
    with pytest.raises(InputError, match="on the same grid, with other voxels"):
        carry_lesion(reference, None, brighter, "sega", deformation=on_shifted)
    assert carry_lesion(reference, None, shifted, "sega", deformation=on_shifted).mask.voxel_count()
    with pytest.raises(InputError, match="deformation must be the LesionDeformation"):
        carry_lesion(reference, None, other, "sega", deformation=deformation.registration)  # type: ignore[arg-type]


def test_a_point_on_the_images_outer_face_is_in_its_last_voxel() -> None:
    """An LPS point half a voxel past the last voxel centre lies on the image's outer face: it
    was rounded to the even index (19.5 -> 20, outside the image; 18.5 -> 18 but 17.5 -> 18).
    Half-way points now go up and the outer face belongs to the last voxel, as the first face
    (-0.5) belongs to the first; past the face the point is still refused."""
    grid = Geometry((20, 20, 10), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    voxels = [
        Prompts.from_physical(grid, positive_lps=[(x, 5.0, 4.0)]).validated(grid, None).positive
        for x in (-0.5, 17.5, 18.5, 19.5)
    ]
    assert [v[0][0] for v in voxels] == [0, 18, 19, 19]
    with pytest.raises(PromptError, match="outside the image"):
        Prompts.from_physical(grid, positive_lps=[(19.6, 5.0, 4.0)]).validated(grid, None)


def test_a_scans_acquisition_date_is_taken_as_text_and_refused_when_not_a_date() -> None:
    """``Scan.from_array(..., acquisition_date="2024-01-10")`` was stored as text: repr() and
    describe() then failed ("'str' object has no attribute 'isoformat'") and an int was kept
    as it was. Text in YYYY-MM-DD and datetimes are taken as dates; anything else is named."""
    import datetime

    pixels = np.zeros((4, 5, 6), np.int16)
    scan = Scan.from_array(pixels, modality="CT", acquisition_date="2024-01-10")
    assert scan.acquisition_date == datetime.date(2024, 1, 10)
    assert "2024-01-10" in repr(scan) and scan.describe()
    noon = Scan.from_array(pixels, acquisition_date=datetime.datetime(2024, 1, 10, 12, 0))
    assert noon.acquisition_date == datetime.date(2024, 1, 10)
    for bad in ("10/01/2024", 20240110):
        with pytest.raises(InputError, match="acquisition_date must be a date"):
            Scan.from_array(pixels, acquisition_date=bad)
