"""A loopback HTTP server with Range support for the STAC/URL tests, run as its own process
(GDAL's HTTP client may hold the GIL of the process that reads, so the server must not share it).

``python _range_server.py ROOT MAX_REQUESTS MAX_SECONDS`` serves ROOT on 127.0.0.1 (ephemeral
port, printed on the first line of stdout); ``/__stats`` answers ``{"bytes": .., "requests": ..}``
and ``/__reset`` zeroes them; paths containing ``/private/`` answer 403.  The process exits by
itself after MAX_REQUESTS requests or MAX_SECONDS seconds.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATS = {"bytes": 0, "requests": 0}


class Handler(BaseHTTPRequestHandler):
    root: Path
    max_requests: int

    def log_message(self, *a: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _json(self, obj: object) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        path = self.path.split("?", 1)[0].lstrip("/")
        if path == "__stats":
            self._json(STATS)
            return
        if path == "__reset":
            STATS.update(bytes=0, requests=0)
            self._json(STATS)
            return
        STATS["requests"] += 1
        if STATS["requests"] > self.max_requests:
            self.send_error(503, "request budget exhausted")
            return
        if "/private/" in "/" + path:
            self.send_error(403, "Server failed to authenticate the request")
            return
        f = (self.root / path).resolve()
        if self.root not in f.parents or not f.is_file():
            self.send_error(404, "not found")
            return
        data = f.read_bytes()
        rng = self.headers.get("Range")
        start, end = 0, len(data) - 1
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", (rng or "").strip())
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
        body = data[start:end + 1]
        self.send_response(206 if m else 200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        if m:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
            STATS["bytes"] += len(body)


def main() -> None:
    root, max_requests, max_seconds = Path(sys.argv[1]).resolve(), int(sys.argv[2]), \
        float(sys.argv[3])
    Handler.root = root
    Handler.max_requests = max_requests
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Timer(max_seconds, lambda: os._exit(0)).start()
    print(srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
