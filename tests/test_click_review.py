"""A click on a real tumour never returns nothing: a best estimate with a review reason instead,
and the error kept for a click on tissue that does not stand out."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from builders import shared_data

from tscimg import Geometry, Modality, PromptError, Scan, load_mask, load_scan
from tscimg.segment import Prompts, segment
from tscimg.segment.api import LOW_CONTRAST_REVIEW
from tscimg.segment.protocol import dice, interior_point

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
    assert result.review == (LOW_CONTRAST_REVIEW,)
    got = np.asarray(result.mask.array_view()) > 0
    assert dice(got, truth) >= 0.3


@pytest.mark.parametrize("name", ["brain1", "breast1", "brats/pat0006", "remind022"])
def test_one_click_at_a_real_tumours_most_interior_voxel_is_never_empty(name: str) -> None:
    scan, truth = _real_case(name)
    click = interior_point(truth, scan.geometry.spacing_mm[::-1])
    for kind in ("sega", "generic"):
        result = segment(scan, Prompts(positive=(click,)), kind)
        assert result.voxel_count > 0
