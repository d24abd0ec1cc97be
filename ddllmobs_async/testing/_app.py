"""The aiohttp plumbing of the fake: bind a local port, serve one handler, shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

_SHUTDOWN_TIMEOUT = 1.0
_MAX_BODY = 64 * 1024 * 1024

RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LocalServer:
    """Serves every path and method with one handler on ``host:port``."""

    def __init__(self, *, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self._closing = asyncio.Event()
        self.url: str | None = None

    async def start(self, handler: RequestHandler) -> None:
        """Bind the port and start serving every request with ``handler``.

        Raises:
            RuntimeError: If already started.
            OSError: If the address cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("FakeLLMObs is already started")
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", handler)
        app.on_shutdown.append(self._on_shutdown)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._port), family=family)
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner, self._socket = runner, sock
        self._closing.clear()
        host, port = sock.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{port}"

    async def close(self) -> None:
        """Stop serving: drop in-flight answers and close every connection. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self._stop_accepting()
        await runner.cleanup()

    async def sleep(self, seconds: float) -> bool:
        """Sleep; return False if the server started closing meanwhile."""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def _stop_accepting(self) -> None:
        # On Python 3.11, a connection accepted in the loop iteration that closes the
        # listening socket is leaked (asyncio Server._attach asserts). Stop accepting
        # first and let already accepted connections attach before aiohttp closes.
        if self._socket is not None and self._socket.fileno() >= 0:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_reader(self._socket.fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        self._socket = None

    async def _on_shutdown(self, app: web.Application) -> None:
        # Runs once the listening socket is closed: wake delayed answers so they drop
        # their connections instead of holding up shutdown.
        self._closing.set()


async def read_body(request: web.Request) -> bytes:
    """The request body; empty if there is none or the client went away mid-body."""
    if not request.body_exists:
        return b""
    try:
        return await request.read()
    except web.HTTPException:
        raise
    except Exception:  # the client went away mid-body; record what we have (nothing)
        return b""
