"""Side-by-side benchmarks: Firebreak vs Cloud Custodian on identical, freshly seeded moto state.

1. Cold start to first containment: a fresh process handles one high-severity GuardDuty finding end
   to end (isolate, snapshot, tag, notify); wall time, CPU time (user+sys) and peak RSS, N runs each,
   interleaved, medians and ratios.
2. AWS calls and round trips: the same run through a counting proxy that adds a fixed delay to each
   call; (wall with delay - wall without) / delay = round trips on the critical path, to the end of
   the run and to the moments the interface swaps answered (the untracking swap, the isolation swap).
3. Time to isolation with a realistic latency per service (BENCH_LATENCY), for one instance (both
   tools) and for an attack sequence naming 25 instances (Firebreak), also with every 10th call
   throttled.
Writes bench/results.json and prints Markdown tables."""
import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PY = str(VENV / "moto/bin/python")
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
DELAY_MS = int(os.environ.get("BENCH_DELAY_MS", "50"))
# Per-service latencies (ms) for section 3: the example figures of issue #22 for same-region calls,
# not measured here; the proxy adds them to every call of that service (by its SigV4 scope).
LATENCY = os.environ.get("BENCH_LATENCY", "ec2=60,dynamodb=8,sns=20,autoscaling=40,elasticloadbalancing=40,sts=20,iam=40,monitoring=20")
FLEET = 25
# The binary under test: the release build bench/run makes, unless told otherwise.
FIREBREAK = os.environ.get("BENCH_FIREBREAK", str(ROOT / "target/release/firebreak"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def env_for(endpoint):
    return {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
    }


# Linux keeps a process's peak RSS across exec: a child forked from this Python process reports at
# least this process's RSS (21 MiB here, whatever it then runs). GNU time, itself small, forks the
# measured process and reports that process's own peak.
GNU_TIME = "/usr/bin/time"


def timed(cmd, env, cwd=None):
    """(wall s, cpu s, peak RSS MiB) of one fresh process: CPU from its rusage (microsecond CPU times),
    its peak RSS as GNU time measured it."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as peak:
        start = time.perf_counter()
        proc = subprocess.Popen([GNU_TIME, "-f", "%M", "-o", peak.name] + cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            text = out.read().decode(errors="replace")
            failed = [m.group(0) for m in re.finditer(r'"action":"[a-z_]+"(,"target":"[^"]*")?,"status":"failed","error":"(?:[^"\\]|\\.)*"', text)]
            raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n" + ("\n".join(failed) or text[-4000:]))
        kib = int(peak.read().strip().splitlines()[-1])
    return wall, usage.ru_utime + usage.ru_stime, kib / 1024


def seed(endpoint, count=1):
    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST")).read()
    out = subprocess.run([PY, str(ROOT / "bench/seed.py"), endpoint, str(count)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout) | {"emulator": endpoint}


def produced(world, path):
    """GuardDuty produced the finding of the event in `path`: it goes into the emulator's findings store
    (tests/emulator/moto_server.py), where Firebreak's GetFindings confirms it before acting. Sent to the
    emulator directly, never through the counting proxy."""
    detail = json.loads(pathlib.Path(path).read_text())["detail"]
    body = {"account": detail["accountId"], "region": detail["region"], "detectorId": detail["service"]["detectorId"], "finding": detail}
    request = urllib.request.Request(world["emulator"] + "/firebreak-emulator/guardduty/findings", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()


def finding(world, directory):
    """The sample finding about the seeded instance, naming its VPC as GuardDuty's finding would."""
    text = (ROOT / "events/guardduty/ec2-backdoor-high-severity.json").read_text()
    path = pathlib.Path(directory) / "finding.json"
    path.write_text(text.replace("i-0abc1234def567890", world["instance"]).replace("vpc-0a1b2c3d", world["vpc"]))
    return str(path)


def sequence(world, directory):
    """The sample EC2 instance-group attack sequence, naming the first instance directly and the others
    through its Auto Scaling group."""
    event = json.loads((ROOT / "events/guardduty/attack-sequence-ec2-instance-group.json").read_text())
    resources = event["detail"]["service"]["detection"]["sequence"]["resources"]
    resources[0]["uid"] = world["instances"][0]
    resources[1]["data"]["autoscalingAutoScalingGroup"]["ec2InstanceUids"] = world["instances"][1:]
    resources[2]["data"]["iamInstanceProfile"]["ec2InstanceUids"] = []
    path = pathlib.Path(directory) / "sequence.json"
    path.write_text(json.dumps(event))
    return str(path)


def firebreak(world, endpoint, directory, event=finding):
    env = env_for(endpoint) | {"FIREBREAK_TOPIC_ARN": world["topic"], "FIREBREAK_STATE_TABLE": "firebreak-state",
                               "FIREBREAK_SETTLE_SECONDS": "0", "FIREBREAK_MAX_CONTAINMENTS_PER_HOUR": "100"}
    path = event(world, directory)
    produced(world, path)
    return timed([FIREBREAK, "respond", path], env)


def firebreak_fleet(world, endpoint, directory):
    return firebreak(world, endpoint, directory, sequence)


CUSTODIAN = """
import json, sys
from c7n import handler
handler.dispatch_event(json.load(open(sys.argv[1])), None)
"""


def custodian(world, endpoint, directory):
    policy = {
        "execution-options": {"account_id": "123456789012", "output_dir": directory},
        "policies": [{
            "name": "gd-contain",
            "resource": "ec2",
            "mode": {"type": "guard-duty", "role": "arn:aws:iam::123456789012:role/custodian"},
            "actions": [
                {"type": "modify-security-groups", "isolation-group": world["isolation"], "remove": "all"},
                {"type": "snapshot"},
                {"type": "tag", "key": "incident", "value": "guardduty"},
                {"type": "notify", "to": ["security@example.com"], "subject": "GuardDuty containment",
                 "transport": {"type": "sns", "topic": world["topic"]}},
            ],
        }],
    }
    (pathlib.Path(directory) / "config.json").write_text(json.dumps(policy))
    env = env_for(endpoint) | {"C7N_CATCH_ERR": "yes"}
    return timed([str(VENV / "custodian/bin/python"), "-c", CUSTODIAN, finding(world, directory)], env, cwd=directory)


def contained(world, endpoint):
    return subprocess.run([PY, str(ROOT / "bench/check.py"), endpoint, world["instance"], world["web"]], capture_output=True).returncode == 0


def all_isolated(world, endpoint):
    """Every interface of every seeded instance carries only Firebreak's isolation group."""
    import boto3
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": world["instances"]}])["NetworkInterfaces"]
    return len(enis) >= len(world["instances"]) and all([g["GroupId"] for g in e["Groups"]] == [world["fb_isolation"]] for e in enis)


def proxied(tool, world, port, delay_ms, directory, latency="", throttle_every=0):
    """Run `tool` through a fresh proxy; (wall s, counts, [(seconds after start, groups)] of the swaps)."""
    proxy_port = free_port()
    record = pathlib.Path(directory) / "proxy.json"
    env = os.environ | {"BENCH_LATENCY": latency, "BENCH_THROTTLE_EVERY": str(throttle_every)}
    proxy = subprocess.Popen([PY, str(ROOT / "bench/proxy.py"), str(proxy_port), str(port), str(delay_ms), str(record)], env=env)
    wait_port(proxy_port)
    start = time.monotonic()
    try:
        wall = tool(world, f"http://127.0.0.1:{proxy_port}", directory)[0]
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(10)
    seen = json.loads(record.read_text())
    return wall, seen["counts"], [(t - start, groups) for t, groups in seen["swaps"]]


def swap_times(world, swaps, tool):
    """(seconds to the first untracking swap, seconds to the last isolation swap) of one run."""
    if tool == "custodian":
        isolated = [t for t, g in swaps if g == [world["isolation"]]]
        return None, max(isolated) if isolated else None
    untracked = [t for t, g in swaps if g == [world["fb_untracking"]]]
    isolated = [t for t, g in swaps if g == [world["fb_isolation"]]]
    return (min(untracked) if untracked else None), (max(isolated) if isolated else None)


@contextlib.contextmanager
def emulator():
    """The test emulator (moto with Firebreak's corrections) on a free loopback port, stopped after."""
    port = free_port()
    moto = subprocess.Popen([PY, str(ROOT / "tests/emulator/moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
                            env=os.environ | {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port, f"http://127.0.0.1:{port}"
    finally:
        moto.terminate()
        moto.wait()


def main():
    with emulator() as (port, endpoint):
        tools = {"firebreak": firebreak, "custodian": custodian}
        samples = {name: [] for name in tools}
        for _ in range(RUNS):
            for name, run in tools.items():
                world = seed(endpoint)
                with tempfile.TemporaryDirectory() as d:
                    samples[name].append(run(world, endpoint, d))
                if not contained(world, endpoint):
                    raise RuntimeError(f"{name} did not contain the instance")
        # A warm process: one `firebreak respond` handling ten findings in a row (the first contains,
        # the others find the instance isolated and snapshot it for their own incident).
        world = seed(endpoint)
        with tempfile.TemporaryDirectory() as d:
            first = pathlib.Path(finding(world, d)).read_text()
            files = []
            for k in range(10):
                path = pathlib.Path(d) / f"finding-{k}.json"
                path.write_text(first.replace("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7", f"{k:032x}"))
                produced(world, path)
                files.append(str(path))
            env = env_for(endpoint) | {"FIREBREAK_TOPIC_ARN": world["topic"], "FIREBREAK_STATE_TABLE": "firebreak-state", "FIREBREAK_SETTLE_SECONDS": "0"}
            warm = timed([FIREBREAK, "respond"] + files, env)
        calls = {}
        trips = {}
        for name, run in tools.items():
            samples_by_delay = {}
            for delay in (0, DELAY_MS):
                runs = []
                for _ in range(3):
                    with tempfile.TemporaryDirectory() as d:
                        world = seed(endpoint)
                        wall, counts, swaps = proxied(run, world, port, delay, d)
                        untrack, isolate = swap_times(world, swaps, name)
                        runs.append((wall, untrack, isolate))
                        calls[name] = counts
                samples_by_delay[delay] = runs

            def trip(i):
                plain = [r[i] for r in samples_by_delay[0]]
                slow = [r[i] for r in samples_by_delay[DELAY_MS]]
                if None in plain or None in slow:
                    return None
                return round((statistics.median(slow) - statistics.median(plain)) / (DELAY_MS / 1000), 1)
            trips[name] = {"to_end": trip(0), "to_untracking_swap": trip(1), "to_isolation_swap": trip(2)}
        # Section 3: realistic per-service latency; one instance (both tools), 25 (Firebreak), throttled.
        realistic = {}
        scenarios = [("firebreak", firebreak, 1, 0), ("custodian", custodian, 1, 0),
                     ("firebreak_25", firebreak_fleet, FLEET, 0), ("firebreak_25_throttled", firebreak_fleet, FLEET, 10)]
        for label, run, count, throttle in scenarios:
            runs = []
            for _ in range(3):
                with tempfile.TemporaryDirectory() as d:
                    world = seed(endpoint, count)
                    wall, counts, swaps = proxied(run, world, port, DELAY_MS, d, LATENCY, throttle)
                    untrack, isolate = swap_times(world, swaps, "custodian" if label == "custodian" else "firebreak")
                    ok = contained(world, endpoint) if count == 1 else all_isolated(world, endpoint)
                    if not ok:
                        raise RuntimeError(f"{label} did not isolate every instance")
                    runs.append({"wall_s": wall, "untracking_swap_s": untrack, "isolation_swap_s": isolate, "calls": sum(counts.values())})
            realistic[label] = {k: statistics.median(r[k] for r in runs) if runs[0][k] is not None else None for k in runs[0]}

    def median(name, i):
        return statistics.median(s[i] for s in samples[name])

    results = {
        "runs": RUNS,
        "delay_ms": DELAY_MS,
        "cold_start": {name: {"wall_s": median(name, 0), "cpu_s": median(name, 1), "peak_rss_mib": median(name, 2),
                              "samples": samples[name]} for name in tools},
        "calls": {name: {"total": sum(c.values()), "by_action": c} for name, c in calls.items()},
        "round_trips": trips,
        "latency_ms": LATENCY,
        "realistic": realistic,
        "firebreak_warm_10_events": {"wall_s": warm[0], "cpu_s": warm[1], "peak_rss_mib": warm[2]},
    }
    f, c = results["cold_start"]["firebreak"], results["cold_start"]["custodian"]
    results["ratios"] = {"wall": c["wall_s"] / f["wall_s"], "cpu": c["cpu_s"] / f["cpu_s"], "rss": c["peak_rss_mib"] / f["peak_rss_mib"]}
    (ROOT / "bench/results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"| measure (median of {RUNS}) | Firebreak | Cloud Custodian | ratio |")
    print("|---|---|---|---|")
    print(f"| wall time, fresh process to contained | {f['wall_s'] * 1000:.0f} ms | {c['wall_s'] * 1000:.0f} ms | {results['ratios']['wall']:.1f}x |")
    print(f"| CPU time (user+sys) | {f['cpu_s'] * 1000:.1f} ms | {c['cpu_s'] * 1000:.0f} ms | {results['ratios']['cpu']:.0f}x |")
    print(f"| peak RSS | {f['peak_rss_mib']:.0f} MiB | {c['peak_rss_mib']:.0f} MiB | {results['ratios']['rss']:.1f}x |")
    print(f"| AWS calls | {results['calls']['firebreak']['total']} | {results['calls']['custodian']['total']} | |")
    for key, label in (("to_untracking_swap", "untracking swap"), ("to_isolation_swap", "isolation swap"), ("to_end", "end of the run")):
        print(f"| round trips to the {label} ({DELAY_MS} ms each) | {trips['firebreak'][key]} | {trips['custodian'][key]} | |")
    ms = lambda v: "-" if v is None else f"{v * 1000:.0f} ms"
    print(f"\nWith per-service latency ({LATENCY}), median of 3:\n")
    print("| run | to the untracking swap | to isolation | whole run | calls |")
    print("|---|---|---|---|---|")
    for label, r in realistic.items():
        print(f"| {label} | {ms(r['untracking_swap_s'])} | {ms(r['isolation_swap_s'])} | {ms(r['wall_s'])} | {r['calls']:.0f} |")
    print(f"\nFirebreak, one warm process, 10 findings: {warm[0] * 1000:.0f} ms wall, {warm[1] * 1000:.1f} ms CPU, peak RSS {warm[2]:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
