"""A counting proxy in front of moto: records every AWS call's action and adds a fixed delay to each,
so that wall time measures the round trips on the critical path. Writes the counts to a JSON file on
SIGTERM."""
import http.client
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

port, upstream_port, delay_ms, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
counts = {}
TRACE = bool(__import__("os").environ.get("BENCH_TRACE"))
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Without this, Nagle's algorithm and delayed ACKs add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.forward()

    def do_GET(self):
        self.forward()

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        target = self.headers.get("X-Amz-Target")
        action = target.rsplit(".", 1)[-1] if target else (parse_qs(body.decode("utf-8", "replace")).get("Action") or [self.path])[0]
        with lock:
            counts[action] = counts.get(action, 0) + 1
        if TRACE:
            print(f"{time.monotonic():.3f} {action}", file=sys.stderr, flush=True)
        time.sleep(delay_ms / 1000)
        conn = http.client.HTTPConnection("127.0.0.1", upstream_port)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
        headers["Host"] = f"127.0.0.1:{upstream_port}"
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)


def stop(*_):
    with open(out, "w") as f:
        json.dump(counts, f, sort_keys=True)
    threading.Thread(target=server.shutdown).start()


signal.signal(signal.SIGTERM, stop)
server.serve_forever()
