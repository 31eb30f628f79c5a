"""``justask serve``: a local web console to ask trained models and watch them act.

``catalog`` finds the run folders and datasets under the roots it is given, ``jobs`` runs asks
and replays (bounded, one at a time), ``app`` is the web app, ``static/`` the page.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections made before the server runs wait in the backlog
    except OSError as exc:
        from justask.errors import JustAskError

        sock.close()
        raise JustAskError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _server(roots: list[Path], max_waiting: int | None) -> Any:
    import uvicorn

    from justask.console.app import create_app

    app = create_app(roots, max_waiting)
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2))


def _url(sock: socket.socket, host: str) -> str:
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    return f"http://{shown}:{sock.getsockname()[1]}/"


def serve(roots: list[Path], host: str = "127.0.0.1", port: int = 0, announce: Callable[[str], None] = print) -> None:
    """Serve the console on ``host:port`` (port 0: a free one), printing the address once bound."""
    server = _server(roots, None)  # the catalog is read (and checked) before the port is taken
    sock = _bound_socket(host, port)
    announce(f"justask console: {_url(sock, host)}  (serving {', '.join(str(r) for r in roots)}; Ctrl-C stops)")
    server.run(sockets=[sock])


@contextlib.contextmanager
def running(roots: list[Path], host: str = "127.0.0.1", max_waiting: int | None = None) -> Iterator[str]:
    """The console served from a thread of this process on a free port (tests, benchmarks);
    yields its address and stops it afterwards."""
    server = _server(roots, max_waiting)
    sock = _bound_socket(host, 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield _url(sock, host)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
