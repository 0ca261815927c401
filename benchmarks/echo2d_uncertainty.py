"""Benchmark: how far a single 2D echo frame's volume lands from the truth, against its ±.

Run: ``python benchmarks/echo2d_uncertainty.py [REALIZATIONS]`` (default 12). For each visit of
the sample 2D echo study (TSC-004: a spheroidal rhabdomyoma cut along its long axis, so the
single-plane area-length volume of the true section is exact), new speckle and noise are drawn
REALIZATIONS times; each frame is segmented from one click at the mass's centre and measured.
Printed: the area and volume errors against the analytic truth, and how often the reported
``volume_uncertainty_ml`` covers the volume error. docs/echo.md's uncertainty figures come from
this script.
"""

from __future__ import annotations

import statistics
import sys

import numpy as np
import SimpleITK as sitk

from tscimg import Modality, Scan
from tscimg.measure import measure_lesion
from tscimg.segment import Prompts, segment
from tscimg.synthetic.studies import ECHO2D_GRID, echo2d_cine, rhabdomyoma_echo2d_study


def main(realizations: int) -> None:
    study = rhabdomyoma_echo2d_study()
    area_errors, volume_errors, relative_u, covered = [], [], [], []
    print("| visit | realization | area error | volume error | reported ± | covered |")
    print("|---|---|---|---|---|---|")
    for n, visit in enumerate(study.visits):
        mass = visit.lesions["L1"]
        a, b = mass.semi_axes_mm[0], mass.semi_axes_mm[1]
        true_area = np.pi * a * b
        true_volume = mass.volume_ml
        centre = visit.lesion_centre_lps("L1")
        for r in range(realizations):
            cine = echo2d_cine(mass, visit.pose, ("echo2d-uncertainty", n, r), frames=1)
            image = ECHO2D_GRID.apply_to(sitk.GetImageFromArray(cine[0][None]))
            scan = Scan(image, modality=Modality.US)
            prompts = Prompts.from_physical(scan.geometry, positive_lps=[centre])
            result = segment(scan, prompts, visit.lesion_type)
            record = measure_lesion(result.mask).record
            assert record.planar is not None
            area_err = record.planar.area_mm2 / true_area - 1
            vol_err = record.volume_ml / true_volume - 1
            u = record.volume_uncertainty_ml / record.volume_ml
            hit = abs(record.volume_ml - true_volume) <= record.volume_uncertainty_ml
            area_errors.append(area_err)
            volume_errors.append(vol_err)
            relative_u.append(u)
            covered.append(hit)
            print(
                f"| {visit.scan.acquisition_date} | {r} | {100 * area_err:+.1f}% | "
                f"{100 * vol_err:+.1f}% | {100 * u:.1f}% | {'yes' if hit else 'no'} |"
            )
    rms = float(np.sqrt(np.mean(np.square(volume_errors))))
    area_mean, area_sd = statistics.mean(area_errors), statistics.stdev(area_errors)
    vol_mean, vol_sd = statistics.mean(volume_errors), statistics.stdev(volume_errors)
    lo, hi = min(volume_errors), max(volume_errors)
    print()
    print(f"frames: {len(volume_errors)}")
    print(f"area error: {100 * area_mean:+.1f}% +- {100 * area_sd:.1f}% (SD)")
    print(
        f"volume error: {100 * vol_mean:+.1f}% +- {100 * vol_sd:.1f}% (SD), RMS {100 * rms:.1f}%, "
        f"range {100 * lo:+.1f}% to {100 * hi:+.1f}%"
    )
    print(f"reported volume uncertainty: mean {100 * statistics.mean(relative_u):.1f}% of volume")
    share = 100 * sum(covered) / len(covered)
    print(f"covered by the reported uncertainty: {sum(covered)} of {len(covered)} ({share:.0f}%)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 12)
