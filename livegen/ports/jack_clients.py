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

log = logging.getLogger(__name__)

__all__ = [
    "JACK_CLIENTS",
    "JACK_CLOSE_TIMEOUT_S",
    "JACK_FLUSH_TIMEOUT_S",
    "JackClients",
    "JackPortHandle",
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
#: How long closing a one-client JACK port waits for the server to answer, seconds.
#: A server that answers does so in milliseconds (jackd's own client timeout, ``-t``,
#: is 500 ms by default); one stopped or wedged never does, and the daemon must exit.
JACK_CLOSE_TIMEOUT_S = 2.0


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
    """Close a :func:`jack_watch` client, waiting at most :data:`JACK_CLOSE_TIMEOUT_S`.

    Closing is a request to the server, and a server that stopped answering
    (SIGSTOP, a wedged driver, a client holding up its cycles) would block it
    for good: a CI run once hung in it until the run's time limit. As in
    :meth:`JackClients.release`, the request runs on a thread of its own;
    without an answer the client is left to the server, with one warning, and
    the caller goes on.

    Args:
        watch: the watch client, or None (nothing to close).
    """
    if watch is not None:
        _answered_within(watch.close, JACK_CLOSE_TIMEOUT_S, "watch client")


def _answered_within(requests: Callable[[], None], timeout_s: float, what: str) -> bool:
    """Run ``requests`` to the JACK server on a ``livegen-jack-close`` thread, waiting ``timeout_s``.

    Returns:
        True when they returned in time; else False, after one warning that ``what`` is left
        to the server (the thread stays blocked, a daemon, and ends if the server answers).
        The warning names :data:`JACK_CLOSE_TIMEOUT_S`, the server's share of the wait: an
        output's flush (:data:`JACK_FLUSH_TIMEOUT_S`) comes on top of it in ``timeout_s``.
    """
    worker = threading.Thread(target=requests, name="livegen-jack-close", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not worker.is_alive():
        return True
    log.warning("the JACK server did not answer for %g s: livegen's %s is left to it",
                JACK_CLOSE_TIMEOUT_S, what)
    return False


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
        self._unanswered: list[Any] = []  # clients whose server stopped answering while closing

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

        The requests to the server run on a thread of their own
        (``livegen-jack-close``): a server that stopped answering (SIGSTOP, a
        wedged driver) would block them for good. After
        :data:`JACK_CLOSE_TIMEOUT_S` without an answer the port is left to the
        server, with one warning, and the client is never asked again: the
        daemon still exits. A stopped server moves no MIDI, so nothing more
        could reach the receiver anyway.

        Args:
            handle: the port's share, from :meth:`acquire`.
            in_use: the directions of the client's open ports, ``handle``'s among them.
        """
        client = handle.client
        with self._lock:
            in_use.discard(handle.direction)
            last = not in_use
            if last:
                self._forget(client)
            if any(c is client for c in self._unanswered):
                return

        def requests() -> None:
            if handle.direction == "input":
                client.remove_input()
            else:
                client.flush(JACK_FLUSH_TIMEOUT_S)  # the last note_offs go out first
                client.remove_output()
            if last:
                client.close()  # also when acquire() forgot it (its server went away)

        timeout_s = JACK_CLOSE_TIMEOUT_S + (JACK_FLUSH_TIMEOUT_S if handle.direction == "output" else 0)
        if not _answered_within(requests, timeout_s, f"{handle.direction} port"):
            with self._lock:
                self._unanswered.append(client)
                self._forget(client)

    def _forget(self, client: Any) -> None:
        """Drop ``client`` from the registry (under its lock): no later acquire gets it."""
        for entries in self._clients.values():
            entries[:] = [e for e in entries if e[0] is not client]
