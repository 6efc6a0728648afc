"""``livegen bench``: the speed and memory figures, against the acceptance targets.

In this process, on the real clock (:mod:`~livegen.bench.steps`,
:mod:`~livegen.bench.realtime`): one onnxruntime step with the state carried;
the stateless design of older tools (the same model re-reading a 50-note window
step by step); one generated note under every preset, with style guidance and the
follower off or on beside it; trigger to first note_on through a threaded Engine with a list as
the port; scheduler lateness at 16 notes/s; a full GC pause. In a ``livegen run``
subprocess (:mod:`~livegen.bench.daemon`): cold start to ready, idle CPU, memory
(private, judged; PSS and RSS beside it) and the exit on SIGINT.

The rows that need torch or onnx (PyTorch eager, the re-read as one sequence
graph) live on the training side: ``python -m livegen_train.bench_torch``. It
prints the same table, from :mod:`~livegen.bench.report`.

Functions return :class:`Figure` rows; the CLI prints :func:`format_report` or
``Report.to_dict()`` as JSON.
"""

from livegen.bench.daemon import bench_daemon
from livegen.bench.realtime import bench_gc, bench_scheduler, bench_trigger
from livegen.bench.report import TARGETS, Figure, Report, format_report
from livegen.bench.steps import bench_note, bench_notes, bench_reread, bench_step
from livegen.bench.suite import ELSEWHERE, FULL, QUICK, Settings, run

__all__ = ["Figure", "Report", "Settings", "FULL", "QUICK", "TARGETS", "ELSEWHERE", "run",
           "format_report", "bench_step", "bench_reread", "bench_note", "bench_notes", "bench_trigger",
           "bench_scheduler", "bench_gc", "bench_daemon"]
