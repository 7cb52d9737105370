"""What a flood of anonymous requests at the approval URL does, with and without the front door (issue #29).

The approval function runs under `cargo lambda watch` against moto server, as in the tests: one function
instance, so invocations queue as they do at a reserved concurrency of one. A person opens a valid
approval link every 0.5 s while flooders POST forged tokens as fast as they can; measured: the person's
latency and failures, and how many flood requests reached the function.

The front door is modelled, not emulated: there is no CloudFront or AWS WAF here. The model applies what
their documentation states: origin access control makes Lambda refuse any request CloudFront did not
sign before the function runs (AuthType AWS_IAM), so a flood can only come through CloudFront; there
WAF's rate-based rule counts each IP's requests over the evaluation window (300 s) and blocks the IPs
over the limit, re-checking about every 10 s (so a burst gets through until the next check). The client
IP is the model's header `x-flood-client`.

Writes bench/flood-results.json and prints a Markdown table. Run: .venv/moto/bin/python bench/flood.py"""
import base64
import collections
import hashlib
import hmac
import http.client
import http.server
import json
import os
import pathlib
import socket
import socketserver
import statistics
import subprocess
import threading
import time

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("FLOOD_SECONDS", "20"))
FLOODERS = int(os.environ.get("FLOOD_THREADS", "8"))
LIMIT = int(os.environ.get("FLOOD_WAF_LIMIT", "30"))
WINDOW = 300
CHECK_EVERY = 10
KEY = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01"
INCIDENT = "incident#guardduty#123456789012#us-east-1#flood-bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(key, verdict, deadline):
    """The token `Signer::token` makes (shared/src/approval/mod.rs)."""
    message = f"firebreak-approval/v1\n{verdict}\n{deadline}\n{key}".encode()
    tag = hmac.new(KEY.encode(), message, hashlib.sha256).digest()
    return f"v1.{verdict}.{deadline}.{b64(key.encode())}.{b64(tag)}"


def wait_listening(port, seconds=600):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port}")


