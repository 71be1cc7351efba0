"""Errors of the scheduler plane.

::

    SchedulerError (BlacksoilError)
    └── TraceError     a trace file that cannot be read or is not in the expected shape
"""

from __future__ import annotations

from blacksoil.core.errors import BlacksoilError


class SchedulerError(BlacksoilError):
    """Root of the scheduler's errors."""


class TraceError(SchedulerError):
    code = "bad_trace"
