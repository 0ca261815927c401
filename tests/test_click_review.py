"""A click on a real tumour never returns nothing: a best estimate with a review reason instead,
and the error kept for a click on tissue that does not stand out."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from builders import shared_data
from scipy import ndimage

from tscimg import Geometry, Modality, PromptError, Scan, load_mask, load_scan
from tscimg.segment import Prompts, segment
from tscimg.segment.api import LOW_CONTRAST_REVIEW
from tscimg.segment.protocol import dice, interior_point, label_box
from tscimg.synthetic.label_phantoms import aml_ct_phantom

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _low_contrast_scene(seed: int) -> tuple[Scan, np.ndarray]:
    """A 6 mm lesion (100) in tissue (80) whose far surroundings are three tissues (50, 100,
    150): the lesion sits at the far background's median level, so the presets' models (which
    learn the background from the far shell) refuse the click, yet it stands out 5 noise SDs
    from the tissue around it."""
    n = 64
    k, j, i = np.mgrid[:n, :n, :n].astype(float) - (n - 1) / 2
    r = np.sqrt(i**2 + j**2 + k**2)
    sector = ((np.arctan2(j, i) + np.pi) / (2 * np.pi) * 3).astype(int) % 3
    values = np.where(r <= 22, 80.0, np.array([50.0, 100.0, 150.0])[sector])
    truth = r <= 6.0
    values[truth] = 100.0
    values += np.random.default_rng(seed).normal(0.0, 4.0, values.shape)
    g = Geometry((n, n, n), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY)
    image = g.apply_to(sitk.GetImageFromArray(values.astype(np.float32)))
    return Scan(image, modality=Modality.MR, source="low-contrast.nii.gz"), truth


@pytest.mark.parametrize("kind", ["generic", "sega"])
def test_a_low_contrast_lesion_gets_a_best_estimate_flagged_for_review(kind: str) -> None:
    scan, truth = _low_contrast_scene(0)
    result = segment(scan, Prompts(positive=((32, 32, 32),)), kind)
    assert result.review == (LOW_CONTRAST_REVIEW,)
    assert result.review[0].startswith("review:")
    assert LOW_CONTRAST_REVIEW in result.warnings  # readers of the warnings see it too
    got = np.asarray(result.mask.array_view()) > 0
    assert dice(got, truth) >= 0.95
    assert result.voxel_count == pytest.approx(int(truth.sum()), rel=0.05)


@pytest.mark.parametrize("size", [(30, 30, 30), (60, 60, 40)])
@pytest.mark.parametrize("kind", ["generic", "sega"])
@pytest.mark.parametrize("seed", [0, 2, 4])
def test_a_click_in_uniform_tissue_is_still_an_error(
    size: tuple[int, int, int], kind: str, seed: int
) -> None:
    g = Geometry(size, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY)
    flat = np.random.default_rng(seed).normal(100, 5, size[::-1]).astype(np.float32)
    scan = Scan(g.apply_to(sitk.GetImageFromArray(flat)), modality=Modality.MR, source="flat.nii")
    click = tuple(int(v) for v in np.random.default_rng(seed + 10).integers(5, min(size) - 5, 3))
    with pytest.raises(PromptError, match="empty") as err:
        segment(scan, Prompts(positive=(click,)), kind)  # type: ignore[arg-type]
    assert "flat.nii" in str(err.value)


def test_a_segmentation_the_preset_made_has_nothing_to_review() -> None:
    scan, truth = _low_contrast_scene(0)
    values = sitk.GetArrayFromImage(scan.image)
    values[truth] += 200.0  # now it enhances avidly
    bright = Scan(scan.geometry.apply_to(sitk.GetImageFromArray(values)), modality=Modality.MR)
    result = segment(bright, Prompts(positive=((32, 32, 32),)), "sega")
    assert result.review == ()
    assert not any(w.startswith("review:") for w in result.warnings)


# Clicks deep inside real tumours (at least 3 mm from the label's border) on which the presets
# returned an empty segmentation: a homogeneous part of BRATS pat0006's heterogeneous core, at
# the level of the brain around it, and ReMIND-022's low-contrast glioma (tumour median 148,
# tissue 1-5 mm around it 125, brain spread 53).
# Two more such clicks still end in the error: BRATS pat0006 (141, 77, 100) with the SEGA
# preset (its stable region, searched 6 cm around, is 253 mL for a 107 mL core) and ReMIND-022
# (169, 122, 59) with the generic one (the whole brain); both exceed the preset's search ball.
REAL_CLICKS = [
    ("brats/pat0006", (141, 77, 100), "generic"),
    ("brats/pat0006", (139, 83, 92), "sega"),
    ("remind022", (168, 115, 59), "sega"),
    ("remind022", (168, 115, 59), "generic"),
]


def _real_case(name: str) -> tuple[Scan, np.ndarray]:
    if name == "remind022":
        scan = load_scan(shared_data("remind022", "T1post_dicom"))
        label = load_mask(shared_data("remind022", "tumor_seg.dcm"), reference=scan)
        return scan, np.asarray(label.array_view()) == 1
    if name == "brats/pat0006":
        scan = load_scan(shared_data("brats", "pat0006", "T1c_subtrMeanDivStd.nii.gz"))
        path = shared_data("brats", "pat0006", "OTMultiClass.nii.gz")
        scan = scan.derive(modality=Modality.MR)
        labels = load_mask(path, reference=scan)
        return scan, np.isin(labels.array_view(), (1, 3, 4))
    scan = load_scan(shared_data("pyradiomics", f"{name}_image.nrrd")).derive(modality=Modality.MR)
    label = load_mask(shared_data("pyradiomics", f"{name}_label.nrrd"), reference=scan)
    return scan, np.asarray(label.array_view()) == 1


@pytest.mark.parametrize(("name", "click", "kind"), REAL_CLICKS)
def test_a_click_deep_in_a_real_tumour_returns_a_flagged_estimate(
    name: str, click: tuple[int, int, int], kind: str
) -> None:
    scan, truth = _real_case(name)
    assert truth[click[::-1]]
    result = segment(scan, Prompts(positive=(click,)), kind)
    assert result.review[0] == LOW_CONTRAST_REVIEW
    # BRATS pat0006's tumour (6 cm across) is wider than the search: its estimate is also cut
    # off by the search limit, and says so
    limited = [r.split(" mm ")[0] for r in result.review[1:]]
    searched = "review: the mask reaches the search limit"
    assert all(r.startswith(searched) for r in limited) and len(limited) == ("brats" in name)
    got = np.asarray(result.mask.array_view()) > 0
    assert dice(got, truth) >= 0.3


@pytest.mark.parametrize("name", ["brain1", "breast1", "brats/pat0006", "remind022"])
def test_one_click_at_a_real_tumours_most_interior_voxel_is_never_empty(name: str) -> None:
    scan, truth = _real_case(name)
    click = interior_point(truth, scan.geometry.spacing_mm[::-1])
    for kind in ("sega", "generic"):
        result = segment(scan, Prompts(positive=(click,)), kind)
        assert result.voxel_count > 0


def _lesion_with_a_vessel(vessel: bool) -> tuple[Scan, float]:
    """A bright ball (radius 8 mm, 300) on tissue (100), noise SD 8, 1 mm voxels; with
    ``vessel``, a bright tube (radius 3 mm, 300) from the ball to the scan's far side, 70 mm:
    region growing from a click follows it as far as it may. Returns the scan and the ball's
    analytic volume, mL."""
    n = 96
    k, j, i = np.mgrid[:n, :n, :n].astype(float) - 30.0
    values = np.full((n, n, n), 100.0)
    values[i**2 + j**2 + k**2 <= 8.0**2] = 300.0
    if vessel:
        values[(j**2 + k**2 <= 3.0**2) & (i >= 0)] = 300.0
    values += np.random.default_rng(3).normal(0.0, 8.0, values.shape)
    g = Geometry((n, n, n), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY)
    image = g.apply_to(sitk.GetImageFromArray(values.astype(np.float32)))
    return Scan(image, modality=Modality.MR, source="vessel.nii.gz"), 4.0 / 3.0 * np.pi * 0.512


def test_a_click_whose_mask_reaches_the_search_limit_is_flagged() -> None:
    """DESIGN.md section 5 flags a segmentation that reached its leak guard; a click alone had
    none checked. Followed along a vessel, the mask ends at the search limit (30 mm around the
    click for sega) and is flagged; the same ball without the vessel is not, and measures
    its analytic volume (within 5%). On the real scans of ../shared/data a click alone at the
    label's most interior voxel reached the limit on 7 of 8 tumours, every one mis-measured
    (KiTS AML phantoms 35-88 times the label, into the perirenal fat; BRATS 0.25-0.67 times),
    none flagged before."""
    alone, ball_ml = _lesion_with_a_vessel(False)
    clean = segment(alone, Prompts(positive=((30, 30, 30),)), "sega")
    assert clean.review == ()
    assert clean.mask.volume_ml() == pytest.approx(ball_ml, rel=0.05)
    scan, _ = _lesion_with_a_vessel(True)
    leaked = segment(scan, Prompts(positive=((30, 30, 30),)), "sega")
    assert leaked.mask.volume_ml() > 1.2 * ball_ml
    (reason,) = leaked.review
    assert reason.startswith("review: the mask reaches the search limit 30 mm around the click")
    assert reason in leaked.warnings
    boxed = segment(scan, Prompts(positive=((30, 30, 30),), box=(20, 20, 20, 40, 40, 40)), "sega")
    assert boxed.review == ()  # a box is the reader's own limit (reaching it is a warning)


@pytest.mark.parametrize("name", ["brain1", "brats/pat0006"])
def test_a_click_alone_cut_off_by_the_search_limit_on_a_real_tumour_is_flagged(name: str) -> None:
    """brain1 (16.4 mL label; the click alone measured 7.8 mL) and BRATS pat0006's tumour on
    T1c (107.4 mL; 42.6 mL): both masks reach the search limit around the click, and were not
    flagged."""
    scan, truth = _real_case(name)
    click = interior_point(truth, scan.geometry.spacing_mm[::-1])
    result = segment(scan, Prompts(positive=(click,)), "sega")
    assert any(r.startswith("review: the mask reaches the search limit") for r in result.review)


def test_a_box_prompted_cut_whose_volume_depends_on_the_click_says_so() -> None:
    """The KiTS case_00017 AML phantom of the change-precision benchmark with the protocol's box:
    from the label's most interior voxel the cut measures 6.158 mL and says nothing; from a
    point 2 mm or more inside the label near its first corner it measures 18.4% less, and cut
    again from that mask's middle it does not: the warning says the volume depends on where
    the click fell (a warning: follow-ups carried from it are cut from the same click).
    Truth: the expert label's shape (6.392 mL)."""
    labels = load_mask(shared_data("kits_aml", "case_00017", "segmentation.nii.gz"))
    scan, tumour = aml_ct_phantom(labels, seed=0)
    spacing = scan.geometry.spacing_mm[::-1]
    box = label_box(tumour)
    centred = segment(scan, Prompts(positive=(interior_point(tumour, spacing),), box=box), "aml")
    assert centred.volume_ml == pytest.approx(6.392, rel=0.05)
    assert not any("depends on where the click fell" in w for w in centred.warnings)
    depth = ndimage.distance_transform_edt(tumour, sampling=spacing)
    off = tuple(int(v) for v in np.argwhere(depth >= 2.0)[0][::-1])
    aside = segment(scan, Prompts(positive=(off,), box=box), "aml")
    assert aside.volume_ml < 0.9 * centred.volume_ml  # the dependence this is about
    (said,) = [w for w in aside.warnings if "depends on where the click fell" in w]
    assert "from the click (+" in said and not aside.review
