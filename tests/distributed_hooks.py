"""Worker-side helpers of the distributed tests: run on dask workers through ``Client.run``.

``pause_after_first_mask`` makes a worker stop mid-patient at a known point (the patient's
first mask written, the rest not yet), so that a test can kill it there deterministically.
The module is sent to the workers by value (cloudpickle), so they need not import the tests.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

#: A paused worker carries on after this long, so a test that fails to kill it cannot hang.
MAX_PAUSE_S = 90.0


def pause_after_first_mask(patient_folder: str, marker: str) -> int:
    """On a worker: the first mask written under ``masks/<patient_folder>/`` pauses the worker.

    The worker that pauses first creates ``marker`` holding its pid (only one worker ever
    pauses: the marker is created exclusively), then sleeps until it is killed.

    Returns
    -------
    int
        The worker's pid.
    """
    import tscimg.batch.patient as patient

    original = getattr(patient, "_unpaused_write_volume", patient.write_volume)
    patient._unpaused_write_volume = original  # type: ignore[attr-defined]

    def write_then_pause(image: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(image, path, *args, **kwargs)
        if Path(path).parent.name == patient_folder:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return result
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            time.sleep(MAX_PAUSE_S)
        return result

    patient.write_volume = write_then_pause  # type: ignore[attr-defined]
    return os.getpid()


def patient_tasks(dask_scheduler: Any) -> list[str]:
    """On the scheduler: the tscimg patient tasks it still holds (of any client)."""
    return [str(key) for key in dask_scheduler.tasks if str(key).startswith("tscimg-patient-")]
