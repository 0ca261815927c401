"""CT phantoms drawn from real label maps: a real lesion's shape with known intensities.

The KiTS label maps in ``../shared/data/kits_aml`` hold real renal angiomyolipoma outlines
without their images; :func:`aml_ct_phantom` draws the CT such a label map implies (a fat
lesion with soft-tissue strands in kidney parenchyma, perirenal fat around the kidney), so
that benchmarks and tests measure a real tumour's shape against a known truth.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from tscimg.core.errors import InputError
from tscimg.core.geometry import Geometry
from tscimg.core.mask import Mask
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import Modality
from tscimg.synthetic.rendering import voxel_centres_lps

#: Label values of a KiTS label map.
KIDNEY, TUMOUR, CYST = 1, 2, 3


def aml_ct_phantom(
    labels: Mask, seed: int, margin_mm: float = 50.0, source: str | None = None
) -> tuple[Scan, np.ndarray]:
    """The CT of an AML label map (0 background, 1 kidney, 2 tumour, 3 cyst), cropped around
    the tumour, and the tumour on the crop.

    Body 40 HU; perirenal fat -100 HU within 15 mm of the kidney; kidney 35 HU; cyst 5 HU; a
    30 HU rim within 2 mm of the tumour outside the kidney; the tumour fat (-100 HU) with
    soft-tissue strands (35 HU) where ``sin(0.5x + 0.3y) sin(0.45y - 0.5z) sin(0.6z + 0.2x)
    > 0.5`` (LPS mm); then a Gaussian blur of 0.7 voxel and noise of 12 HU (sd).

    Parameters
    ----------
    labels
        The label map (its geometry is the phantom's, cropped).
    seed
        Seed of the noise (the same seed, the same phantom).
    margin_mm
        The crop extends this far beyond the tumour's bounding box (within the map).
    source
        The scan's ``source`` (for messages).

    Returns
    -------
    tuple of Scan and numpy.ndarray
        The phantom (int16 HU, modality CT) and the tumour, bool of shape ``(k, j, i)`` on its
        grid.

    Raises
    ------
    InputError
        When the label map holds no tumour (label 2).

    Examples
    --------
    >>> g = Geometry((40, 40, 20), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> arr = np.zeros((20, 40, 40), dtype=np.uint8)
    >>> arr[4:16, 8:32, 8:32] = KIDNEY
    >>> arr[8:12, 16:24, 16:24] = TUMOUR
    >>> scan, tumour = aml_ct_phantom(Mask.from_array(arr, g), seed=0, margin_mm=10.0)
    >>> scan.geometry.size, int(tumour.sum()), scan.modality.value
    ((28, 28, 14), 256, 'CT')
    >>> try:
    ...     aml_ct_phantom(Mask.from_array(np.zeros_like(arr), g), seed=0)
    ... except InputError as exc:
    ...     print(exc.problem)
    the label map holds no tumour (label 2)
    """
    g = labels.geometry
    arr = labels.array_view()
    spacing_kji = np.asarray(g.spacing_mm[::-1])
    idx = np.argwhere(arr == TUMOUR)
    if not idx.size:
        raise InputError(
            f"the label map holds no tumour (label {TUMOUR})",
            path=labels.source,
            hint="Give a KiTS segmentation.nii.gz (0 background, 1 kidney, 2 tumour, 3 cyst)",
        )
    grow = np.ceil(margin_mm / spacing_kji).astype(int)
    lo = np.maximum(idx.min(axis=0) - grow, 0)
    hi = np.minimum(idx.max(axis=0) + grow + 1, arr.shape)
    arr = np.asarray(arr[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]])
    crop = Geometry(
        tuple(int(v) for v in (hi - lo)[::-1]),
        g.spacing_mm,
        g.index_to_lps(tuple(float(v) for v in lo[::-1])),
        g.direction,
    )
    rng = np.random.default_rng(seed)
    organ = arr > 0
    tumour = arr == TUMOUR
    near = ndimage.distance_transform_edt(~organ, sampling=spacing_kji) <= 15.0
    values = np.full(arr.shape, 40.0, dtype=np.float32)  # body (soft tissue)
    values[near & ~organ] = -100.0  # perirenal fat
    values[arr == KIDNEY] = 35.0  # kidney parenchyma
    values[arr == CYST] = 5.0
    rim = ndimage.binary_dilation(tumour, np.ones((3, 3, 3), bool)) | (
        ndimage.distance_transform_edt(~tumour, sampling=spacing_kji) <= 2.0
    )
    values[rim & ~organ] = 30.0
    pts = voxel_centres_lps(crop).reshape(*arr.shape, 3)
    x, y, z = pts[..., 0], pts[..., 1], pts[..., 2]
    strands = np.sin(0.5 * x + 0.3 * y) * np.sin(0.45 * y - 0.5 * z) * np.sin(0.6 * z + 0.2 * x)
    values[tumour] = np.where(strands[tumour] > 0.5, 35.0, -100.0)
    values = ndimage.gaussian_filter(values, 0.7 / spacing_kji) + rng.normal(0, 12.0, arr.shape)
    image = crop.apply_to(sitk.GetImageFromArray(np.rint(values).astype(np.int16)))
    return Scan(image, modality=Modality.CT, source=source), tumour
