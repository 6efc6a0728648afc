"""The CI log says why a rerun attempt failed (tests/conftest.py): pytest-rerunfailures names only
the test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# by its path: "conftest" in sys.modules may be another folder's conftest in a whole run
CONFTEST = Path(__file__).parent / "conftest.py"
_spec = importlib.util.spec_from_file_location("livegen_tests_root_conftest", CONFTEST)
_root = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)  # its dataclasses look it up
_spec.loader.exec_module(_root)
RERUN_REASON_LINES, rerun_reason = _root.RERUN_REASON_LINES, _root.rerun_reason
RERUN_STDOUT_LINES, RERUN_LINE_WIDTH, printed_tail = (_root.RERUN_STDOUT_LINES, _root.RERUN_LINE_WIDTH,
                                                      _root.printed_tail)

pytest_plugins = ["pytester"]

REPORT = """def test_x():
    helper()

tests/test_x.py:9:
    def helper():
>       assert sounding, "the note ended first: nothing to test\\n" + log
E       AssertionError: the note ended first: nothing to test
E         daemon log line 1
E         daemon log line 2
tests/test_x.py:4: AssertionError"""


def test_the_reason_is_the_innermost_failing_line_and_its_error():
    reason = rerun_reason(REPORT)
    assert reason.splitlines()[0].startswith(">       assert sounding")
    assert "E       AssertionError: the note ended first: nothing to test" in reason
    assert reason.splitlines()[-1] == "tests/test_x.py:4: AssertionError"
    assert "def test_x" not in reason  # the outer frames are left out


def test_a_long_message_is_cut_but_still_says_where():
    log = "\n".join(f"E         log line {i}" for i in range(100))
    reason = rerun_reason(REPORT.replace("E         daemon log line 1", log))
    lines = reason.splitlines()
    assert len(lines) == RERUN_REASON_LINES + 2 and lines[-2] == "..."
    assert lines[-1] == "tests/test_x.py:4: AssertionError"


def test_the_printed_tail_is_the_last_lines_cut_to_a_width():
    printed = "\n".join(f"[jitter] line {i}" for i in range(20)) + "\n\n" + "x" * 3 * RERUN_LINE_WIDTH + "\n"
    tail = printed_tail(printed).splitlines()
    assert len(tail) == RERUN_STDOUT_LINES
    assert tail[0] == f"[jitter] line {20 - RERUN_STDOUT_LINES + 1}" and tail[-1] == "x" * RERUN_LINE_WIDTH
    assert printed_tail("") == printed_tail("\n \n") == ""


def test_a_rerun_attempts_failure_is_printed_in_the_summary(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_flaky="""
        import itertools
        attempts = itertools.count()

        def test_flaky():
            attempt = next(attempts)
            print(f"[measured] attempt {attempt}: the host stalled 3 times")
            assert attempt > 0, "the first attempt fails like this"
        """)
    result = pytester.runpytest("-p", "rerunfailures", "--reruns", "1", "-p", "no:cacheprovider")
    assert result.ret == 0
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    result.stdout.fnmatch_lines(["*why the reruns failed*", "test_flaky.py::test_flaky:",
                                 "*AssertionError: the first attempt fails like this*",
                                 "printed last:", "[measured] attempt 0: the host stalled 3 times"])
    assert "[measured] attempt 1" not in result.stdout.str()  # the attempt that passed is not shown
