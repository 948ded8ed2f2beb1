"""Start and stop the sandbox: moto's WSGI app on 127.0.0.1, with our extensions installed.

``Sandbox`` is a context manager (tests, the drill) and what ``pitr-runbook sandbox`` runs until
stopped. boto3 reaches it over HTTP through ``endpoint_url``, exactly as it reaches AWS.
"""

from __future__ import annotations

import atexit
import gc
import io
import json
import logging
import os
import threading
import urllib.request
from functools import lru_cache
from typing import Any

from ..aws.clients import is_loopback_host
from .settings import SETTINGS

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


@lru_cache(maxsize=256)
def _loopback_in(value: str) -> bool:
    """Whether a ``Host`` header or an ``Origin`` names a loopback host; kept per value (a client
    sends the same one with every request: no URL parsing per request)."""
    return is_loopback_host(_host_of(value))


def _host_of(value: str) -> str:
    """The host part of a ``Host`` header or an ``Origin`` (``scheme://host[:port]``)."""
    from urllib.parse import urlsplit

    if "://" not in value:
        value = "//" + value
    try:
        return urlsplit(value).hostname or ""
    except ValueError:
        return ""


def refusal(environ) -> str | None:
    """Why a request must not reach the sandbox, or None.

    The sandbox runs uploaded code and holds whatever a drill put in it, and until IAM principals
    are used it trusts any signature. Two ways a web page in the user's browser could drive it are
    closed here: DNS rebinding (a name the attacker controls resolving to 127.0.0.1: the browser
    then sends that name as ``Host``) and cross-site requests (a page posting a form or a
    ``fetch`` to ``http://127.0.0.1:PORT``: the browser adds ``Origin``, which no SDK sends).
    Responses carry no CORS headers either (moto's global CORS is switched off in ``start``).
    """
    host = environ.get("HTTP_HOST")
    if not host or not _loopback_in(host):
        return f"the sandbox answers only requests addressed to a loopback host (127.0.0.1 or localhost), not Host: {host!r}"
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and not _loopback_in(origin):
        return f"the sandbox refuses cross-site requests from a web page (Origin: {origin!r})"
    if environ.get("HTTP_SEC_FETCH_SITE", "").lower() == "cross-site":
        return "the sandbox refuses cross-site requests from a web page (Sec-Fetch-Site: cross-site)"
    return None


#: the most of a request body left unread by the app that is read and dropped to keep the
#: connection open (a larger rest: the connection is closed, as werkzeug always does)
_DRAIN_LIMIT = 1 << 20
#: seconds an idle kept-alive connection waits for its next request before the server closes it
KEEP_ALIVE_SECONDS = 60


class _Body:
    """A request body of ``Content-Length`` bytes over the connection's stream: reads stop at its
    end (the next request's bytes are never handed to the app), and what is left can be drained."""

    def __init__(self, stream, length: int) -> None:
        self._stream = stream
        self.left = length

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.left:
            size = self.left
        data = self._stream.read(size) if size else b""
        self.left -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.left:
            size = self.left
        data = self._stream.readline(size) if size else b""
        self.left -= len(data)
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines = []
        while self.left:
            line = self.readline()
            if not line:
                break
            lines.append(line)
        return lines

    def __iter__(self):
        return iter(self.readline, b"")

    def drain(self) -> bool:
        """Read and drop the rest of the body; False when it is too long or the stream ended."""
        if self.left > _DRAIN_LIMIT:
            return False
        while self.left:
            if not self.read(min(self.left, 65536)):
                return False
        return True


#: the open connections of each server: a stopped sandbox closes its kept-alive ones
_connections: dict[Any, set] = {}
_connections_lock = threading.Lock()


