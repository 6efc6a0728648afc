"""Tests of livegen.ports.affinity: the process thread on the server thread's CPU while idle."""

from __future__ import annotations

from pathlib import Path

from livegen.ports.affinity import IDLE_AFTER_S, CycleAffinity, server_cycle_thread, thread_cpu

OWN_TID = 4242


def _task(proc: Path, pid: int, tid: int, *, cpu: int, policy: int = 0, priority: int = 0) -> None:
    """A /proc/PID/task/TID/stat line with ``processor``, ``rt_priority`` and ``policy`` (proc(5))."""
    fields = ["S"] + ["0"] * 35 + [str(cpu), str(priority), str(policy)] + ["0"] * 13
    task = proc / str(pid) / "task" / str(tid)
    task.mkdir(parents=True)
    (task / "stat").write_text(f"{tid} (jackd) " + " ".join(fields) + "\n")


def _jackd(proc: Path, pid: int, argv: list[str], threads: dict[int, tuple[int, int, int]]) -> None:
    """A jackd process: ``threads`` maps tid to ``(cpu, policy, priority)``."""
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "comm").write_text("jackd\n")
    (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    for tid, (cpu, policy, priority) in threads.items():
        _task(proc, pid, tid, cpu=cpu, policy=policy, priority=priority)


def _two_servers(proc: Path) -> None:
    _jackd(proc, 100, ["jackd", "-n", "other", "-R", "-d", "dummy"], {100: (0, 0, 0), 101: (0, 1, 10)})
    _jackd(proc, 200, ["jackd", "-n", "ours", "-R", "-d", "dummy"],
           {200: (0, 0, 0), 201: (1, 1, 5), 202: (1, 1, 10), 203: (0, 0, 0)})


def test_the_server_thread_is_the_named_jackds_highest_fifo_thread(tmp_path):
    _two_servers(tmp_path)
    assert server_cycle_thread("ours", tmp_path) == (200, 202)
    assert server_cycle_thread("other", tmp_path) == (100, 101)
    assert server_cycle_thread("missing", tmp_path) is None
    assert thread_cpu(200, 202, tmp_path) == 1 and thread_cpu(200, 999, tmp_path) is None


def test_a_server_without_real_time_threads_has_none(tmp_path):
    _jackd(tmp_path, 300, ["jackd", "-n", "plain", "--no-realtime", "-d", "dummy"],
           {300: (0, 0, 0), 301: (1, 0, 0)})
    assert server_cycle_thread("plain", tmp_path) is None


class _Pins:
    def __init__(self) -> None:
        self.calls: list[tuple[int, set[int]]] = []

    def __call__(self, tid: int, cpus: set[int]) -> None:
        self.calls.append((tid, set(cpus)))


def test_pinned_only_after_an_idle_spell_and_let_go_at_the_next_message(tmp_path):
    _two_servers(tmp_path)
    pins = _Pins()
    affinity = CycleAffinity(lambda: OWN_TID, "ours", proc=tmp_path, set_affinity=pins)
    allowed = affinity._allowed
    assert affinity.update(0.0, 5, True) is None and pins.calls == []  # the first look: busy
    assert affinity.update(IDLE_AFTER_S - 0.1, 5, True) is None and pins.calls == []
    assert affinity.update(IDLE_AFTER_S + 0.1, 5, True) == 1
    assert pins.calls == [(OWN_TID, {1})]
    assert affinity.update(IDLE_AFTER_S + 0.4, 5, True) == 1 and len(pins.calls) == 1  # no re-pin
    assert affinity.update(IDLE_AFTER_S + 0.7, 6, True) is None  # a message in: let go
    assert pins.calls[-1] == (OWN_TID, allowed) and affinity.cpu is None
    assert affinity.update(2 * IDLE_AFTER_S + 0.8, 6, False) is None  # answering: not idle
    assert affinity.update(3 * IDLE_AFTER_S + 1.0, 6, True) == 1  # idle again since the answer


def test_the_pin_follows_the_server_thread_and_a_new_server(tmp_path):
    _two_servers(tmp_path)
    pins = _Pins()
    affinity = CycleAffinity(lambda: OWN_TID, "ours", proc=tmp_path, set_affinity=pins)
    assert affinity.follow() == 1
    _task_stat = tmp_path / "200" / "task" / "202" / "stat"
    _task_stat.write_text(_task_stat.read_text().replace(" 1 10 1 ", " 0 10 1 "))
    assert affinity.follow() == 0 and pins.calls[-1] == (OWN_TID, {0})  # it moved: so do we
    for path in sorted((tmp_path / "200").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (tmp_path / "200").rmdir()
    assert affinity.follow() is None  # the server went away
    _jackd(tmp_path, 400, ["jackd", "-n", "ours", "-R", "-d", "dummy"], {401: (1, 1, 10)})
    assert affinity.follow() == 1 and pins.calls[-1] == (OWN_TID, {1})  # its successor


def test_nothing_is_pinned_before_the_process_thread_has_run(tmp_path):
    _two_servers(tmp_path)
    pins = _Pins()
    affinity = CycleAffinity(lambda: 0, "ours", proc=tmp_path, set_affinity=pins)
    assert affinity.follow() is None and pins.calls == []
