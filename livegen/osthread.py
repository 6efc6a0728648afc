"""OS-level settings of livegen's threads (Linux): names, and real-time priority.

Python 3.11 names a :class:`threading.Thread` only inside Python; the kernel
sees every thread as the process (``livegen``), so the engine, scheduler and
MIDI reader threads cannot be told from the JACK client threads rtmidi starts.
:func:`name_os_thread` sets the kernel's name (``/proc/PID/task/TID/comm``) with
``prctl(PR_SET_NAME)`` (Linux man page prctl(2): at most 15 bytes).

:func:`request_realtime` asks for ``SCHED_FIFO`` (sched(7)) for the calling
thread, as JACK does for its process threads; the scheduler thread uses it so
that a busy machine does not make notes late.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["name_os_thread", "request_realtime", "OS_THREAD_PREFIX", "REALTIME_PRIORITY",
           "REALTIME_SUPPORTED"]

#: Prefix of the OS-level names of livegen's own threads.
OS_THREAD_PREFIX = "lg-"
#: SCHED_FIFO priority (1-99) of livegen's scheduler thread: above every normal thread,
#: below JACK's process threads (jackd's default ``-P`` is 10; desktop setups use 70-95).
REALTIME_PRIORITY = 5
#: Whether this OS has SCHED_FIFO at all (Linux); elsewhere no real-time advice applies.
REALTIME_SUPPORTED = hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_FIFO")
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


def request_realtime(priority: int = REALTIME_PRIORITY) -> bool:
    """Move the calling thread to ``SCHED_FIFO`` at ``priority``, if the OS allows it.

    Allowed for root, with ``CAP_SYS_NICE``, or within ``RLIMIT_RTPRIO``
    (``ulimit -r``; JACK setups give the ``audio`` group ``rtprio 95`` in
    ``/etc/security/limits.d``). Otherwise nothing changes.

    Args:
        priority: 1-99.

    Returns:
        True if the thread now runs SCHED_FIFO; False if not permitted or not
        supported here (never raises).
    """
    if not REALTIME_SUPPORTED:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0: this thread (Linux)
    except (OSError, ValueError):
        return False
    return True
