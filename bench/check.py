"""Exit 0 when the instance carries only a group other than its original one and has snapshots."""
import sys

import boto3

endpoint, instance, original = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2 = boto3.client("ec2", **kw)
enis = ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [instance]}])["NetworkInterfaces"]
groups = [[g["GroupId"] for g in e["Groups"]] for e in enis]
snaps = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
ok = groups and all(g and original not in g for g in groups) and len(snaps) >= 2
print(f"groups={groups} snapshots={len(snaps)}", file=sys.stderr)
sys.exit(0 if ok else 1)
