"""The one-client JACK clients (C extension ``livegen._jackmidi``) and their registry.

A :class:`JackClients` registry hands out shares of its clients, by client
name: one input and one output port per client, so ``livegen in`` and
``livegen out`` opened from the same registry live in one JACK client. There
is no process-wide registry: whoever opens the ports holds one (``livegen
run`` does) and passes it to both opens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

try:  # optional C extension: one JACK client for both ports (setup.py)
    from livegen import _jackmidi
except ImportError:  # not built (no compiler or JACK headers), or no libjack at run time
    _jackmidi = None

from livegen.errors import BackendError
from livegen.ports.backends import quiet_stderr

__all__ = [
    "JACK_CLIENTS",
    "JACK_CLOSE_TIMEOUT_S",
    "JACK_FLUSH_TIMEOUT_S",
    "JackClients",
    "JackPortHandle",
    "close_within",
    "close_watch",
    "jack_shared_client",
    "jack_watch",
]

#: The ``jack_client`` choices of the open functions and ``livegen run --jack-client``:
#: ``shared`` puts livegen's ports in one JACK client (:mod:`livegen.ports.jack`) when it is
#: built; ``rtmidi`` uses python-rtmidi's ports, one client per port.
JACK_CLIENTS = ("shared", "rtmidi")
#: How long closing a one-client JACK output waits for queued messages (the last
#: note_offs) to go out, seconds: a few periods at any usual buffer size.
JACK_FLUSH_TIMEOUT_S = 0.5
#: How long removing a JACK port or closing a JACK client waits for the server, seconds.
#: A server whose cycle no longer ends (a client in it that never finishes) can hold
#: ``jack_client_close`` forever: seen once in CI, a port's close still waiting after 50 min.
#: A close takes a few periods (ms) on a working server.
JACK_CLOSE_TIMEOUT_S = 2.0

log = logging.getLogger(__name__)


def close_within(call: Callable[[], None], what: str, timeout_s: float | None = None) -> bool:
    """Run ``call`` (a JACK close that releases the GIL) for at most ``timeout_s`` seconds.

    ``call`` runs on a daemon thread; when the server has not answered in time
    the caller goes on (a warning names ``what``) and the thread finishes the
    close whenever the server answers, or never: stopping livegen must not hang
    on a wedged server.

    Args:
        call: the close; it must not touch what the caller frees next.
        what: what is closed, for the warning (``a JACK watch client``).
        timeout_s: how long to wait, seconds; None: :data:`JACK_CLOSE_TIMEOUT_S`.

    Returns:
        True when ``call`` returned in time, False when it is still waiting.

    Raises:
        Exception: what ``call`` raised, when it returned in time.
    """
    timeout_s = JACK_CLOSE_TIMEOUT_S if timeout_s is None else timeout_s
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as err:  # handed to the caller
            raised.append(err)

    thread = threading.Thread(target=run, name="jack-close", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        log.warning("the JACK server did not answer closing %s within %.1f s; going on without it",
                    what, timeout_s)
        return False
    if raised:
        raise raised[0]
    return True


def jack_shared_client(jack_client: str = "shared") -> bool:
    """Whether JACK ports opened with ``jack_client`` share one JACK client here.

    Args:
        jack_client: one of :data:`JACK_CLIENTS`.

    Returns:
        True for ``shared`` when ``livegen._jackmidi`` is built (and libjack
        loads); False for ``rtmidi``, or when it is not.

    Raises:
        BackendError: ``jack_client`` is not one of :data:`JACK_CLIENTS`.
    """
    if jack_client not in JACK_CLIENTS:
        raise BackendError(f"unknown JACK client kind {jack_client!r} "
                           f"(choose from {', '.join(JACK_CLIENTS)})")
    return jack_client == "shared" and _jackmidi is not None


def jack_watch(client_name: str) -> Any | None:
    """A JACK client that only watches for the server going away, or None where none can open.

    python-rtmidi's JACK ports never say that the server died (measured with
    python-rtmidi 1.5.8: ``send_message`` returns as before and the error
    callback is not called). A ``livegen._jackmidi`` client that is never
    activated has no ports and no process callback, so it costs the server
    no cycle, but JACK tells it when the server shuts down: its ``closed``
    turns True. Close it with ``close()``.

    Args:
        client_name: the watched ports' client name; the watch is ``<client_name>-watch``.

    Returns:
        The watch client, or None when the extension is not built or no server answers.
    """
    if _jackmidi is None:
        return None
    with quiet_stderr():
        try:
            return _jackmidi.Client(f"{client_name}-watch")
        except OSError:
            return None


def close_watch(watch: Any | None) -> None:
    """Close a :func:`jack_watch` client (None: nothing), waiting at most :data:`JACK_CLOSE_TIMEOUT_S`."""
    if watch is not None:
        close_within(watch.close, "a JACK watch client")


class JackPortHandle:
    """One port's share of a JACK client from a :class:`JackClients` registry.

    Attributes:
        client: the ``livegen._jackmidi.Client`` (or what the registry's factory made).
        direction: ``input`` or ``output``.
    """

    def __init__(self, registry: JackClients, client: Any, direction: str,
                 in_use: set[str]) -> None:
        self._registry = registry
        self._in_use = in_use  # the directions of the client's ports still open (shared)
        self.client = client
        self.direction = direction

    def release(self) -> None:
        """Remove this port from its client; the client closes with its last port."""
        self._registry.release(self, self._in_use)


class JackClients:
    """A registry of one-client JACK clients, by client name.

    Ports acquired from the same registry under the same client name share a
    client, one input and one output per client: a second output gets a
    client of its own, which JACK names ``livegen-01``. A client closes when
    its last port is released; a client whose server went away is forgotten.

    Args:
        factory: makes a client from a name; default ``livegen._jackmidi.Client``.
    """

    def __init__(self, factory: Callable[[str], Any] | None = None) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._clients: dict[str, list[tuple[Any, set[str]]]] = {}  # name -> [(client, in use)]
        self._stuck: list[Any] = []  # clients whose removal or close never returned in time

    def acquire(self, client_name: str, direction: str) -> JackPortHandle:
        """A client named ``client_name`` with no port of ``direction`` yet, new if need be.

        Args:
            client_name: the JACK client name others see.
            direction: ``input`` or ``output``.

        Returns:
            The handle of the port's share; release it with :meth:`JackPortHandle.release`.

        Raises:
            BackendError: a new client cannot open (no JACK server), or no factory
                was given and ``livegen._jackmidi`` is not built.
        """
        factory = self._factory or (None if _jackmidi is None else _jackmidi.Client)
        if factory is None:
            raise BackendError("livegen._jackmidi is not built (it needs JACK's headers at "
                               "install time: see setup.py)")
        with self._lock:
            entries = self._clients.setdefault(client_name, [])
            entries[:] = [e for e in entries if not e[0].closed]  # its server went away
            entry = next((e for e in entries if direction not in e[1]), None)
            if entry is None:
                with quiet_stderr():
                    try:
                        entry = (factory(client_name), set())
                    except OSError as err:
                        raise BackendError(f"cannot open the jack MIDI backend ({err})") from err
                entries.append(entry)
            entry[1].add(direction)
        return JackPortHandle(self, entry[0], direction, entry[1])

    def release(self, handle: JackPortHandle, in_use: set[str]) -> None:
        """Remove ``handle``'s port (an output's queue flushed first); close an unused client.

        Args:
            handle: the port's share, from :meth:`acquire`.
            in_use: the directions of the client's open ports, ``handle``'s among them.
        """
        client = handle.client
        with self._lock:
            stuck = any(c is client for c in self._stuck)
            if handle.direction == "output" and not stuck:
                client.flush(JACK_FLUSH_TIMEOUT_S)  # the last note_offs go out first
            in_use.discard(handle.direction)
            last = not in_use
            if last:
                for entries in self._clients.values():
                    entries[:] = [e for e in entries if e[0] is not client]
                self._stuck = [c for c in self._stuck if c is not client]
            if stuck:
                return  # a call into it never returned: the server gets no other from us

            def remove() -> None:
                if handle.direction == "input":
                    client.remove_input()
                else:
                    client.remove_output()
                if last:
                    client.close()  # also when acquire() forgot it (its server went away)

            if not close_within(remove, f"a JACK {handle.direction} port") and not last:
                self._stuck.append(client)
