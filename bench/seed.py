"""Seed one identical world in moto for both tools: a VPC, a subnet, the instance's security group, a
running instance with two EBS volumes (or COUNT of them: `seed.py ENDPOINT [COUNT]`), an isolation
group (Cloud Custodian needs one that exists), Firebreak's containment groups recorded in its state
table as after its first containment in the VPC, the notification topic. Prints the ids as JSON."""
import json
import sys

import boto3

endpoint = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2 = boto3.client("ec2", **kw)
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
isolation = ec2.create_security_group(GroupName="custodian-isolation", Description="isolation", VpcId=vpc)["GroupId"]
ec2.revoke_security_group_egress(GroupId=isolation, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
instances = [i["InstanceId"] for i in ec2.run_instances(
    ImageId="ami-12345678", InstanceType="t3.micro", MinCount=count, MaxCount=count, SubnetId=subnet, SecurityGroupIds=[web],
    BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}, {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 20}}],
)["Instances"]]
instance = instances[0]
# Firebreak's own containment groups, as they are after its first containment in this VPC: both
# tools start from the steady state (Custodian needs its isolation group to exist beforehand).
tag = lambda role: [{"ResourceType": "security-group", "Tags": [{"Key": "firebreak:role", "Value": role}]}]
untracking = ec2.create_security_group(GroupName="firebreak-untracking", Description="u", VpcId=vpc, TagSpecifications=tag("firebreak-untracking"))["GroupId"]
everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
ec2.authorize_security_group_ingress(GroupId=untracking, IpPermissions=everything)
ec2.authorize_security_group_egress(GroupId=untracking, IpPermissions=[{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
fb_isolation = ec2.create_security_group(GroupName="firebreak-isolation", Description="i", VpcId=vpc, TagSpecifications=tag("firebreak-isolation"))["GroupId"]
ec2.revoke_security_group_egress(GroupId=fb_isolation, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
topic = boto3.client("sns", **kw).create_topic(Name="firebreak")["TopicArn"]
dynamodb = boto3.client("dynamodb", **kw)
# As template.yaml declares it: the key, and the sweep's sparse queue index.
dynamodb.create_table(
    TableName="firebreak-state", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "queue", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    GlobalSecondaryIndexes=[{"IndexName": "queue", "Projection": {"ProjectionType": "ALL"},
                             "KeySchema": [{"AttributeName": "queue", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}]}],
)
# Firebreak uses only groups recorded in its table (never one found by a tag).
for kind, group in (("firebreak-untracking", untracking), ("firebreak-isolation", fb_isolation)):
    dynamodb.put_item(TableName="firebreak-state", Item={
        "pk": {"S": f"group#123456789012#us-east-1#{vpc}#{kind}"}, "group_id": {"S": group}, "expires_at": {"N": "4102444800"}})
print(json.dumps({"vpc": vpc, "instance": instance, "instances": instances, "web": web, "isolation": isolation,
                  "fb_untracking": untracking, "fb_isolation": fb_isolation, "topic": topic}))
