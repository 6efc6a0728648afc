"""The ``livegen`` command line.

``livegen --preset romantic`` is ``livegen run --preset romantic``: when the
first argument is an option (or there is none), the command is ``run``.

Every :class:`~livegen.errors.LivegenError` becomes one line on stderr,
``livegen: error: <message>``, and exit status 2, as argparse does for usage
errors. The runtime commands (``run``, ``continue``, ``ports``, ``presets``)
never import torch or the training package ``livegen_train`` (the repository's
``export/`` folder); ``train``, ``export`` and ``evaluate`` import it only when run.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence

from livegen import __version__
from livegen.delegate import DELEGATED, delegate
from livegen.errors import LivegenError
from livegen.learn import add_learn_arguments, learn_doc
from livegen.ports import BACKENDS, CLIENT_NAME, JACK_CLIENTS
from livegen.stopsignals import CLOSE_WATCHDOG_S, StopSignals

__all__ = ["main", "entry_point", "build_parser"]

log = logging.getLogger(__name__)

PROG = "livegen"
EXIT_OK = 0
EXIT_ERROR = 2  # argparse's status for usage errors; ours for every LivegenError
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention
DEFAULT_PRESET = "romantic"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: ``livegen run``'s log levels by the count of ``-v``: the ready line, the status line and
#: warnings only; then every answer and start-up detail (INFO); then DEBUG.
RUN_LOG_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)
#: The other commands' (their progress is INFO).
LOG_LEVELS = (logging.INFO, logging.DEBUG)



def _add_preset_and_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=DEFAULT_PRESET, metavar="NAME|PATH",
                        help=f"preset name or YAML file (default {DEFAULT_PRESET}; "
                             "see `livegen presets`)")
    parser.add_argument("--model", metavar="PATH",
                        help="ONNX model for every preset (default: $LIVEGEN_MODEL, else each "
                             "preset's own: its model key, or the packaged default)")
    parser.add_argument("--seed", type=_seed, help="random seed, 0 or more, for repeatable output")


def _seed(text: str) -> int:
    """``--seed``: an integer 0 or more (numpy's generators take no negative seed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer 0 or more (received {text!r})") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer 0 or more (received {value})")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Real-time MIDI continuation: play a phrase, hear it answered in a style.",
        epilog="`livegen --preset romantic` is short for `livegen run --preset romantic`.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="listen on a MIDI port and answer (the default)",
                         description="Open the MIDI ports and answer each phrase you play.")
    _add_preset_and_model(run)
    run.add_argument("--backend", choices=BACKENDS, default="auto",
                     help="MIDI system (default auto: ALSA, else JACK; CoreMIDI; Windows MM)")
    run.add_argument("--in", dest="in_port", metavar="PORT",
                     help="listen to this existing port (name or unique part of it) "
                          "instead of the virtual port `livegen in`")
    run.add_argument("--out", dest="out_port", metavar="PORT",
                     help="play to this existing port instead of the virtual port `livegen out`")
    run.add_argument("--clock", choices=("midi", "none"),
                     help="follow MIDI beat clock on the input port (midi) or not (none); "
                          "default: the preset's `clock`")
    run.add_argument("--jack-client", choices=JACK_CLIENTS, default="shared",
                     help="on JACK: `shared` (default) puts both ports in one JACK client "
                          "(livegen._jackmidi; if it is not built, rtmidi's with a warning), "
                          "`rtmidi` uses python-rtmidi's ports, one JACK client each")
    run.add_argument("--client-name", default=CLIENT_NAME, metavar="NAME",
                     help=f"the MIDI client name others see (default {CLIENT_NAME}); a second "
                          "livegen on the same MIDI system needs a name of its own")
    run.add_argument("--reconnect", action=argparse.BooleanOptionalAction, default=True,
                     help="when the MIDI server (JACK) goes away, wait for it to come back and "
                          "open the ports again (default); --no-reconnect: exit with status 1")
    run.add_argument("-v", "--verbose", action="count", default=0,
                     help="say more: -v each answer and the start-up details, -vv debug "
                          "(default: the ready line, the status line and warnings only)")
    run.set_defaults(handler=_cmd_run, log_levels=RUN_LOG_LEVELS)

    ports = sub.add_parser("ports", help="list the MIDI ports")
    ports.add_argument("--backend", choices=BACKENDS, default="auto")
    ports.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    ports.set_defaults(handler=_cmd_ports)
    _add_doctor(sub)

    presets = sub.add_parser(
        "presets", help="list the presets (yours and the packaged ones), or copy one to edit",
        description="List your presets and the packaged ones, with their files. `--preset NAME` "
                    "looks in your folder first (set $LIVEGEN_PRESETS to use another folder).")
    presets.add_argument("--copy", nargs=2, metavar=("SOURCE", "NEW"),
                         help="write a commented copy of preset SOURCE (a name or a YAML file) "
                              "to your folder as NEW.yaml, every key with its meaning and range")
    presets.add_argument("--force", action="store_true", help="with --copy: overwrite NEW.yaml")
    presets.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    presets.set_defaults(handler=_cmd_presets)

    learn = sub.add_parser("learn", help="map the next knob or pedal you move to a live control "
                                         "in your preset", description=learn_doc())
    add_learn_arguments(learn, DEFAULT_PRESET)
    learn.set_defaults(handler=_cmd_learn)

    cont = sub.add_parser(
        "continue", help="continue a MIDI file offline",
        description="Write INPUT whole (every track unchanged, drums included) plus a track "
                    "`livegen`: the continuation of the prompt, starting where the prompt ends.")
    cont.add_argument("input", metavar="INPUT.mid", help="a type 0 or 1 MIDI file")
    cont.add_argument("-o", "--output", required=True, metavar="OUT.mid")
    _add_preset_and_model(cont)
    cont.add_argument("--notes", type=int, metavar="N",
                      help="notes to generate (default: the preset's max_notes)")
    cont.add_argument("--at", type=float, metavar="SECONDS",
                      help="continue from SECONDS into INPUT: the prompt is the last notes (the "
                           "preset's context_notes) starting before it, and the continuation "
                           "starts where they end. INPUT is still written whole, so what follows "
                           "in the file and livegen's answer sit on separate tracks: mute one to "
                           "hear the other (default: continue from the end of INPUT)")
    cont.add_argument("--include-drums", action="store_true",
                      help="put channel 10 (drums) in the prompt; it is written back either way")
    cont.add_argument("--plot", metavar="OUT.png",
                      help="also draw the piano roll of the prompt and the continuation "
                           "(needs matplotlib: pip install 'livegen[plot]')")
    cont.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    cont.set_defaults(handler=_cmd_continue)

    bench = sub.add_parser(
        "bench", help="measure model step, latency, lateness, idle CPU, memory and start-up",
        description="Measure the speed and memory figures against the acceptance targets "
                    "(about 90 s; --quick about 20 s). The rows that need torch/onnx: "
                    "python -m livegen_train.bench_torch. See docs/benchmark.md.")
    bench.add_argument("--model", metavar="PATH",
                       help="ONNX model (default: the packaged model, or $LIVEGEN_MODEL)")
    bench.add_argument("--quick", action="store_true",
                       help="shorter runs: a 5 s scheduler response instead of 60 s, 3 s idle")
    bench.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    bench.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    bench.set_defaults(handler=_cmd_bench)

    for name, (_, text) in DELEGATED.items():
        # parsed by the export module itself: `livegen train --help` shows its options
        sub.add_parser(name, help=text, add_help=False)
    return parser


