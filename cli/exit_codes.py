"""Exit codes of the ``tscimg`` command (DESIGN.md section 4)."""

from enum import IntEnum


class ExitCode(IntEnum):
    """What the process exit status means."""

    SUCCESS = 0
    INPUT_ERROR = 1
    USAGE_ERROR = 2
    PARTIAL_SUCCESS = 3
    INTERNAL_ERROR = 4
