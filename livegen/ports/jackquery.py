"""A short-lived JACK client on libjack (``ctypes``): the server's real-time flag, period, connections.

It asks a running JACK server (jackd, or PipeWire's JACK) through the libjack
this process loads, the one python-rtmidi uses, for what ``livegen doctor``
reports. It never starts a server.
"""

from __future__ import annotations

import ctypes
import os

from livegen.ports.backends import quiet_stderr

__all__ = ["JackQuery", "LIBJACK"]

LIBJACK = "libjack.so.0"
_JACK_NO_START_SERVER = 0x01  # jack/types.h: JackNoStartServer
_JACK_DEFAULT_SERVER = "default"  # libjack's server name when $JACK_DEFAULT_SERVER is unset


class JackQuery:
    """A short-lived JACK client (ctypes on libjack) that asks the server what livegen needs to know.

    Opens on libjack's default server (``$JACK_DEFAULT_SERVER``) and never starts
    one. Use as a context manager; :meth:`close` is idempotent.

    Raises:
        OSError: libjack cannot be loaded, or no JACK server answers.
    """

    def __init__(self, client_name: str = "livegen-doctor") -> None:
        lib = ctypes.CDLL(LIBJACK)
        lib.jack_client_open.restype = ctypes.c_void_p
        for name in ("jack_port_by_name", "jack_port_get_all_connections"):
            getattr(lib, name).restype = ctypes.c_void_p
        for name in ("jack_port_by_name", "jack_port_get_all_connections", "jack_is_realtime",
                     "jack_get_sample_rate", "jack_get_buffer_size", "jack_client_close"):
            getattr(lib, name).argtypes = [ctypes.c_void_p] + (
                [ctypes.c_char_p] if name == "jack_port_by_name" else
                [ctypes.c_void_p] if name == "jack_port_get_all_connections" else [])
        lib.jack_free.argtypes = [ctypes.c_void_p]
        self._lib = lib
        status = ctypes.c_int(0)
        with quiet_stderr():
            client = lib.jack_client_open(client_name.encode(), _JACK_NO_START_SERVER,
                                          ctypes.byref(status))
        if not client:
            server = os.environ.get("JACK_DEFAULT_SERVER", _JACK_DEFAULT_SERVER)
            raise OSError(f"no JACK server named {server!r} answers (jack status 0x{status.value:x})")
        self._client: int | None = client

    def __enter__(self) -> JackQuery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the JACK client."""
        client, self._client = self._client, None
        if client:
            self._lib.jack_client_close(client)

    @property
    def realtime(self) -> bool:
        """Whether the server runs its process threads with real-time scheduling."""
        return bool(self._lib.jack_is_realtime(self._client))

    @property
    def rate_hz(self) -> int:
        """Sample rate, frames per second."""
        return int(self._lib.jack_get_sample_rate(self._client))

    @property
    def period_frames(self) -> int:
        """Frames per period (PipeWire: the quantum); MIDI moves once per period."""
        return int(self._lib.jack_get_buffer_size(self._client))

    def connections(self, port_name: str) -> list[str] | None:
        """The ports connected to ``port_name`` (full ``client:port`` names); None if it does not exist."""
        port = self._lib.jack_port_by_name(self._client, port_name.encode())
        if not port:
            return None
        names = self._lib.jack_port_get_all_connections(self._client, port)
        if not names:
            return []
        array = ctypes.cast(names, ctypes.POINTER(ctypes.c_char_p))
        found = []
        i = 0
        while array[i] is not None:
            found.append(array[i].decode(errors="replace"))
            i += 1
        self._lib.jack_free(names)
        return found
