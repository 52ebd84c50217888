"""Small real servers for the transport tests: a TLS simulator, a recording server, a CONNECT proxy, a SOCKS5 proxy, a raw one."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme

from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer


@contextlib.contextmanager
def tls_sim(config: SimConfig, ca: trustme.CA, identity: str = "127.0.0.1", **certificate):
    """The simulator serving HTTPS with a certificate for ``identity`` from ``ca``; yields it (``url`` is https).

    ``certificate`` goes to ``trustme.CA.issue_cert`` (``not_after=`` for an expired one)."""
    sim = SimServer(config)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(identity, **certificate).configure_cert(server_context)
    sim._httpd.socket = server_context.wrap_socket(sim._httpd.socket, server_side=True)
    sim.url = sim.url.replace("http://", "https://")
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@contextlib.contextmanager
def unanswered_port():
    """A loopback port whose accept queue is full: a connection to it is never made (the next SYN goes unanswered)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    queued = [socket.socket() for _ in range(3)]
    for sock in queued:
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
    time.sleep(0.1)
    try:
        yield port
    finally:
        for sock in [*queued, listener]:
            sock.close()


class Recorder:
    """An HTTP server that records each request (line and headers) and answers with ``answer(handler)``.

    ``answer`` returns (status, headers, body); the request's body is ``handler.body``. ``connections`` counts the TCP connections accepted;
    the server closes one that is idle for ``idle_timeout`` seconds.
    """

    def __init__(self, answer, idle_timeout: float = 5):
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_timeout

            def setup(self):
                recorder.connections += 1
                super().setup()

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length)
                recorder.requests.append((f"{self.command} {self.path}", dict(self.headers)))
                status, headers, body = answer(self)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args):
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "Recorder":
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # 32 clients connecting at once are not turned away


class ConnectProxy(Recorder):
    """An HTTP proxy that only tunnels (CONNECT host:port, [v6]:port), recording each CONNECT and its headers.

    With ``ca`` it is an https:// proxy (TLS to the proxy, a certificate for 127.0.0.1 from that CA); ``close_unanswered``
    closes each CONNECT without a word, as a proxy that drops the tunnel does."""

    def __init__(self, ca: trustme.CA | None = None, close_unanswered: bool = False):
        super().__init__(answer=None)
        recorder = self

        class Tunnel(self._httpd.RequestHandlerClass):
            def do_CONNECT(self):
                recorder.requests.append((f"CONNECT {self.path}", dict(self.headers)))
                if close_unanswered:
                    self.close_connection = True
                    return
                host, _, port = self.path.rpartition(":")
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                _pipe(self.connection, upstream)
                self.close_connection = True

        self._httpd.RequestHandlerClass = Tunnel
        if ca is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ca.issue_cert("127.0.0.1").configure_cert(context)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.url = self.url.replace("http://", "https://")


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways between two sockets until either side closes."""
    with b:
        while True:
            ready, _, _ = select.select([a, b], [], [], 5)
            if not ready:
                return
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)


class _TcpServer:
    """A loopback TCP server that serves each connection in a thread with ``_serve(client)``; ``connections``
    counts the connections accepted. ``scheme`` makes its ``url``."""

    scheme = "http"

    def __init__(self):
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"{self.scheme}://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        raise NotImplementedError


class SocksProxy(_TcpServer):
    """A SOCKS5 proxy (RFC 1928) without authentication that records each CONNECT as ``host:port`` and tunnels it;
    a target that refuses the connection is answered 5 (connection refused), as a SOCKS proxy does."""

    scheme = "socks5h"

    def __init__(self):
        super().__init__()
        self.connects: list[str] = []

    def _serve(self, client: socket.socket) -> None:
        with client, client.makefile("rb") as stream, contextlib.suppress(OSError):
            _, count = stream.read(2)
            stream.read(count)
            client.sendall(b"\x05\x00")  # no authentication
            _, _, _, kind = stream.read(4)
            host = stream.read(stream.read(1)[0]).decode() if kind == 3 else socket.inet_ntop(
                socket.AF_INET if kind == 1 else socket.AF_INET6, stream.read(4 if kind == 1 else 16))
            port = int.from_bytes(stream.read(2), "big")
            self.connects.append(f"{host}:{port}")
            try:
                upstream = socket.create_connection((host, port), timeout=5)
            except OSError:
                client.sendall(b"\x05\x05\x00\x01" + bytes(6))
                return
            client.sendall(b"\x05\x00\x00\x01" + bytes(6))
            _pipe(client, upstream)


class RawServer(_TcpServer):
    """A TCP server that answers each request with exactly the bytes ``answer(request_line)`` returns, for answers
    no well-behaved server library writes (interim 1xx answers, cut bodies, early answers).

    ``answer`` returns a list of byte strings, sent ``apart`` seconds apart (20 ms; :func:`trickled` cuts an answer
    into single bytes); ``None`` in it closes the connection there.
    A request's body is read only when ``read_bodies`` is set. ``connections`` counts the connections accepted,
    ``closed_by_client`` those the client closed while the server waited for its next request.
    """

    def __init__(self, answer, read_bodies: bool = True, apart: float = 0.02):
        super().__init__()
        self.closed_by_client = 0
        self._answer, self._read_bodies, self._apart = answer, read_bodies, apart

    def _serve(self, client: socket.socket) -> None:
        with client, client.makefile("rb") as stream, contextlib.suppress(OSError):
            while True:
                line = stream.readline()
                if not line:
                    self.closed_by_client += 1
                    return
                length, header = 0, b""
                while header not in (b"\r\n", b"\n"):
                    header = stream.readline()
                    name, _, value = header.partition(b":")
                    length = int(value) if name.strip().lower() == b"content-length" else length
                    if not header:
                        return
                if self._read_bodies:
                    stream.read(length)
                for piece in self._answer(line.decode().strip()):
                    if piece is None:
                        return
                    client.sendall(piece)
                    time.sleep(self._apart)


def trickled(answer: bytes) -> list[bytes]:
    """An answer as RawServer pieces of one byte each: a server that sends a byte at a time."""
    return [answer[i:i + 1] for i in range(len(answer))]
