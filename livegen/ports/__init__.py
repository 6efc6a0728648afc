"""MIDI ports: choose a backend, open virtual ports or connect to existing ones.

A package on mido's model (``mido/ports.py``, ``mido/backends/``):

=====================  ==========================================================
module                 concept
=====================  ==========================================================
:mod:`.base`           the port protocol: :class:`InputPort`, :class:`OutputPort`,
                       with the optional capabilities defaulting to "none"
:mod:`.backends`       backend selection: :func:`resolve_backend`,
                       :func:`jack_running`, :func:`list_ports`, :func:`find_port`,
                       :func:`other_livegen`
:mod:`.rtmidi`         python-rtmidi's ports, every backend, one client per port
:mod:`.jack_clients`   the one-client JACK clients (C extension ``livegen._jackmidi``)
                       and their registry, :class:`JackClients`
:mod:`.jack`           the one-client JACK ports on them
:mod:`.opener`         :func:`open_input`, :func:`open_output`: the one-client JACK
                       ports where asked and built, else rtmidi's
=====================  ==========================================================

``livegen ports`` and ``livegen run --help`` import this package: it imports
python-rtmidi and the small extension, never the model or onnxruntime.
"""

from livegen.ports.backends import (
    BACKENDS,
    find_port,
    jack_running,
    list_ports,
    other_livegen,
    resolve_backend,
)
from livegen.ports.base import (
    CLIENT_NAME,
    IN_PORT_NAME,
    OUT_PORT_NAME,
    InputHandler,
    InputPort,
    OutputPort,
    Port,
)
from livegen.ports.jack import JackInputPort, JackOutputPort
from livegen.ports.jack_clients import JACK_CLIENTS, JackClients, jack_shared_client, jack_watch
from livegen.ports.opener import open_input, open_output
from livegen.ports.rtmidi import (
    JACK_IDLE_AFTER_S,
    JACK_IDLE_POLL_INTERVAL_S,
    JACK_POLL_INTERVAL_S,
    RtMidiInputPort,
    RtMidiOutputPort,
)

__all__ = [
    "BACKENDS",
    "CLIENT_NAME",
    "IN_PORT_NAME",
    "JACK_CLIENTS",
    "JACK_IDLE_AFTER_S",
    "JACK_IDLE_POLL_INTERVAL_S",
    "JACK_POLL_INTERVAL_S",
    "OUT_PORT_NAME",
    "InputHandler",
    "InputPort",
    "JackClients",
    "JackInputPort",
    "JackOutputPort",
    "OutputPort",
    "Port",
    "RtMidiInputPort",
    "RtMidiOutputPort",
    "find_port",
    "jack_running",
    "jack_shared_client",
    "jack_watch",
    "list_ports",
    "open_input",
    "open_output",
    "other_livegen",
    "resolve_backend",
]
