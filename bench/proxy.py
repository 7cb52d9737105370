"""A counting proxy in front of moto: records every AWS call's action, adds a delay to each (a fixed
one, or per service with BENCH_LATENCY="ec2=60,dynamodb=8,..."), optionally answers every Nth call
with the service's throttling error (BENCH_THROTTLE_EVERY=N), and notes when each
ModifyNetworkInterfaceAttribute answered (time.monotonic(), the clock the runner reads too) and with
which groups. Writes {"counts", "swaps"} as JSON on SIGTERM."""
import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

port, upstream_port, delay_ms, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
LATENCY = {k: int(v) for k, v in (p.split("=") for p in os.environ.get("BENCH_LATENCY", "").split(",") if p)}
THROTTLE_EVERY = int(os.environ.get("BENCH_THROTTLE_EVERY", "0"))
TRACE = bool(os.environ.get("BENCH_TRACE"))
counts = {}
swaps = []
calls = [0]
lock = threading.Lock()
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


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

    def throttle(self, json_protocol, query):
        error_type = None
        if json_protocol:
            status, content_type = 400, "application/x-amz-json-1.0"
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        elif self.path.split("?")[0] != "/":
            # A REST-JSON service (GuardDuty, Security Hub, Lambda): the error type is a header.
            status, content_type, error_type = 429, "application/json", "TooManyRequestsException"
            body = json.dumps({"message": "Rate exceeded"}).encode()
        elif "Version=2016-11-15" in query:
            status, content_type = 503, "text/xml"
            body = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>"
        else:
            status, content_type = 400, "text/xml"
            body = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        target = self.headers.get("X-Amz-Target")
        query = body.decode("utf-8", "replace")
        action = target.rsplit(".", 1)[-1] if target else (parse_qs(query).get("Action") or [self.path])[0]
        scope = SCOPE.search(self.headers.get("Authorization", ""))
        service = scope.group(1) if scope else "?"
        with lock:
            counts[action] = counts.get(action, 0) + 1
            calls[0] += 1
            throttled = THROTTLE_EVERY and calls[0] % THROTTLE_EVERY == 0
        if TRACE:
            print(f"{time.monotonic():.3f} {service} {action}", file=sys.stderr, flush=True)
        time.sleep(LATENCY.get(service, delay_ms) / 1000)
        if throttled:
            return self.throttle(target is not None, query)
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
        if action == "ModifyNetworkInterfaceAttribute" and response.status == 200:
            groups = sorted(v[0] for k, v in parse_qs(query).items() if k.startswith("SecurityGroupId"))
            with lock:
                swaps.append([time.monotonic(), groups])


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)


def stop(*_):
    with open(out, "w") as f:
        json.dump({"counts": counts, "swaps": swaps}, f, sort_keys=True)
    threading.Thread(target=server.shutdown).start()


signal.signal(signal.SIGTERM, stop)
server.serve_forever()
