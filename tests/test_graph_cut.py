"""Graph cut in the box: heterogeneous lesions (enhancing rim around necrosis) and corrections."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
from builders import centred_geometry, shared_data

from tscimg import LesionType, Modality, Scan, load_mask, load_scan
from tscimg.segment import Method, Prompts, segment
from tscimg.segment.protocol import dice, interior_point, label_box
from tscimg.synthetic import Ellipsoid, Layer, RigidPose, render
from tscimg.synthetic.rendering import voxel_centres_lps


def _ring_enhancing(seed: int) -> tuple[Scan, np.ndarray]:
    """A glioblastoma-like lesion: a 2.5 mm enhancing rim (300) around necrosis (60) darker
    than the brain (100), semi-axes 12 x 10 x 9 mm, noise SD 12, 1 x 1 x 2 mm voxels."""
    g = centred_geometry((70, 60, 30), (1.0, 1.0, 2.0))
    outer = Ellipsoid((0.0, 0.0, 0.0), (12.0, 10.0, 9.0))
    inner = Ellipsoid((0.0, 0.0, 0.0), (9.5, 7.5, 6.5))
    values = render(g, RigidPose(), 100.0, [Layer(outer, 300.0), Layer(inner, 60.0)])
    values += np.random.default_rng(seed).normal(0, 12, values.shape)
    image = g.apply_to(sitk.GetImageFromArray(values.astype(np.float32)))
    truth = outer.contains(voxel_centres_lps(g)).reshape(g.size[::-1])
    return Scan(image, modality=Modality.MR), truth


@pytest.mark.parametrize("seed", [0, 1])
def test_ring_enhancing_lesion_with_necrosis_is_one_object(seed: int) -> None:
    scan, truth = _ring_enhancing(seed)
    spacing = scan.geometry.spacing_mm[::-1]
    prompts = Prompts(positive=(interior_point(truth, spacing),), box=label_box(truth))
    result = segment(scan, prompts, LesionType.SEGA, method=Method.GRAPH_CUT)
    mask = result.mask.array_view() > 0
    assert dice(mask, truth) > 0.9
    # measured +19%: on 2 mm slices the cut takes the blurred rim's outer partial-volume layer
    assert result.volume_ml == pytest.approx(truth.sum() * 2.0 / 1000.0, rel=0.25)
    assert result.mask.geometry == scan.geometry


@pytest.mark.parametrize("method", list(Method), ids=lambda m: m.value)
def test_every_clicked_voxel_keeps_the_readers_label(method: Method) -> None:
    """A positive click one voxel beside an earlier negative one, as the DESIGN section 6
    protocol places them when an error region lies next to an earlier correction. The graph
    cut used to let the negative click's 1.5 mm ball overrule the positive click (the clicked
    voxel stayed out, and the protocol clicked it again and again); the active contour shrank
    correction clicks away."""
    scan, truth = _ring_enhancing(0)
    spacing = scan.geometry.spacing_mm[::-1]
    centre = interior_point(truth, spacing)
    i, j, k = centre
    negative = (i + 8, j, k)  # inside the rim, 4 mm from its outer edge
    positive = (i + 9, j, k)
    assert truth[k, j, i + 8] and truth[k, j, i + 9]
    prompts = Prompts(positive=(centre, positive), negative=(negative,), box=label_box(truth))
    mask = segment(scan, prompts, LesionType.SEGA, method=method).mask.array_view() > 0
    for p in prompts.positive:
        assert mask[p[2], p[1], p[0]], f"positive click {p} left out"
    assert not mask[negative[2], negative[1], negative[0]], "negative click kept"


def test_a_small_lesion_reaches_dice_090_when_clicks_are_local() -> None:
    """pyradiomics breast1 (143 voxels, 6-8 mm across) under the DESIGN section 6 protocol.
    Measured 0.765 / 0.832 / 0.848 / 0.883 / 0.893 / 0.907: 0.90 in 6 clicks. Before clicks were
    scaled to the lesion (ball at most 0.1 and evidence reach 0.25 of its size) and kept apart,
    the fifth click sat beside the third and changed nothing: 0.844 from click 6 to 10."""
    from tscimg.segment import run_protocol

    scan = load_scan(shared_data("pyradiomics/breast1_image.nrrd"))
    scan = scan if scan.modality is not None else scan.derive(modality=Modality.MR)
    truth = load_mask(shared_data("pyradiomics/breast1_label.nrrd"), reference=scan).array_view()
    result = run_protocol(scan, truth == 1, LesionType.GENERIC, max_clicks=8)
    assert result.clicks_to[0.90] is not None and result.clicks_to[0.90] <= 8


def test_a_negative_click_in_the_box_removes_an_attached_blob() -> None:
    g = centred_geometry((60, 40, 30), (1.0, 1.0, 1.0))
    left = Ellipsoid((-7.0, 0.0, 0.0), (9.0, 8.0, 8.0))
    right = Ellipsoid((10.0, 0.0, 0.0), (6.0, 6.0, 6.0))  # touching the lesion
    values = render(g, RigidPose(), 100.0, [Layer(left, 300.0), Layer(right, 300.0)])
    values += np.random.default_rng(3).normal(0, 8, values.shape)
    scan = Scan(g.apply_to(sitk.GetImageFromArray(values.astype(np.float32))), modality=Modality.MR)
    centres = voxel_centres_lps(g)
    truth = left.contains(centres).reshape(g.size[::-1])
    both = truth | right.contains(centres).reshape(g.size[::-1])
    pos = tuple(round(v) for v in g.lps_to_index(left.center_mm))
    neg = tuple(round(v) for v in g.lps_to_index(right.center_mm))
    box = label_box(both)
    first = segment(scan, Prompts(positive=(pos,), box=box), method=Method.GRAPH_CUT)
    # measured 0.81: the box's ellipsoid prior trims the ends of the two-lobed shape
    assert dice(first.mask.array_view() > 0, both) > 0.75
    fixed = segment(
        scan, Prompts(positive=(pos,), negative=(neg,), box=box), method=Method.GRAPH_CUT
    )
    assert dice(fixed.mask.array_view() > 0, truth) > 0.85


@pytest.mark.parametrize(
    ("image", "label", "values", "minimum"),
    [
        # measured 0.736 and 0.701 (docs/accuracy.md); region growing scores 0.417 and 0.629
        (
            "brats/pat0006/T1c_subtrMeanDivStd.nii.gz",
            "brats/pat0006/OTMultiClass.nii.gz",
            (1, 3, 4),
            0.70,
        ),
        ("remind022/T1post_dicom", "remind022/tumor_seg.dcm", (1,), 0.68),
    ],
    ids=["brats-pat0006", "remind022"],
)
def test_real_tumour_click_and_box_beats_region_growing(
    image: str, label: str, values: tuple[int, ...], minimum: float
) -> None:
    scan = load_scan(shared_data(image))
    scan = scan if scan.modality is not None else scan.derive(modality=Modality.MR)
    truth = np.isin(load_mask(shared_data(label), reference=scan).array_view(), values)
    spacing = scan.geometry.spacing_mm[::-1]
    prompts = Prompts(positive=(interior_point(truth, spacing),), box=label_box(truth))
    cut = segment(scan, prompts, LesionType.SEGA, method=Method.GRAPH_CUT)
    grown = segment(scan, prompts, LesionType.SEGA, method=Method.REGION_GROWING)
    score = dice(cut.mask.array_view() > 0, truth)
    assert score >= minimum
    assert score > dice(grown.mask.array_view() > 0, truth) + 0.05


def test_geodesic_maps_on_blocks_keep_the_mask() -> None:
    """A large crop (a 24 x 20 x 18 mm rim-enhancing lesion at 1 mm: 418,176 voxels) gets its
    geodesic maps on 2x2x2 blocks; the mask is the full-resolution one (measured Dice 1.000)."""
    from tscimg.segment import preset_for
    from tscimg.segment.region import work_region

    g = centred_geometry((140, 120, 120), (1.0, 1.0, 1.0))
    outer = Ellipsoid((0.0, 0.0, 0.0), (24.0, 20.0, 18.0))
    inner = Ellipsoid((0.0, 0.0, 0.0), (21.5, 17.5, 15.5))
    values = render(g, RigidPose(), 100.0, [Layer(outer, 300.0), Layer(inner, 60.0)])
    values += np.random.default_rng(0).normal(0, 12, values.shape)
    scan = Scan(g.apply_to(sitk.GetImageFromArray(values.astype(np.float32))), modality=Modality.MR)
    truth = outer.contains(voxel_centres_lps(g)).reshape(g.size[::-1])
    prompts = Prompts(positive=(interior_point(truth, (1.0, 1.0, 1.0)),), box=label_box(truth))
    crop = work_region(scan, prompts, search_radius_mm=30.0).values
    params = replace(preset_for(LesionType.SEGA, Modality.MR).parameters, method=Method.GRAPH_CUT)
    assert crop.size > params.graph_cut.coarse_above_voxels  # the blocks are in effect
    blocks = segment(scan, prompts, LesionType.SEGA, params)
    never = replace(params.graph_cut, coarse_above_voxels=10**9)
    full = segment(scan, prompts, LesionType.SEGA, replace(params, graph_cut=never))
    assert dice(blocks.mask.array_view() > 0, full.mask.array_view() > 0) >= 0.97
    assert dice(blocks.mask.array_view() > 0, truth) > 0.9


def test_block_max_covers_every_voxel_once() -> None:
    from tscimg.segment.graph_cut import _block_max

    values = np.arange(5 * 4 * 3, dtype=float).reshape(5, 4, 3)
    out = _block_max(values, np.array([2, 2, 1]))
    assert out.shape == (3, 2, 3)
    assert out[0, 0, 0] == values[:2, :2, 0].max()
    assert out[2, 1, 2] == values[4, 2:4, 2].max()  # the edge-padded last block


def test_a_correction_click_claims_tissue_at_least_as_lesion_like_nearby() -> None:
    from tscimg.segment.graph_cut import _click_evidence
    from tscimg.segment.parameters import GraphCutTuning

    shape = (1, 1, 41)
    raw_llr = np.tile(np.linspace(-8.0, 8.0, 41), (1, 1, 1))  # odds rise 0.4 per mm along i
    positive = ((0, 0, 0), (0, 0, 15))  # the first click, a correction
    negative = ((0, 0, 35),)
    spacing = np.ones(3)
    lesion, background = _click_evidence(
        raw_llr, positive, negative, spacing, reach_mm=10.0, tuning=GraphCutTuning()
    )
    assert lesion.shape == shape and background.shape == shape
    # the correction at odds -2 flips itself by the margin of 1: bonus 3 there
    assert lesion[0, 0, 15] == pytest.approx(3.0)
    # tissue less lesion-like than the click less the margin (odds < -3) gets nothing
    assert np.all(lesion[0, 0, :13] == 0.0) and lesion[0, 0, 13] > 0.0
    # sigma is half the 20 mm to the negative click (10 mm): 5 mm away, 3 x e^-0.125
    assert lesion[0, 0, 20] == pytest.approx(3.0 * np.exp(-0.125))
    # the negative click at odds +6 claims tissue as background-like as itself (odds <= 7)
    assert background[0, 0, 35] == pytest.approx(7.0)
    assert background[0, 0, 38] == 0.0 and background[0, 0, 37] > 0.0
    # two sigmas away, at the correction click, the correction's own claim is the stronger
    assert background[0, 0, 15] == pytest.approx(7.0 * np.exp(-2.0))
    assert background[0, 0, 15] < lesion[0, 0, 15]
    off, _ = _click_evidence(raw_llr, positive, negative, spacing, 0.0, GraphCutTuning())
    assert not off.any()


def test_real_tumour_reaches_dice_090_within_four_clicks() -> None:
    """BRATS pat0006 under the DESIGN section 6 protocol: measured 0.743 / 0.869 / 0.882 /
    0.911 (without the clicks' appearance evidence 0.90 took 9 clicks)."""
    from tscimg.segment import run_protocol

    scan = load_scan(shared_data("brats/pat0006/T1c_subtrMeanDivStd.nii.gz"))
    scan = scan.derive(modality=Modality.MR)
    truth = np.isin(
        load_mask(shared_data("brats/pat0006/OTMultiClass.nii.gz"), reference=scan).array_view(),
        (1, 3, 4),
    )
    result = run_protocol(scan, truth, LesionType.SEGA, max_clicks=4)
    assert result.clicks_to[0.90] is not None and result.clicks_to[0.90] <= 4


def test_a_real_tumour_keeps_its_volume_under_noise_that_leaves_the_anatomy() -> None:
    """BRATS pat0005 (tumour core on T1c, the protocol's click and box), as is and with
    Gaussian noise of 0.5% of its intensity range: the region grown from the click reaches the
    box both times (247,506 and 277,327 voxels, the label 45,266) but stops in different
    places. While that growing trained the lesion model the cut read 62.3 and 79.8 mL (+28%);
    a growing that reaches the box now leaves the training to the prior's core: measured
    75.0 mL both times (-0.0%), Dice 0.721 against the label."""
    scan = load_scan(shared_data("brats/pat0005/T1c_subtrMeanDivStd.nii.gz"))
    scan = scan.derive(modality=Modality.MR)
    truth = np.isin(
        load_mask(shared_data("brats/pat0005/OTMultiClass.nii.gz"), reference=scan).array_view(),
        (1, 3, 4),
    )
    spacing = scan.geometry.spacing_mm[::-1]
    prompts = Prompts(positive=(interior_point(truth, spacing),), box=label_box(truth))
    values = sitk.GetArrayFromImage(scan.image).astype(np.float32)
    spread = float(np.percentile(values, 99.5) - np.percentile(values, 0.5))
    noisy = values + np.random.default_rng(1).normal(0, 0.005 * spread, values.shape)
    image = sitk.GetImageFromArray(noisy.astype(np.float32))
    image.CopyInformation(scan.image)
    clean = segment(scan, prompts, LesionType.SEGA)
    perturbed = segment(scan.derive(image=image), prompts, LesionType.SEGA)
    assert perturbed.volume_ml == pytest.approx(clean.volume_ml, rel=0.03)
    assert dice(clean.mask.array_view() > 0, truth) > 0.70


def test_a_growing_reaching_the_box_through_a_thin_margin_still_trains_the_lesion() -> None:
    """The ring-enhancing lesion beside a dark sulcus (CSF 55 next to necrosis 60), on 2 mm
    slices: the box's margin is 0.9 slice, so the growing from the necrotic centre (the rim
    and its cyst, 2,283 voxels, the lesion 2,232) reaches the box's first and last slices by
    its border voxels' partial volume alone. Taken as a leak, the lesion model would be trained
    on the prior's core (the necrosis) and the cut would keep the necrosis only: measured
    Dice 0.49. A leak needs a margin wider than a voxel: Dice 0.92."""
    g = centred_geometry((70, 60, 30), (1.0, 1.0, 2.0))
    outer = Ellipsoid((0.0, 0.0, 0.0), (12.0, 10.0, 9.0))
    inner = Ellipsoid((0.0, 0.0, 0.0), (9.5, 7.5, 6.5))
    sulcus = Ellipsoid((14.0, 0.0, 0.0), (6.0, 25.0, 30.0))
    layers = [Layer(sulcus, 55.0), Layer(outer, 300.0), Layer(inner, 60.0)]
    values = render(g, RigidPose(), 100.0, layers)
    values += np.random.default_rng(0).normal(0, 12, values.shape)
    scan = Scan(g.apply_to(sitk.GetImageFromArray(values.astype(np.float32))), modality=Modality.MR)
    truth = outer.contains(voxel_centres_lps(g)).reshape(g.size[::-1])
    spacing = scan.geometry.spacing_mm[::-1]
    prompts = Prompts(positive=(interior_point(truth, spacing),), box=label_box(truth))
    result = segment(scan, prompts, LesionType.SEGA)
    assert dice(result.mask.array_view() > 0, truth) > 0.9


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="known weakness (docs/accuracy.md): a growing that leaks trains the lesion model on "
    "the prior's core, here the necrosis, and the cut keeps the necrosis only (Dice 0.48)",
)
def test_a_ring_lesion_beside_a_vessel_as_bright_as_its_rim_is_one_object() -> None:
    """The ring-enhancing lesion with a 4 mm vessel (300, as bright as the rim) touching its rim
    and running out of the box: a SEGA beside enhancing choroid plexus. The growing from the
    necrotic centre runs along the vessel to the box, so the lesion model is learned from the
    prior's core. Measured Dice 0.481 on these 2 mm slices (0.572 on 1 mm); without the vessel
    0.914. Training on the growing inside the box's shape as well gives 0.968 (0.941), but moves
    BRATS pat0005 by 8% under 0.5% noise (72.1 -> 77.8 mL; now 0.0%): not adopted."""
    g = centred_geometry((70, 60, 30), (1.0, 1.0, 2.0))
    outer = Ellipsoid((0.0, 0.0, 0.0), (12.0, 10.0, 9.0))
    inner = Ellipsoid((0.0, 0.0, 0.0), (9.5, 7.5, 6.5))
    vessel = Ellipsoid((13.5, 0.0, 0.0), (2.0, 200.0, 2.0))
    values = render(g, RigidPose(), 100.0, [Layer(vessel, 300.0), Layer(outer, 300.0),
                                            Layer(inner, 60.0)])  # fmt: skip
    values += np.random.default_rng(0).normal(0, 12, values.shape)
    scan = Scan(g.apply_to(sitk.GetImageFromArray(values.astype(np.float32))), modality=Modality.MR)
    truth = outer.contains(voxel_centres_lps(g)).reshape(g.size[::-1])
    prompts = Prompts(positive=(interior_point(truth, (2.0, 1.0, 1.0)),), box=label_box(truth))
    result = segment(scan, prompts, LesionType.SEGA)
    assert dice(result.mask.array_view() > 0, truth) > 0.9
