"""A real HTTP server on 127.0.0.1 for the download tests: it serves given bytes by name, with or
without HTTP range support, and can cut the connection part-way through a file the first time
it is asked for it, as a flaky network does. Every request is recorded (name, Range header)."""

from __future__ import annotations

import http.server
import re
import threading
from contextlib import contextmanager
from typing import Iterator


class FileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes], *, ranges: bool, cut_after: int | None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.ranges = ranges
        self.cut_after = cut_after
        self.cut: set[str] = set()          # names already cut once
        self.requests: list[tuple[str, str | None]] = []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FileServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        asked = self.headers.get("Range")
        self.server.requests.append((name, asked))
        data = self.server.files.get(name)
        if data is None:
            self.send_error(404)
            return
        start = 0
        found = re.fullmatch(r"bytes=(\d+)-", asked or "")
        if self.server.ranges and found:
            start = int(found.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)  # a server without ranges ignores the header
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.cut_after is not None and name not in self.server.cut:
            self.server.cut.add(name)
            self.wfile.write(body[: self.server.cut_after])
            self.close_connection = True  # the rest never comes: the client sees the cut
            return
        self.wfile.write(body)


@contextmanager
def serving(files: dict[str, bytes], *, ranges: bool = True,
            cut_after: int | None = None) -> Iterator[FileServer]:
    """A FileServer in a thread for the length of the block."""
    server = FileServer(files, ranges=ranges, cut_after=cut_after)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