def request(port, method, path, headers=None, body=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class WafModel(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def __init__(self, port, upstream):
        self.upstream = upstream
        self.seen = collections.defaultdict(collections.deque)
        self.blocked = set()
        self.lock = threading.Lock()
        self.forwarded = collections.Counter()
        self.refused = collections.Counter()
        super().__init__(("127.0.0.1", port), WafHandler)
        threading.Thread(target=self.checker, daemon=True).start()

    def checker(self):
        while True:
            time.sleep(CHECK_EVERY)
            now = time.time()
            with self.lock:
                for ip, times in self.seen.items():
                    while times and times[0] < now - WINDOW:
                        times.popleft()
                    (self.blocked.add if len(times) > LIMIT else self.blocked.discard)(ip)


class WafHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle_one(self, method):
        server = self.server
        ip = self.headers.get("x-flood-client", "198.51.100.1")
        role = self.headers.get("x-flood-role", "person")
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        with server.lock:
            server.seen[ip].append(time.time())
            blocked = ip in server.blocked
        if blocked:
            server.refused[role] += 1
            self.send_response(403)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        server.forwarded[role] += 1
        status = request(server.upstream, method, self.path, {"content-type": "application/x-www-form-urlencoded"}, body)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        self.handle_one("GET")

    def do_POST(self):
        self.handle_one("POST")


def scenario(name, person_port, flood_port, clients, approve_path):
    """The person's GETs and the flood for SECONDS; flood_port None: no flood."""
    stop = threading.Event()
    flood = collections.Counter()

    def flooder(n):
        forged = f"token=v1.approve.9999999999.{b64(INCIDENT.encode())}.AAAA"
        i = 0
        while not stop.is_set():
            ip = f"203.0.113.{(n * 1000 + i) % clients}" if clients > 1 else "203.0.113.1"
            i += 1
            try:
                status = request(flood_port, "POST", "/lambda-url/approval-responder/",
                                 {"x-flood-client": ip, "x-flood-role": "flood",
                                  "content-type": "application/x-www-form-urlencoded"}, forged, timeout=10)
                flood[status] += 1
            except OSError:
                flood["error"] += 1

    threads = [threading.Thread(target=flooder, args=(n,)) for n in range(FLOODERS if flood_port else 0)]
    for t in threads:
        t.start()
    latencies, failures = [], 0
    end = time.time() + SECONDS
    while time.time() < end:
        started = time.time()
        try:
            status = request(person_port, "GET", approve_path, {"x-flood-client": "192.0.2.10"}, timeout=30)
        except OSError:
            status = None
        if status == 200:
            latencies.append((time.time() - started) * 1000)
        else:
            failures += 1
        time.sleep(max(0.0, 0.5 - (time.time() - started)))
    stop.set()
    for t in threads:
        t.join()
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None
    return {"scenario": name, "person_requests": len(latencies) + failures, "person_failures": failures,
            "person_p50_ms": pick(0.5), "person_p95_ms": pick(0.95), "person_max_ms": pick(1.0),
            "flood_sent": sum(flood.values()), "flood_status": dict(flood)}


def main():
    moto_port, watch_port = free_port(), free_port()
    moto = subprocess.Popen([str(ROOT / ".venv/moto/bin/moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watch = None
    try:
        wait_listening(moto_port)
        endpoint = f"http://127.0.0.1:{moto_port}"
        aws = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                   aws_secret_access_key="testing")
        ddb = boto3.client("dynamodb", **aws)
        ddb.create_table(TableName="firebreak-state", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "queue", "AttributeType": "S"}],
                         GlobalSecondaryIndexes=[{"IndexName": "queue", "Projection": {"ProjectionType": "ALL"},
                                                  "KeySchema": [{"AttributeName": "queue", "KeyType": "HASH"},
                                                                {"AttributeName": "pk", "KeyType": "RANGE"}]}],
                         BillingMode="PAY_PER_REQUEST")
        secret = boto3.client("secretsmanager", **aws).create_secret(Name="firebreak-approval-key", SecretString=KEY)
        topic = boto3.client("sns", **aws).create_topic(Name="firebreak-notifications")["TopicArn"]
        deadline = int(time.time()) + 7200
        stored = {"key": INCIDENT, "status": "pending", "requested_at": deadline - 7200, "deadline": deadline,
                  "summary": "GuardDuty finding Backdoor:EC2/C&CActivity.B on i-0abc1234def567890",
                  "account": "123456789012", "region": "us-east-1", "reasons": ["flood benchmark"],
                  "actions": ["Isolate it from the network (i-0abc1234def567890): isolate"], "event": ""}
        ddb.put_item(TableName="firebreak-state", Item={
            "pk": {"S": "approval#" + INCIDENT}, "status": {"S": "pending"}, "deadline": {"N": str(deadline)},
            "request": {"S": json.dumps(stored)}})
        env = [f"AWS_ENDPOINT_URL={endpoint}", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing",
               "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true", f"FIREBREAK_TOPIC_ARN={topic}",
               "FIREBREAK_STATE_TABLE=firebreak-state", f"FIREBREAK_APPROVAL_SECRET_ARN={secret['ARN']}",
               "FIREBREAK_CONTAINMENT_FUNCTION=guardduty-responder"]
        args = [str(ROOT / ".venv/cargo-lambda/bin/cargo-lambda"), "lambda", "watch", "-A", "127.0.0.1", "-P",
                str(watch_port)]
        for pair in env:
            args += ["--env-var", pair]
        watch = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        wait_listening(watch_port)
        path = f"/lambda-url/approval-responder/?token={token(INCIDENT, 'approve', deadline)}"
        # The first request builds and starts the function.
        assert request(watch_port, "GET", path, timeout=900) == 200, "the approval page answers"
        results = [scenario("no flood", watch_port, None, 1, path),
                   scenario("flood at the function URL (no front door)", watch_port, watch_port, 1, path)]
        for clients in (1, 200):
            waf = WafModel(free_port(), watch_port)
            threading.Thread(target=waf.serve_forever, daemon=True).start()
            result = scenario(f"front door, flood from {clients} IP{'s' if clients > 1 else ''}",
                              waf.server_address[1], waf.server_address[1], clients, path)
            result["flood_reached_function"] = waf.forwarded["flood"]
            result["flood_blocked_by_waf"] = waf.refused["flood"]
            waf.shutdown()
            results.append(result)
        results[1]["flood_reached_function"] = results[1]["flood_sent"]
        out = {"seconds": SECONDS, "flooders": FLOODERS, "waf_limit_per_ip": LIMIT, "window_s": WINDOW,
               "waf_check_every_s": CHECK_EVERY, "results": results}
        (ROOT / "bench/flood-results.json").write_text(json.dumps(out, indent=2) + "\n")
        print(f"| scenario ({SECONDS:.0f} s, {FLOODERS} flooding clients) | person p50 / p95 / max | person failures "
              "| flood requests | reached the function |")
        print("|---|---|---|---|---|")
        for r in results:
            print(f"| {r['scenario']} | {r['person_p50_ms']} / {r['person_p95_ms']} / {r['person_max_ms']} ms "
                  f"| {r['person_failures']} of {r['person_requests']} | {r['flood_sent']} "
                  f"| {r.get('flood_reached_function', 0)} |")
    finally:
        if watch:
            os.killpg(watch.pid, 15)
            watch.wait()
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
