"""Side-by-side benchmarks: Firebreak vs Cloud Custodian on identical, freshly seeded moto state.

1. Cold start to first containment: a fresh process handles one high-severity GuardDuty finding end
   to end (isolate, snapshot, tag, notify); wall time, CPU time (user+sys) and peak RSS, N runs each,
   interleaved, medians and ratios.
2. AWS calls and round trips: the same run through a counting proxy that adds a fixed delay to each
   call; (wall with delay - wall without) / delay = round trips on the critical path.
Writes bench/results.json and prints a Markdown table."""
import json
import os
import pathlib
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


def timed(cmd, env, cwd=None):
    """(wall s, cpu s, peak RSS MiB) of one fresh process, from its rusage (microsecond CPU times)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{out.read()[-4000:].decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def seed(endpoint):
    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST")).read()
    out = subprocess.run([PY, str(ROOT / "bench/seed.py"), endpoint], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def finding(world, directory):
    text = (ROOT / "events/guardduty/ec2-backdoor-high-severity.json").read_text()
    path = pathlib.Path(directory) / "finding.json"
    path.write_text(text.replace("i-0abc1234def567890", world["instance"]))
    return str(path)


def firebreak(world, endpoint, directory):
    env = env_for(endpoint) | {"FIREBREAK_TOPIC_ARN": world["topic"], "FIREBREAK_STATE_TABLE": "firebreak-state", "FIREBREAK_SETTLE_SECONDS": "0"}
    return timed([str(ROOT / "target/release/firebreak"), "respond", finding(world, directory)], env)


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


def main():
    port = free_port()
    moto = subprocess.Popen([PY, str(ROOT / "tests/emulator/moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
                            env=os.environ | {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        endpoint = f"http://127.0.0.1:{port}"
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
                files.append(str(path))
            env = env_for(endpoint) | {"FIREBREAK_TOPIC_ARN": world["topic"], "FIREBREAK_STATE_TABLE": "firebreak-state", "FIREBREAK_SETTLE_SECONDS": "0"}
            warm = timed([str(ROOT / "target/release/firebreak"), "respond"] + files, env)
        calls = {}
        delayed = {}
        for name, run in tools.items():
            proxy_port = free_port()
            with tempfile.TemporaryDirectory() as d:
                counts = pathlib.Path(d) / "counts.json"
                proxy = subprocess.Popen([PY, str(ROOT / "bench/proxy.py"), str(proxy_port), str(port), str(DELAY_MS), str(counts)])
                wait_port(proxy_port)
                world = seed(endpoint)
                delayed[name] = run(world, f"http://127.0.0.1:{proxy_port}", d)[0]
                proxy.send_signal(signal.SIGTERM)
                proxy.wait(10)
                calls[name] = json.loads(counts.read_text())
    finally:
        moto.terminate()
        moto.wait()

    def median(name, i):
        return statistics.median(s[i] for s in samples[name])

    results = {
        "runs": RUNS,
        "delay_ms": DELAY_MS,
        "cold_start": {name: {"wall_s": median(name, 0), "cpu_s": median(name, 1), "peak_rss_mib": median(name, 2),
                              "samples": samples[name]} for name in tools},
        "calls": {name: {"total": sum(c.values()), "by_action": c} for name, c in calls.items()},
        "round_trips": {name: round((delayed[name] - median(name, 0)) / (DELAY_MS / 1000), 1) for name in tools},
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
    print(f"| round trips on the critical path ({DELAY_MS} ms each) | {results['round_trips']['firebreak']} | {results['round_trips']['custodian']} | |")
    print(f"\nFirebreak, one warm process, 10 findings: {warm[0] * 1000:.0f} ms wall, {warm[1] * 1000:.1f} ms CPU, peak RSS {warm[2]:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
