"""Open livegen's ports on the chosen backend: the one-client JACK ports, else rtmidi's."""

from __future__ import annotations

import logging
from collections.abc import Callable

from livegen import timebase
from livegen.ports.backends import resolve_backend
from livegen.ports.base import CLIENT_NAME, InputHandler, InputPort, OutputPort
from livegen.ports.jack import open_jack_input, open_jack_output
from livegen.ports.jack_clients import JackClients, jack_shared_client
from livegen.ports.rtmidi import open_rtmidi_input, open_rtmidi_output

__all__ = ["open_input", "open_output"]

log = logging.getLogger(__name__)


def _one_client(backend: str, jack_client: str) -> bool:
    """Whether to open on the one-client JACK extension; warns when ``shared`` cannot be."""
    shared = jack_shared_client(jack_client)  # validates jack_client on every backend
    if backend != "jack":
        return False
    if jack_client == "shared" and not shared:
        log.warning("livegen._jackmidi is not built: using python-rtmidi's JACK ports, one "
                    "JACK client per port (build the extension with JACK's headers: see setup.py)")
    return shared


def open_input(backend: str = "auto", port: str | None = None, *,
               handler: InputHandler | None = None,
               now: Callable[[], float] | None = None,
               client_name: str = CLIENT_NAME,
               jack_client: str = "shared",
               jack_clients: JackClients | None = None) -> InputPort:
    """Open livegen's MIDI input.

    Sysex and active sensing are ignored; MIDI clock (0xF8) and the other
    timing messages are kept, for clock-following presets.

    Args:
        backend: one of :data:`~livegen.ports.BACKENDS`.
        port: an existing source to connect to (exact name or unique
            substring); ``None`` makes the virtual port ``livegen in``.
        handler: receives ``(data, timestamp_s)`` per message (see
            :class:`~livegen.ports.InputPort`); may also be set later with
            ``set_handler``.
        now: the clock stamping messages, seconds. ``None`` (default):
            ``time.monotonic``, and on the one-client JACK input JACK's own
            frame-accurate stamps on that clock. A clock given stamps each
            message when livegen takes it.
        client_name: the MIDI client name others see.
        jack_client: on JACK, ``shared`` (default): the one-client extension
            (:mod:`livegen.ports.jack`) when it is built, else python-rtmidi's
            ports with a warning; ``rtmidi``: python-rtmidi's, one JACK client
            per port. Ignored on other backends.
        jack_clients: on the one-client JACK ports, the registry whose client
            the port joins: pass the same one to :func:`open_output` to put
            both ports in one JACK client. ``None``: a client of its own.

    Returns:
        The open port: a :class:`~livegen.ports.JackInputPort` or a
        :class:`~livegen.ports.RtMidiInputPort`.

    Raises:
        BackendError: the backend cannot open (see
            :func:`~livegen.ports.resolve_backend`), a virtual port was asked
            for on Windows, or ``jack_client`` is unknown.
        PortNotFoundError: ``port`` matches no source, or several.
    """
    backend = resolve_backend(backend)
    if _one_client(backend, jack_client):
        opened: InputPort = open_jack_input(port, handler=handler, now=now,
                                                 client_name=client_name, clients=jack_clients)
    else:
        opened = open_rtmidi_input(backend, port, handler=handler,
                                   now=timebase.now if now is None else now,
                                   client_name=client_name)
    log.debug("opened %r", opened)
    return opened


def open_output(backend: str = "auto", port: str | None = None, *,
                client_name: str = CLIENT_NAME,
                jack_client: str = "shared",
                jack_clients: JackClients | None = None) -> OutputPort:
    """Open livegen's MIDI output.

    Args:
        backend: one of :data:`~livegen.ports.BACKENDS`.
        port: an existing destination to connect to (exact name or unique
            substring); ``None`` makes the virtual port ``livegen out``.
        client_name: the MIDI client name others see.
        jack_client: on JACK, ``shared`` or ``rtmidi`` (see :func:`open_input`).
        jack_clients: the registry whose client the port joins (see
            :func:`open_input`).

    Returns:
        The open port: a :class:`~livegen.ports.JackOutputPort` or a
        :class:`~livegen.ports.RtMidiOutputPort`.

    Raises:
        BackendError: the backend cannot open (see
            :func:`~livegen.ports.resolve_backend`), a virtual port was asked
            for on Windows, or ``jack_client`` is unknown.
        PortNotFoundError: ``port`` matches no destination, or several.
    """
    backend = resolve_backend(backend)
    if _one_client(backend, jack_client):
        opened: OutputPort = open_jack_output(port, client_name=client_name,
                                                   clients=jack_clients)
    else:
        opened = open_rtmidi_output(backend, port, client_name=client_name)
    log.debug("opened %r", opened)
    return opened
