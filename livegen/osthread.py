"""OS-level settings of livegen's threads (Linux): names, and real-time priority.

Python 3.11 names a :class:`threading.Thread` only inside Python; the kernel
sees every thread as the process (``livegen``), so the engine, scheduler and
MIDI reader threads cannot be told from the JACK client threads rtmidi starts.
:func:`name_os_thread` sets the kernel's name (``/proc/PID/task/TID/comm``) with
``prctl(PR_SET_NAME)`` (Linux man page prctl(2): at most 15 bytes).

:func:`request_realtime` asks for ``SCHED_FIFO`` (sched(7)) for the calling
thread, as JACK does for its process threads; the scheduler thread uses it so
that a busy machine does not make notes late. :func:`engine_priority` decides
whether the daemon's engine thread may have it too: only below a real-time
JACK server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["name_os_thread", "request_realtime", "engine_priority", "OS_THREAD_PREFIX",
           "REALTIME_PRIORITY", "ENGINE_PRIORITY", "REALTIME_SUPPORTED"]

#: Prefix of the OS-level names of livegen's own threads.
OS_THREAD_PREFIX = "lg-"
#: SCHED_FIFO priority (1-99) of livegen's scheduler thread: above every normal thread,
#: below JACK's process threads (jackd's default ``-P`` is 10; desktop setups use 70-95).
REALTIME_PRIORITY = 5
#: Whether this OS has SCHED_FIFO at all (Linux); elsewhere no real-time advice applies.
REALTIME_SUPPORTED = hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_FIFO")
#: SCHED_FIFO priority of the daemon's engine thread where it may run real-time
#: (:func:`engine_priority`): the lowest, above every normal thread (a busy DAW's), below
#: the scheduler thread and JACK's threads (a ``jackd -R`` server runs its process thread
#: at 10 and its clients' at 5 by default: ``-P 10``).
ENGINE_PRIORITY = 1
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


def engine_priority(server_priority: int | None,
                    scheduler_priority: int = REALTIME_PRIORITY) -> tuple[int | None, str]:
    """The engine thread's SCHED_FIFO priority in the daemon, or None for normal priority; and why.

    Generation must not wait for a busy DAW: at normal priority with both cores
    busy, 58 of 72 note_ons were generated after their deadline (docs/benchmark.md).
    But a real-time engine thread starves a JACK server that runs at normal
    priority: its process thread waits behind the engine's work (tests/e2e/test_jack_sync
    heard a 120 BPM clock at 112 BPM, with 28 stalls). So the engine thread runs
    real-time only under a real-time server, at :data:`ENGINE_PRIORITY`, and only
    when that is below both the server's client threads and the scheduler thread.
    Whether the OS grants it is :func:`request_realtime`'s answer; it grants the
    engine thread what it grants the scheduler's (same process, same limits).

    Args:
        server_priority: the SCHED_FIFO priority (1-99) of the MIDI server's client
            threads when it runs real-time (JACK's ``jack_client_real_time_priority``);
            None when it does not, when there is no such server (ALSA sequencer,
            CoreMIDI, Windows MM) or when it cannot be asked.
        scheduler_priority: the scheduler thread's SCHED_FIFO priority (1-99).

    Returns:
        ``(priority, reason)``: priority 1-99 for :func:`request_realtime`, or None
        (normal priority); reason, a phrase for the daemon's log.
    """
    if server_priority is None or server_priority < 1:
        return None, "normal priority (the MIDI server does not run real-time, or has no real-time threads)"
    ceiling = min(server_priority, scheduler_priority)
    if ENGINE_PRIORITY >= ceiling:
        return None, (f"normal priority (no real-time priority below the JACK server's client threads "
                      f"at {server_priority} and the scheduler's at {scheduler_priority})")
    return ENGINE_PRIORITY, (f"real-time priority SCHED_FIFO {ENGINE_PRIORITY} (the JACK server runs "
                             f"real-time, its client threads at {server_priority}; the scheduler's "
                             f"at {scheduler_priority})")