def _close_connections(server) -> None:
    import socket

    with _connections_lock:
        open_ = _connections.pop(server, set())
    for conn in open_:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _request_handler():
    """moto's request handler with HTTP/1.1 keep-alive, which werkzeug's development server turns
    off for every response (``Connection: close``, because ``http.server`` would read an unread
    request body as the next request). Here the app reads the body through :class:`_Body`, and
    the rest is drained before the connection is kept: a ``Content-Length`` body of at most
    ``_DRAIN_LIMIT`` bytes, or none. A chunked request body, a longer one, an HTTP/1.0 client, or
    a client that asks for ``Connection: close`` still closes it. An SDK then sends its requests
    over the same connection, as it does to AWS, instead of a new connection (and a new server
    thread) per request."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveRequestHandler(MotoRequestHandler):
        timeout = KEEP_ALIVE_SECONDS
        # werkzeug writes the headers and the body in separate sends: on a kept connection,
        # Nagle's algorithm would hold the body until the client's delayed ACK (tens of ms)
        disable_nagle_algorithm = True

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            # werkzeug formats the request line, the client address and the date before its
            # logger's level is looked at; ``start`` sets that logger to CRITICAL
            if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
                super().log_request(code, size)

        def setup(self) -> None:
            super().setup()
            with _connections_lock:
                _connections.setdefault(self.server, set()).add(self.connection)

        def handle_one_request(self) -> None:
            self._restore_rfile()
            self._body = None  # set by make_environ when the request is handed to the app
            super().handle_one_request()

        def finish(self) -> None:
            self._restore_rfile()
            with _connections_lock:
                _connections.get(self.server, set()).discard(self.connection)
            super().finish()

        def _restore_rfile(self) -> None:
            real = self.__dict__.pop("_real_rfile", None)
            if real is not None:
                self.rfile = real

        def make_environ(self):
            environ = super().make_environ()
            chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if not chunked and length >= 0:
                self._body = _Body(environ["wsgi.input"], length)
                environ["wsgi.input"] = self._body
            return environ

        def send_header(self, keyword: str, value: str) -> None:
            if keyword.lower() == "connection" and value.lower() == "close":
                body = getattr(self, "_body", None)
                if body is not None and not self.close_connection and body.drain():
                    # kept open: the response is framed (Content-Length or chunked). After the
                    # response werkzeug reads and drops whatever else the client has sent (it
                    # assumes the connection closes): that is the next request now, so until
                    # then it reads from an empty stream instead (the app reads its body
                    # through the _Body it was handed, not through self.rfile)
                    self._real_rfile, self.rfile = self.rfile, io.BytesIO()
                    return
            super().send_header(keyword, value)

    return KeepAliveRequestHandler


#: the cyclic garbage collector's first threshold while a sandbox runs (Python's default: 700
#: allocations). A request allocates thousands of container objects (parsed JSON, moto's models,
#: the answer), so at 700 a collection ran several times per request, and each older-generation
#: one walked every item the tables hold; at this threshold, about one per request.
GC_THRESHOLD = 50_000

_freeze_at_exit_registered = False


def _freeze_at_exit() -> None:
    """At interpreter exit, move every object out of the garbage collector's walks: the collections
    Python runs while it shuts down would otherwise walk all that the sandbox held (a drill's tables,
    journal, queues, logs: 8.6 s of a 20,000-item drill's process after its last line, 2.3 s for a
    table of 10,000 items). Nothing is lost: the process is ending and the OS takes its memory back."""
    gc.freeze()


def _backend_app(create_backend_app):
    """moto's ``create_backend_app``, with a request class that reads a form body without Flask's
    debug-mode helper: moto runs its apps with ``debug = True``, and for every request whose body
    is not multipart (each SDK call) Flask then makes a new subclass of the request's ``files``
    dict, only to word a ``KeyError`` for HTML forms better (about 1 % of the server's CPU on the
    replay path). Nothing else of debug mode changes: error handling and answers are the same."""
    from werkzeug.wrappers import Request as WerkzeugRequest

    def create(service):
        app = create_backend_app(service)
        base = app.request_class

        class SandboxRequest(base):
            def _load_form_data(self) -> None:
                # Flask's override adds only the debug helper to werkzeug's
                WerkzeugRequest._load_form_data(self)

        app.request_class = SandboxRequest
        return app

    return create


def _install_extensions() -> None:
    """Patch moto where it falls short of AWS. Idempotent; process-wide, like moto's backends."""
    import importlib

    from .extra import require_sandbox_extra
    from .faults import EXTENSIONS

    require_sandbox_extra()  # without moto: one line naming the remedy, not an ImportError
    for name in EXTENSIONS:
        importlib.import_module(f"{__package__}.{name}").install()


