"""Give livegen's threads their names at the OS level too (Linux), for ``top -H`` and the bench.

Python 3.11 names a :class:`threading.Thread` only inside Python; the kernel
sees every thread as the process (``livegen``), so the engine, scheduler and
MIDI reader threads cannot be told from the JACK client threads rtmidi starts.
:func:`name_os_thread` sets the kernel's name (``/proc/PID/task/TID/comm``) with
``prctl(PR_SET_NAME)`` (Linux man page prctl(2): at most 15 bytes).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["name_os_thread", "OS_THREAD_PREFIX"]

#: Prefix of the OS-level names of livegen's own threads.
OS_THREAD_PREFIX = "lg-"
_PR_SET_NAME = 15  # linux/prctl.h
_MAX_NAME_BYTES = 15  # prctl(2): 16 bytes with the terminating NUL


def name_os_thread(name: str) -> None:
    """Set the calling thread's OS name to ``OS_THREAD_PREFIX + name`` (cut to 15 bytes).

    Does nothing off Linux or if libc cannot be loaded; never raises.

    Args:
        name: a short ASCII name, e.g. ``"engine"``.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        encoded = (OS_THREAD_PREFIX + name).encode("ascii", "replace")[:_MAX_NAME_BYTES]
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(encoded), 0, 0, 0)
    except (OSError, AttributeError):
        pass
