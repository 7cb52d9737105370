"""Containment under a flood (issue #43): 1,000 other products' Security Hub findings, 200 denied
CloudTrail calls and one real GuardDuty finding, delivered together.

Each delivery is one `firebreak respond` process, as one Lambda invocation is one run; each goes to the
function its EventBridge rule names in template.yaml, and each function runs at most its reserved
concurrency at once (a pool of that many workers draining its queue in arrival order: Lambda's
asynchronous queue). The real finding is the last of its queue to arrive. Two routings are measured on
the same binary and the same emulator:
- `as deployed`: Security Hub's copies of GuardDuty's findings to the GuardDuty responder (10), every
  other product's to the findings notifier (5), CloudTrail to the CloudTrail responder (10);
- `one function for Security Hub` (before issue #43): every Security Hub finding to the GuardDuty
  responder.
Measured: seconds from delivery until the real instance is isolated, and how many notifications the
1,200 others produced (SNS's sent notifications in the emulator) within the hour; the counts the sweep
tells once the hour is over are read from the state table. Writes bench/pressure-results.json."""
import json
import os
import pathlib
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from run import ROOT, emulator, env_for, produced, seed  # noqa: E402

FIREBREAK = os.environ.get("BENCH_FIREBREAK", str(ROOT / "target/release/firebreak"))
OTHERS = int(os.environ.get("BENCH_OTHER_FINDINGS", "1000"))
DENIED = int(os.environ.get("BENCH_DENIED_CALLS", "200"))
CONCURRENCY = {"guardduty-responder": 10, "findings-notifier": 5, "cloudtrail-responder": 10}


def inspector(n):
    event = json.loads((ROOT / "events/securityhub/asff-inspector-ec2-cve.json").read_text())
    finding = event["detail"]["findings"][0]
    finding["Id"] = f"{finding['Id']}-{n}"
    event["id"] = f"5ec0{n:028x}"
    return event


def denied(n):
    event = json.loads((ROOT / "events/cloudtrail/sg-open-ssh-to-world.json").read_text())
    event["id"] = f"7e0c0000-0000-4000-8000-{n:012}"
    d = event["detail"]
    d.update({"eventID": f"7e0c0000-0000-4000-9000-{n:012}", "eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com",
              "errorCode": "AccessDenied", "errorMessage": "User is not authorized to perform: cloudtrail:StopLogging",
              "requestParameters": {"name": "management-events"}, "responseElements": None,
              "userIdentity": {"type": "AssumedRole", "principalId": f"AROAEXAMPLEINTRUDER:session-{n}",
                               "arn": f"arn:aws:sts::123456789012:assumed-role/intruder/session-{n}", "accountId": "123456789012",
                               "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/intruder"}}}})
    return event


def real(world):
    text = (ROOT / "events/guardduty/ec2-backdoor-high-severity.json").read_text()
    return json.loads(text.replace("i-0abc1234def567890", world["instance"]).replace("vpc-0a1b2c3d", world["vpc"]))


def sent(endpoint, topic):
    """The notifications SNS accepted on the topic: the `sent_notifications` moto's state dump keeps
    on the topic."""
    data = json.loads(urllib.request.urlopen(endpoint + "/moto-api/data.json").read())
    found = []

    def walk(node):
        if isinstance(node, dict):
            if topic in (node.get("arn"), node.get("topic_arn")) and "sent_notifications" in node:
                found.extend(node["sent_notifications"])
            else:
                for v in node.values():
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(data)
    return found


def tallies(endpoint):
    import boto3
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    items = dynamodb.scan(TableName="firebreak-state", FilterExpression="begins_with(pk, :t)",
                          ExpressionAttributeValues={":t": {"S": "tally#"}})["Items"]
    return sorted((i["kind"]["S"], i["what"]["S"], i["who"]["S"], int(i["count"]["N"])) for i in items)


def run(endpoint, routing):
    world = seed(endpoint)
    env = env_for(endpoint) | {"FIREBREAK_TOPIC_ARN": world["topic"], "FIREBREAK_STATE_TABLE": "firebreak-state",
                               "FIREBREAK_SETTLE_SECONDS": "0", "FIREBREAK_SECURITY_HUB_WRITE_BACK": "off"}
    with tempfile.TemporaryDirectory() as d:
        def file(name, event):
            path = pathlib.Path(d) / name
            path.write_text(json.dumps(event))
            return str(path)
        real_path = file("real.json", real(world))
        produced(world, real_path)
        flood_sh = [file(f"sh-{n}.json", inspector(n)) for n in range(OTHERS)]
        flood_ct = [file(f"ct-{n}.json", denied(n)) for n in range(DENIED)]
        sh_function = "findings-notifier" if routing == "as deployed" else "guardduty-responder"
        queues = {name: queue.Queue() for name in CONCURRENCY}
        # Arrival order: the floods interleaved, the real finding last of all.
        for n in range(max(OTHERS, DENIED)):
            if n < OTHERS:
                queues[sh_function].put(flood_sh[n])
            if n < DENIED:
                queues["cloudtrail-responder"].put(flood_ct[n])
        queues["guardduty-responder"].put(real_path)
        done = {}
        failures = []
        start = time.monotonic()

        def worker(name):
            while True:
                try:
                    path = queues[name].get_nowait()
                except queue.Empty:
                    return
                out = subprocess.run([FIREBREAK, "respond", path], env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    failures.append((path, out.stderr[-500:]))
                if path == real_path:
                    done["isolated_after"] = time.monotonic() - start
                    done["report"] = out.stdout
        threads = [threading.Thread(target=worker, args=(name,)) for name, n in CONCURRENCY.items() for _ in range(n)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        total = time.monotonic() - start
    report = json.loads(done["report"])["reports"][0]
    isolate = next(a for a in report["actions"] if a["action"] == "isolate_instance")
    notes = sent(endpoint, world["topic"])
    return {
        "routing": routing,
        "real_isolated": isolate["status"] == "done",
        "seconds_to_isolation": round(done["isolated_after"], 1),
        "seconds_for_everything": round(total, 1),
        "notifications_within_the_hour": len(notes),
        "notifications_of_the_others": len(notes) - 1,
        "counts_told_after_the_hour": tallies(endpoint),
        "failed_runs": len(failures),
        "first_failure": failures[0] if failures else None,
    }


def main():
    with emulator() as (_, endpoint):
        results = [run(endpoint, routing) for routing in ("as deployed", "one function for Security Hub")]
    (ROOT / "bench/pressure-results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"| routing | real instance isolated | after (s) | all {OTHERS + DENIED + 1:,} runs (s) | notifications of the "
          f"{OTHERS + DENIED:,} others within the hour | counts the sweep tells after the hour | failed runs |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        counts = "; ".join(f"{w} {who.rsplit('/', 1)[-1]}: {c}" for _, w, who, c in r["counts_told_after_the_hour"])
        print(f"| {r['routing']} | {r['real_isolated']} | {r['seconds_to_isolation']} | {r['seconds_for_everything']} | "
              f"{r['notifications_of_the_others']} | {counts} | {r['failed_runs']} |")


if __name__ == "__main__":
    main()