def _normalise(argv: list[str]) -> list[str]:
    """Make ``run`` the command when the first argument is an option (or there is none)."""
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        return ["run", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 on a usage error or any
        :class:`~livegen.errors.LivegenError` (reported as one line on stderr).
    """
    argv = _normalise(list(sys.argv[1:] if argv is None else argv))
    if argv[0] in DELEGATED:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
        return _report(delegate, argv[0], argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on errors, 0 on --help/--version
        return int(exit_.code or 0)
    _configure_logging(getattr(args, "log_levels", LOG_LEVELS), int(args.verbose))
    return _report(args.handler, args)


def _configure_logging(levels: Sequence[int], verbosity: int) -> None:
    """Log to stderr through the :class:`~livegen.status.ConsoleHandler` (the status line's stream).

    Args:
        levels: the level for no ``-v``, one, two...
        verbosity: the count of ``-v``.

    At the first level (``livegen run`` without ``-v``) a record is one line
    ``livegen: warning: ...``, as errors are; with ``-v``, time-stamped lines.
    Does nothing if the root logger has handlers already (as ``logging.basicConfig``).
    """
    from livegen.status import ConsoleHandler

    level = levels[min(verbosity, len(levels) - 1)]
    quiet = verbosity == 0 and level > logging.INFO
    handler = ConsoleHandler(sys.stderr)
    handler.setFormatter(_QuietFormatter() if quiet else logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


class _QuietFormatter(logging.Formatter):
    """``livegen: warning: <message>``: the form of the CLI's error lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"


def entry_point() -> None:
    """The console script ``livegen``."""
    sys.exit(main())


def _report(handler, *args) -> int:
    """Call a command handler; turn a :class:`LivegenError` into one stderr line and status 2."""
    try:
        return handler(*args)
    except KeyboardInterrupt:  # Ctrl-C before `run` installs its handlers, or in `continue`
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except LivegenError as err:
        message = " ".join(str(err).split())  # one line, whatever the message holds
        print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        return EXIT_ERROR


def _load_model(preset, model_path: str | None):
    """The session's models (:class:`livegen.model.ModelSet`: ``--model`` for every preset,
    else each preset's own), ``preset``'s loaded and its style checked (at the boundary)."""
    from livegen.model import ModelSet

    models = ModelSet(model_path)
    model = models(preset)  # raises ModelError naming the model's styles
    log.info("preset %s, model %s (styles %s)", preset.name, model.path, ", ".join(model.styles))
    return models


# --- run --------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from livegen import ports, serve
    from livegen.presets import load_preset

    # cheap checks first, the model load last
    preset = load_preset(args.preset, {"clock": args.clock} if args.clock else None)
    backend = ports.resolve_backend(args.backend)
    serve.check_alone(backend, args.client_name)  # before the model load: a quick refusal
    models = _load_model(preset, args.model)
    stop = threading.Event()
    with StopSignals(stop):  # Ctrl-C, kill, a closed terminal, Ctrl+backslash: stop cleanly
        return serve.serve(args, preset, backend, models, stop, ready=_print_ready,
                           close_watchdog_s=CLOSE_WATCHDOG_S)


def _print_ready(line: str) -> None:
    print(line, flush=True)


# --- ports, presets ---------------------------------------------------------------------------


def _cmd_ports(args: argparse.Namespace) -> int:
    from livegen import ports

    backend = ports.resolve_backend(args.backend)
    inputs, outputs = ports.list_ports(backend)
    print(f"backend {backend}")
    for title, names, flag in (("inputs (sources to listen to)", inputs, "--in"),
                               ("outputs (destinations to play to)", outputs, "--out")):
        print(f"{title}, for {flag}:")
        for name in names:
            print(f"  {name}")
        if not names:
            print("  (none)")
    return EXIT_OK


def _cmd_presets(args: argparse.Namespace) -> int:
    from livegen.userpresets import copy_preset, listing_lines

    if args.copy:
        path = copy_preset(*args.copy, force=args.force)
        print(f"wrote {path}; edit it, then: livegen --preset {path.stem}")
        return EXIT_OK
    print("\n".join(listing_lines()))
    return EXIT_OK


# --- learn ------------------------------------------------------------------------------------


def _cmd_learn(args: argparse.Namespace) -> int:
    from livegen.learn import run_learn

    return run_learn(args, say=_print_ready, ask=input if sys.stdin.isatty() else None,
                     warn=lambda text: print(f"{PROG}: {text}", file=sys.stderr, flush=True))


# --- continue ---------------------------------------------------------------------------------


def _cmd_continue(args: argparse.Namespace) -> int:
    from livegen.offline import continue_file
    from livegen.presets import load_preset

    preset = load_preset(args.preset)
    plot = None
    if args.plot is not None:
        from livegen.pianoroll import plot_piano_roll, require_matplotlib

        require_matplotlib()  # before the model runs: a missing extra is one line at once

        def plot(prompt, answer):
            plot_piano_roll(prompt, answer, args.plot, title=f"{args.input} + livegen ({preset.name})")
    print(continue_file(args.input, args.output, preset, lambda: _load_model(preset, args.model)(preset),
                        n_notes=args.notes, at_s=args.at, seed=args.seed,
                        include_drums=args.include_drums,
                        warn=lambda text: print(f"livegen: warning: {text}", file=sys.stderr),
                        plot=plot))
    if args.plot is not None:
        print(f"wrote {args.plot}: the piano roll of the prompt and the continuation")
    return EXIT_OK


# --- bench ------------------------------------------------------------------------------------


def _cmd_bench(args: argparse.Namespace) -> int:
    import json

    from livegen import bench

    report = bench.run(args.model, quick=args.quick)
    print(json.dumps(report.to_dict(), indent=2) if args.json else bench.format_report(report),
          flush=True)
    return EXIT_OK


# --- doctor -----------------------------------------------------------------------------------


def _add_doctor(sub) -> None:
    doctor = sub.add_parser(
        "doctor", help="check the MIDI system, server, real-time, ports, model and feedback loops",
        description="One line per check: the backend and why, the JACK server (jackd or "
                    "PipeWire's) and its real-time flag, real-time scheduling, the ports, the "
                    "model, and a loop-back probe on `livegen out`: coming back on `livegen in` "
                    "is a MIDI feedback loop (DAW MIDI thru). Each problem with its fix. Exit "
                    "status 0: healthy; 1: problems. Run it while livegen itself is not running.")
    _add_preset_and_model(doctor)
    doctor.add_argument("--backend", choices=BACKENDS, default="auto")
    doctor.add_argument("--client-name", default=CLIENT_NAME, metavar="NAME",
                        help=f"the client name livegen runs under (default {CLIENT_NAME})")
    doctor.add_argument("--jack-client", choices=JACK_CLIENTS, default="shared",
                        help="as `livegen run --jack-client`")
    doctor.add_argument("--loopback", action="store_true",
                        help="you routed `livegen out` back to `livegen in` on purpose (a DAW "
                             "track with monitoring, or jack_connect): time the round trip")
    doctor.add_argument("--wait", type=float, default=1.0, metavar="SECONDS",
                        help="how long to wait for both ports to be connected (by your DAW, a "
                             "patchbay or you) before the probe (default 1)")
    doctor.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    doctor.set_defaults(handler=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from livegen.doctor import run_doctor

    return run_doctor(args, say=lambda line: print(line, flush=True), prog=PROG)
