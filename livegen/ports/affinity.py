"""livegen's JACK process thread on the CPU where the server's real-time thread runs.

A JACK server wakes each client's process thread once a period (750 times a
second at 64 frames / 48 kHz), whether or not it has MIDI to pass. When the
woken thread sits on another CPU, each wake-up crosses CPUs (an
inter-processor interrupt; on a virtual machine, the other virtual CPU
leaves its halt). On this project's 2-core VM, with a ``jackd -R`` dummy
server at 64 frames, livegen's process thread cost 1.3-1.5 % of a core idle
on the other CPU and 0.53-0.57 % on the server thread's CPU (10 s each, 3
runs; ``livegen bench``, idle CPU rows). jackd2's own example client
``jack_midi_dump`` showed the same: 1.8-2.0 % against 0.7-0.8 %.

Only under a real-time server (under a ``--no-realtime`` one a pinned normal
thread could wait behind a busy process on its one CPU), and only while the
daemon is idle: no MIDI in for :data:`IDLE_AFTER_S` and no answer. A pinned
thread cannot move off a CPU that another real-time thread holds (livegen's
scheduler thread runs at the same SCHED_FIFO priority). Pinned while
answering with both cores busy, the bench's listener rows counted more notes
generated after their deadline (mean 7.4 of 235 over 5 runs, against 4.4
unpinned), but those runs also had the bench's own fault of the time (phrases
taken for echoes, docs/benchmark.md), so that comparison proves nothing
either way; the idle-only pin is the cautious choice. :class:`CycleAffinity` is updated
by the daemon's watch (every 0.25 s): it pins once idle, follows the server
thread if it moves, and lets go at the first message in.

Linux only (``/proc``, ``os.sched_setaffinity``); elsewhere, or when anything
cannot be read, nothing is pinned and nothing raises.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from livegen.ports.servers import server_processes

__all__ = ["CycleAffinity", "server_cycle_thread", "thread_cpu", "DEFAULT_SERVER", "IDLE_AFTER_S"]

#: Seconds without MIDI in (and no answer) before the process thread is pinned.
IDLE_AFTER_S = 2.0

DEFAULT_SERVER = "default"  # libjack's server name when $JACK_DEFAULT_SERVER is unset
_SCHED_FIFO = 1  # sched(7): the policy number /proc/PID/task/TID/stat shows
# fields of /proc/PID/task/TID/stat after the ")" that closes comm (proc(5) numbers minus 3)
_PROCESSOR, _RT_PRIORITY, _POLICY = 36, 37, 38


def _stat_fields(path: Path) -> list[str] | None:
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def server_cycle_thread(server_name: str, proc: Path = Path("/proc")) -> tuple[int, int] | None:
    """``(pid, tid)`` of the real-time thread of the jackd named ``server_name``, or None.

    The thread is the jackd's SCHED_FIFO thread of highest priority (its driver's
    cycle thread); None when no such jackd runs, it runs ``--no-realtime``, or
    ``/proc`` cannot be read. Never raises.

    Args:
        server_name: the server's name (``jackd -n``; ``default`` without one).
        proc: the proc file system (tests pass a fake one).
    """
    for server in server_processes(proc):
        if server.kind != "jackd" or server.name != server_name:
            continue
        best = None
        try:
            tasks = list((proc / str(server.pid) / "task").iterdir())
        except OSError:
            return None
        for task in tasks:
            fields = _stat_fields(task / "stat")
            if fields is None or len(fields) <= _POLICY or int(fields[_POLICY]) != _SCHED_FIFO:
                continue
            priority = int(fields[_RT_PRIORITY])
            if best is None or priority > best[0]:
                best = (priority, int(task.name))
        return None if best is None else (server.pid, best[1])
    return None


def thread_cpu(pid: int, tid: int, proc: Path = Path("/proc")) -> int | None:
    """The CPU thread ``tid`` of process ``pid`` last ran on, or None (gone, unreadable)."""
    fields = _stat_fields(proc / str(pid) / "task" / str(tid) / "stat")
    try:
        return None if fields is None else int(fields[_PROCESSOR])
    except (IndexError, ValueError):
        return None


class CycleAffinity:
    """Keeps one thread (livegen's JACK process thread) on the server cycle thread's CPU.

    Not thread-safe: one caller (the daemon's watch).

    Args:
        own_tid: returns the OS thread id to pin (0: not known yet).
        server_name: the JACK server's name; default ``$JACK_DEFAULT_SERVER`` or ``default``.
        proc: the proc file system (tests pass a fake one).
        set_affinity: ``os.sched_setaffinity`` (tests pass a fake).

    Attributes:
        cpu: the CPU the thread was last pinned to, or None.
    """

    def __init__(self, own_tid: Callable[[], int], server_name: str | None = None, *,
                 proc: Path = Path("/proc"),
                 set_affinity: Callable[[int, set[int]], None] | None = None) -> None:
        self._own_tid = own_tid
        self._server_name = server_name or os.environ.get("JACK_DEFAULT_SERVER") or DEFAULT_SERVER
        self._proc = proc
        self._set = set_affinity or getattr(os, "sched_setaffinity", None)
        self._allowed = (set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                         else set())  # what the thread may run on when not pinned
        self._server: tuple[int, int] | None = None
        self._pinned_tid = 0
        self._messages: int | None = None
        self._busy_s = -float("inf")
        self.cpu: int | None = None

    def update(self, now_s: float, messages_in: int, listening: bool) -> int | None:
        """Pin when idle (:meth:`follow`), let go otherwise (:meth:`release`); the CPU pinned to.

        Args:
            now_s: seconds (the daemon's clock).
            messages_in: MIDI messages the engine has had so far.
            listening: no answer is being prepared or played.
        """
        if messages_in != self._messages or not listening:
            self._messages, self._busy_s = messages_in, now_s
        if now_s - self._busy_s >= IDLE_AFTER_S:
            return self.follow()
        self.release()
        return None

    def release(self) -> None:
        """Let the pinned thread run on every CPU the process may use again. Never raises."""
        if self.cpu is None:
            return
        self.cpu = None
        if self._allowed:
            try:
                self._set(self._pinned_tid, set(self._allowed))
            except OSError:  # the thread ended
                pass

    def follow(self) -> int | None:
        """Pin the thread to the server thread's CPU if it is not there yet; that CPU, or None.

        Never raises: a thread or server that is gone is looked up again next time.
        """
        if self._set is None:
            return None
        if self._server is None:
            self._server = server_cycle_thread(self._server_name, self._proc)
            if self._server is None:
                return None
        cpu = thread_cpu(*self._server, proc=self._proc)
        tid = self._own_tid()
        if cpu is None:
            self._server = None  # a new server, or none: look again next time
            return None
        if not tid:
            return None
        if cpu != self.cpu or tid != self._pinned_tid:
            try:
                self._set(tid, {cpu})
            except OSError:  # the thread ended (its client closed) or the CPU went offline
                return None
            self.cpu, self._pinned_tid = cpu, tid
        return cpu
