"""A control socket: a running process (``ouc channel run``, ``ouc serve``, ``ouc connect``)
takes requests from another shell.

Decision: a Unix domain socket (mode 0600), not a loopback TCP port. Only the user who runs the
process (and root) can connect to it, with no token to manage.

The protocol is one JSON object per line each way, one request per connection: a request is
``{"op": ..., ...}``; the answer ``{"ok": true, ...}``, or for any failure ``{"ok": false,
"error": "ConfigError", "message": ..., "status": 32931, "path": ...}``, which
:func:`control_request` raises again as that exception. A subclass of :class:`JsonLineServer`
says what each ``op`` does (:meth:`JsonLineServer.handle`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

from ouc.errors import (
    CertError,
    ConfigError,
    OucConnectionError,
    OucError,
    ParamError,
    StoreError,
    TLSError,
    WaitTimeoutError,
)

__all__ = ["JsonLineServer", "control_request"]

log = logging.getLogger("ouc.control")

_MAX_LINE = 64 * 1024  # a request or an answer is far smaller
_MAX_PATH = 107  # sun_path holds 108 bytes with the terminating NUL
_READ_TIMEOUT = 10.0  # seconds a client may take to send its request
_RAISED_AGAIN: tuple[type[OucError], ...] = (
    ConfigError,
    OucConnectionError,
    CertError,
    StoreError,
    TLSError,
    ParamError,
    WaitTimeoutError,
)
_ERRORS: dict[str, type[OucError]] = {cls.__name__: cls for cls in _RAISED_AGAIN}


def check_path(path: Path, hint: str = "give a shorter one with --control") -> str:
    """``path`` as text, when it fits a Unix socket address; ConfigError (with ``hint``) else."""
    text = str(path)
    if len(os.fsencode(text)) > _MAX_PATH:
        raise ConfigError(
            f"the control socket path is longer than {_MAX_PATH} bytes (a Unix socket limit); "
            f"{hint}",
            path=text,
        )
    return text


def check_socket_path(path: str | Path) -> str:
    """What :meth:`JsonLineServer.start` will need of ``path``, checked before anything else
    starts (an endpoint that listens and then fails on its control socket confuses its
    partners): it fits a Unix socket address, its folder exists, and nothing but a socket is
    there already. ConfigError naming the path otherwise."""
    text = check_path(Path(path))
    folder = Path(text).parent
    if not folder.is_dir():
        raise ConfigError(f"folder {str(folder)!r} does not exist (create it first)", path=text)
    if os.path.lexists(text) and not stat.S_ISSOCK(os.lstat(text).st_mode):
        raise ConfigError("exists and is not a socket; not replacing it", path=text)
    return text


def _read_line(sock: socket.socket) -> bytes:
    """One line (without the newline), at most ``_MAX_LINE`` bytes."""
    data = bytearray()
    while b"\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > _MAX_LINE:
            raise ConfigError("the control message is too long", path="control")
    return bytes(data.split(b"\n", 1)[0])


class JsonLineServer:
    """Serves a control socket on a thread; one short thread per client.

    Args:
        path: the socket's path. A stale socket file (nobody answers) is replaced; a live one,
            or a file that is not a socket, is a ConfigError.
        name: what runs (``"a channel"``, ``"ouc serve"``), for messages and thread names.
        hint: how to choose another path, for a path that is too long.
    """

    def __init__(
        self, path: str | Path, *, name: str, hint: str = "give a shorter one with --control"
    ) -> None:
        self.name = name
        self.hint = hint
        self.path = Path(path)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def start(self) -> JsonLineServer:
        """Bind and listen; returns self.

        Raises:
            ConfigError: the path is too long, in use by a running channel, or not a socket;
                the socket cannot be created.
        """
        text = check_path(self.path, self.hint)
        self._remove_stale(text)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(text)
            os.chmod(text, 0o600)
            sock.listen(16)
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot create the control socket: {exc.strerror or exc}", path=text
            ) from exc
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="ouc-control", daemon=True)
        self._thread.start()
        return self

    def _remove_stale(self, text: str) -> None:
        try:
            mode = os.lstat(text).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ConfigError("exists and is not a socket; not replacing it", path=text)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(text)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(text)  # nobody listens: left over from a channel that died
            return
        finally:
            probe.close()
        raise ConfigError(f"{self.name} is already running with this control socket", path=text)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, wait for the clients being served, remove the socket file."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        sock.close()
        with self._lock:
            threads = [t for t in (self._thread, *self._clients) if t is not None]
        for thread in threads:
            thread.join(timeout)
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def __enter__(self) -> JsonLineServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while True:
            sock = self._sock
            if sock is None:
                return
            try:
                client, _ = sock.accept()
            except OSError:
                return  # stop() shut the socket down
            thread = threading.Thread(
                target=self._serve, args=(client,), name="ouc-control-client", daemon=True
            )
            with self._lock:
                self._clients = {t for t in self._clients if t.is_alive()}
                self._clients.add(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                client.settimeout(_READ_TIMEOUT)
                line = _read_line(client)
                answer = self.answer(line)
                client.settimeout(_READ_TIMEOUT)
                client.sendall(json.dumps(answer).encode() + b"\n")
            except (OSError, OucError) as exc:
                log.info("control client failed: %s", exc)

    def answer(self, line: bytes) -> dict[str, Any]:
        """The answer to one request line (errors become ``ok: false`` answers)."""
        try:
            try:
                request = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConfigError(f"the request is not JSON: {exc}", path="control") from exc
            if not isinstance(request, dict):
                raise ConfigError("the request is not a JSON object", path="control")
            return {"ok": True, **self.handle(request)}
        except OucError as exc:
            return {
                "ok": False,
                "error": type(exc).__name__,
                "message": exc.message,
                "status": exc.status,
                "path": exc.path,
            }
        except Exception as exc:  # a bug: the client still gets an answer, the log the trace
            log.exception("%s: the control request failed", self.name)
            return {
                "ok": False,
                "error": "OucError",
                "message": f"internal error in {self.name}: {type(exc).__name__}: {exc}; "
                "see its log",
                "status": None,
                "path": "control",
            }

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer fields for one request (raise OucError to refuse it)."""
        raise NotImplementedError


def control_request(
    path: str | Path,
    request: dict[str, Any],
    *,
    timeout: float = 10.0,
    name: str = "the process",
    start_hint: str = "is it running?",
    hint: str = "give a shorter one with --control",
) -> dict[str, Any]:
    """Send one request to a running process's control socket; its answer.

    Raises:
        ConfigError: nothing answers at ``path``; the answer is not JSON.
        OucError: the process refused the request (the same exception class, message, status
            and path as there).
    """
    text = check_path(Path(path), hint)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(text)
        except OSError as exc:
            raise ConfigError(
                f"nothing answers here ({exc.strerror or exc}); {start_hint}",
                path=text,
            ) from exc
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            line = _read_line(sock)
        except OSError as exc:
            raise ConfigError(f"{name} did not answer: {exc}", path=text) from exc
    finally:
        sock.close()
    try:
        answer = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"the answer of {name} is not JSON", path=text) from exc
    if not isinstance(answer, dict):
        raise ConfigError(f"the answer of {name} is not a JSON object", path=text)
    if not answer.get("ok"):
        cls = _ERRORS.get(str(answer.get("error")), OucError)
        if cls is WaitTimeoutError:  # it never has a status
            raise WaitTimeoutError(str(answer.get("message")), path=answer.get("path"))
        raise cls(
            str(answer.get("message")),
            status=answer.get("status"),
            path=answer.get("path"),
        )
    return answer