class Sandbox:
    """A moto server extended for this runbook, bound to loopback only.

    moto's backends are process-wide: two sandboxes in one process would serve the same resources
    and run two Lambda runtimes over the same mappings. ``Sandbox.current()`` is the one running.

    >>> with Sandbox(restore_seconds=2) as sb:
    ...     boto3.client("dynamodb", endpoint_url=sb.endpoint_url, region_name="us-east-1")
    """

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = 0,
        *,
        restore_seconds: float | None = None,
        restorable_lag: float | None = None,
        region: str = "us-east-1",
    ) -> None:
        if host not in (LOOPBACK, "localhost"):
            # Bind only to loopback: the sandbox accepts any credentials.
            raise ValueError(f"the sandbox binds only to 127.0.0.1, not {host!r}")
        self.host = LOOPBACK
        self.port = port
        self.region = region
        if restore_seconds is not None:
            SETTINGS.restore_seconds = float(restore_seconds)
        if restorable_lag is not None:
            SETTINGS.restorable_lag = float(restorable_lag)
        self.settings = SETTINGS
        self._server = None
        self._thread: threading.Thread | None = None
        self._gc_before: tuple[int, ...] | None = None
        self.runtime = None

    _running: "list[Sandbox]" = []

    @classmethod
    def current(cls) -> "Sandbox | None":
        return cls._running[-1] if cls._running else None

    # -- life cycle -------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Sandbox":
        from .extra import require_sandbox_extra

        require_sandbox_extra()  # before moto's first import: without it, one line naming the remedy
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        if Sandbox._running:
            raise RuntimeError(
                f"a sandbox already runs in this process at {Sandbox._running[-1].endpoint_url}: moto's state is "
                "process-wide, use that one (Sandbox.current())"
            )
        _install_extensions()
        # moto answers every request with ``Access-Control-Allow-Origin: *`` unless told not to
        # (MOTO_DISABLE_GLOBAL_CORS, read once at import): a page in the user's browser could then
        # read the sandbox's answers. The flag is a module global of moto's werkzeug app, read each
        # time a service's app is made, which happens after this point.
        import moto.moto_server.werkzeug_app as moto_app

        moto_app.DISABLE_GLOBAL_CORS = True
        # werkzeug logs every request line, and the traceback of every call moto does not
        # implement (answered 500, which the client sees); keep the console for the runbook
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        app = DomainDispatcherApplication(_backend_app(create_backend_app))
        self._server = make_server(
            self.host, self.port, _with_admin_routes(app, self), True, request_handler=_request_handler()
        )
        self.port = self._server.server_address[1]
        # moto's Step Functions interpreter sends its aws-sdk tasks to localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-http", daemon=True)
        self._thread.start()
        self._configure_moto()
        from .lambda_runtime import LambdaRuntime

        self.runtime = LambdaRuntime(self.endpoint_url, region=self.region)
        self.runtime.start()
        self._tune_gc()
        Sandbox._running.append(self)
        log.info("sandbox listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        if self in Sandbox._running:
            Sandbox._running.remove(self)
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            _close_connections(self._server)  # kept-alive connections end with the sandbox
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._gc_before is not None:
            gc.set_threshold(*self._gc_before)
            gc.unfreeze()
            self._gc_before = None

    def _tune_gc(self) -> None:
        """The process's garbage collector, while the sandbox runs: what is alive once it has
        started (moto, botocore's service models, the interpreter's modules: hundreds of thousands
        of objects that live as long as the process) is moved out of the collector's walks
        (``gc.freeze``), and the first threshold raised to :data:`GC_THRESHOLD`. Collections still
        run (cycles are still freed); only how often, and over what, changes. ``stop`` restores
        both: the settings are process-wide. A process that ran a sandbox freezes everything at
        exit (:func:`_freeze_at_exit`)."""
        global _freeze_at_exit_registered
        if not _freeze_at_exit_registered:
            atexit.register(_freeze_at_exit)
            _freeze_at_exit_registered = True
        self._gc_before = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(max(GC_THRESHOLD, self._gc_before[0]), *self._gc_before[1:])

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every resource (as ``POST /moto-api/reset``) and stop every Lambda worker."""
        if self.runtime is not None:
            self.runtime.reset()
        self._post("/moto-api/reset", None)
        self._configure_moto()

    def _configure_moto(self) -> None:
        self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})

    def _post(self, path: str, body: Any) -> bytes:
        data = json.dumps(body).encode() if body is not None else b""
        req = urllib.request.Request(self.endpoint_url + path, data=data, method="POST")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback only
            return resp.read()


def _json_response(start_response, status: str, body: Any) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def _faults_route(environ, start_response):
    from . import faults

    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            faults.configure(json.loads(environ["wsgi.input"].read(length) or b"{}"))
        except (faults.FaultError, ValueError) as exc:
            return _json_response(start_response, "400 Bad Request", {"message": str(exc)})
    return _json_response(start_response, "200 OK", faults.snapshot())


def _with_admin_routes(app, sandbox: Sandbox):
    """``/_sandbox/settings`` (GET, POST JSON) lets another process tune the sandbox over HTTP;
    ``/_sandbox/faults`` switches injected faults (``faults.py``); ``/_sandbox/stats`` reads (GET) or
    zeroes (POST) the request counters (``stats.py``); a moto reset clears faults and counters."""

    def wsgi(environ, start_response):
        refused = refusal(environ)
        if refused is not None:
            log.warning("sandbox: refused a request: %s", refused)
            return _json_response(start_response, "403 Forbidden", {"__type": "AccessDeniedException", "message": refused})
        path = environ.get("PATH_INFO")
        if path == "/_sandbox/faults":
            return _faults_route(environ, start_response)
        if path == "/_sandbox/stats":
            from . import stats

            if environ["REQUEST_METHOD"] == "POST":
                stats.clear()
            return _json_response(start_response, "200 OK", stats.snapshot())
        if path == "/moto-api/reset":
            from . import faults, sqs_clock, sqs_partial_send, stats

            faults.clear()
            stats.clear()
            sqs_clock.reset()
            sqs_partial_send.reset()
        if path == "/_sandbox/settings":
            if environ["REQUEST_METHOD"] == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = json.loads(environ["wsgi.input"].read(length) or b"{}")
                for name, value in body.items():
                    if not hasattr(SETTINGS, name):
                        start_response("400 Bad Request", [("Content-Type", "application/json")])
                        return [json.dumps({"message": f"unknown setting {name}"}).encode()]
                    setattr(SETTINGS, name, type(getattr(SETTINGS, name))(value))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(vars(SETTINGS)).encode()]
        return app(environ, start_response)

    return wsgi
