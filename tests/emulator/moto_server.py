"""moto server, corrected where it differs from AWS's documented behaviour.

1. EC2 per-interface security groups. moto 5.x reports an attached network interface's groups as the
   union of its own groups and the instance's launch groups. In EC2 each interface has its own groups
   (the instance's groups are those of its primary interface), so a correct per-interface change
   looks, in stock moto, as if groups were added.
2. DynamoDB per-item atomicity. DynamoDB documents conditional writes as atomic: "the condition
   expression is evaluated and the write performed as one operation", so of two concurrent
   conditional puts of one item at most one succeeds. moto server serves requests on parallel threads
   and checks, then writes, without a lock; two concurrent claims could both win. Serialising
   DynamoDB requests restores the documented guarantee (every operation is then atomic).

3. Spot instances and termination protection. EC2 refuses termination protection for a Spot
   instance ("UnsupportedOperation: Modifying 'disableApiTermination' is not supported for spot
   instances"; the EC2 API reference of ModifyInstanceAttribute: "You can't enable termination
   protection for Spot Instances"); moto accepts it.

4. CloudWatch's Smithy RPC v2 CBOR protocol. CloudWatch accepts it (its service model lists
   `smithy-rpc-v2-cbor` first, then `json` and `query`), and the Rust SDK uses it; moto serves only
   the JSON and query forms, and answers 404. Each CBOR request is translated to the JSON form, and the
   JSON answer back to CBOR, with botocore's own CBOR parser and serializer and CloudWatch's model.

5. ModifyInstanceMetadataOptions. The EC2 API reference: DryRun "checks whether you have the required
   permissions for the action, without actually making the request, and provides an error response
   ... DryRunOperation", and for each option "if this parameter is not specified, the existing state
   is maintained". moto makes the change on a dry run, and resets every option the request leaves out.

6. GuardDuty GetFindings. moto has detectors and filters but no findings: `POST
   /detector/{detectorId}/findings/get` answers 404. The API reference: GetFindings "describes Amazon
   GuardDuty findings specified by finding IDs" (at most 50), answers `{"findings": [...]}` with each
   `Finding` as the API returns it, omits ids it does not know, and refuses a detector the caller's
   account does not own (400 BadRequestException). The harness keeps a findings store per account,
   region and detector, which a test fills with what GuardDuty produced in its world
   (`POST /firebreak-emulator/guardduty/findings`, JSON `{"account", "region", "detectorId",
   "finding"}`); nothing else writes it. A finding is seeded as the event's `detail` and served as the
   API returns it: the members GuardDuty's model types as timestamps (signals' times, process start
   times...) in the REST-JSON protocol's default form, epoch seconds, where the event has ISO 8601 text.

7. IAM's quota on a role's inline policies. The IAM quotas reference: "the total aggregate policy size
   (the sum size of all inline policies) per entity cannot exceed ... Role policy size cannot exceed
   10,240 characters", and "IAM does not count white space when calculating the size of a policy"; a
   PutRolePolicy past it fails with `LimitExceeded` ("Maximum policy size of 10240 bytes exceeded for
   role ..."). moto stores inline policies of any size.

8. Route 53 Resolver DNS Firewall. moto has none of it. The API reference's shapes: a domain list
   (`CreateFirewallDomainList`; `UpdateFirewallDomains` with Operation ADD, REMOVE or REPLACE, each domain
   a name of letters, digits, hyphens and dots, optionally starting with `*.`, at most 255 characters;
   `ListFirewallDomains`), a rule group (`CreateFirewallRuleGroup`) and its rules (`CreateFirewallRule`:
   a BLOCK rule needs a `BlockResponse`; a rule's priority is unique in its group; `ListFirewallRules`),
   and the rule group's association with a VPC (`AssociateFirewallRuleGroup`, "the allowed values for
   Priority are between 100 and 9900", a priority unique among the VPC's associations;
   `ListFirewallRuleGroupAssociations`, filtered by rule group and VPC). Ids are `rslvr-fdl-…`,
   `rslvr-frg-…`, `rslvr-frgassoc-…`, times ISO 8601 text. An unknown id is `ResourceNotFoundException`.
   What AWS answers to a rule group associated twice with one VPC is not documented: the harness does not
   guess, and Firebreak asks the list before associating.
   A domain list holds each name fully qualified: "when you add a domain to a route53 firewall domain
   list, a trailing period is added to each domain", and ListFirewallDomains answers `example.com.` for
   `example.com` (terraform-provider-aws issue 23543 and pull request 23545, "Trimming trailing . that is
   added to all domains by AWS"; a wildcard `*` "is stored and returned as `*.`",
   braintrustdata/terraform-aws-braintrust-data-plane pull request 372). The harness stores and answers
   names so, and matches a REMOVE by the name with the dot, as the list holds it (the terraform issue's
   REPLACE of undotted names leaves the same dotted list); case is kept as sent.

9. GuardDuty's on-demand malware scan. moto has none of it (`POST /malware-scan/start` answers 404). The
   API reference: StartMalwareScan takes a `resourceArn` (pattern
   `^arn:[A-Za-z-]+:[A-Za-z0-9]+:[A-Za-z0-9-]+:\d+:(([A-Za-z0-9-]+)[:\/])?[A-Za-z0-9:-]*$`, else
   `BadRequestException`) and a `clientToken`, "the idempotency token for the create request" (at most 64
   characters), and answers `{"scanId"}`; ListMalwareScans (`POST /malware-scan`) answers `{"scans"}`, each
   a `MalwareScan` (`scanId`, `resourceArn`, `resourceType` `EC2_INSTANCE`, `scanStatus` `RUNNING` until it
   completes, `scanType` `ON_DEMAND`, `scanStartedAt`). The harness keeps the scans an account started in
   each region; a second start with a token already used answers the scan that token started. No scan
   completes here: what a scan finds is a GuardDuty finding, which a test seeds as GuardDuty would
   produce it. The harness does not filter the list: a request with `filterCriteria` is refused.

10. Security Hub finding updates. moto imports and lists ASFF findings but has no BatchUpdateFindings
   (`PATCH /findings/batchupdate`) and nothing of Security Hub's OCSF findings. The API reference:
   BatchUpdateFindings identifies each finding by `Id` and `ProductArn`, sets `Workflow.Status` (NEW,
   NOTIFIED, RESOLVED, SUPPRESSED) and `Note` (`Text` and `UpdatedBy` both required; Security Hub stamps
   `UpdatedAt`), "updates from BatchUpdateFindings do not affect the value of UpdatedAt", and answers
   `ProcessedFindings` and `UnprocessedFindings` (`ErrorCode` `FindingNotFound` for an unknown one).
   BatchUpdateFindingsV2 (`PATCH /findingsv2/batchupdatev2`) identifies each by `CloudAccountUid`,
   `FindingInfoUid` and `MetadataProductUid`, sets `StatusId`, `SeverityId` and `Comment`, leaves
   `finding_info.modified_time(_dt)` as they are, and reports an unknown one as unprocessed
   (`ResourceNotFoundException`). GetFindingsV2 (`POST /findingsv2`) answers `{"Findings"}`, each the
   OCSF finding as a document; the harness does not filter (`Filters` refused). The OCSF findings an
   account's hub holds are seeded by a test (`POST /firebreak-emulator/securityhub/findingsv2`, JSON
   `{"account", "region", "finding"}`), as Security Hub would hold them; nothing else writes them.

11. Security Hub finding filters. moto's GetFindings ignores `Filters` (it answers every finding), and the
   harness's GetFindingsV2 had none. The API reference: GetFindings "returns a list of findings that match
   the specified criteria", `Filters` an `AwsSecurityFindingFilters` whose `Id`, `ProductArn` and
   `AwsAccountId` are `StringFilter` lists (`Value`, `Comparison` `EQUALS`…; several filters of one field
   are ORed, the fields ANDed); GetFindingsV2's `Filters` is `OcsfFindingFilters`: `CompositeFilters`, each
   `StringFilters` of `{FieldName, Filter: {Value, Comparison}}` (`finding_info.uid`,
   `metadata.product.uid`, `cloud.account.uid`…) joined by its `Operator`. The harness applies exactly
   those fields with `EQUALS` and `AND`, and refuses any other filter it would otherwise ignore.

tests/integration/emulator.rs proves the corrections.

Not a correction but the harness's own: `GET /firebreak-emulator/pid` answers the server's process id,
so that a test knows the server it reached is the one it started (two tests handed the same free port
would otherwise share one server, and the second would lose it when the first stops it).
"""
import datetime
import io
import json
import os
import re
import sys
import threading

import botocore.session
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer as CBORSerializer
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.responses import DynamoHandler
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.instances import InstanceResponse

NetworkInterface.group_set = property(lambda self: self._group_set)

_dynamodb_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self, *args, **kwargs):
    with _dynamodb_lock:
        return _call_action(self, *args, **kwargs)


DynamoHandler.call_action = _atomic_call_action

_modify_instance_attribute = InstanceBackend.modify_instance_attribute


def _spot_aware_modify_instance_attribute(self, instance_id, key, value):
    instance = self.get_instance(instance_id)
    if key == "disable_api_termination" and getattr(instance, "lifecycle", None) == "spot":
        raise EC2ClientError(
            "UnsupportedOperation", "Modifying 'disableApiTermination' is not supported for spot instances."
        )
    return _modify_instance_attribute(self, instance_id, key, value)


InstanceBackend.modify_instance_attribute = _spot_aware_modify_instance_attribute

_modify_metadata_response = InstanceResponse.modify_instance_metadata_options
_modify_metadata_backend = InstanceBackend.modify_instance_metadata_options


def _dry_run_aware_modify_metadata_response(self):
    self.error_on_dryrun()
    return _modify_metadata_response(self)


def _keeping_modify_metadata_backend(self, instance_id, **changes):
    current = getattr(self.get_instance(instance_id), "metadata_options", None)
    kept = {
        "http_tokens": "http_tokens",
        "hop_limit": "http_put_response_hop_limit",
        "http_endpoint": "http_endpoint",
        "http_protocol": "http_protocol_ipv6",
        "metadata_tags": "instance_metadata_tags",
    }
    for argument, attribute in kept.items():
        if changes.get(argument) is None and current is not None:
            changes[argument] = getattr(current, attribute, None)
    return _modify_metadata_backend(self, instance_id, **changes)


InstanceResponse.modify_instance_metadata_options = _dry_run_aware_modify_metadata_response
InstanceBackend.modify_instance_metadata_options = _keeping_modify_metadata_backend

from moto.iam.exceptions import LimitExceededException  # noqa: E402
from moto.iam.models import Role  # noqa: E402

ROLE_POLICY_SIZE_QUOTA = 10240
_role_put_policy = Role.put_policy


def _size(document):
    return sum(1 for c in document if not c.isspace())


def _quota_aware_role_put_policy(self, policy_name, policy_json):
    others = sum(_size(doc) for name, doc in self.policies.items() if name != policy_name)
    if others + _size(policy_json) > ROLE_POLICY_SIZE_QUOTA:
        raise LimitExceededException(
            f"Maximum policy size of {ROLE_POLICY_SIZE_QUOTA} bytes exceeded for role {self.name}"
        )
    return _role_put_policy(self, policy_name, policy_json)


Role.put_policy = _quota_aware_role_put_policy

from moto.core.exceptions import JsonRESTError  # noqa: E402
from moto.route53resolver.responses import Route53ResolverResponse  # noqa: E402

# account -> region -> {"lists": {id: list}, "groups": {id: group}, "associations": {id: association}}
_firewall = {}
_firewall_lock = threading.Lock()


def _firewall_of(response):
    return _firewall.setdefault(response.current_account, {}).setdefault(
        response.region, {"lists": {}, "groups": {}, "associations": {}}
    )


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _resource_id(prefix):
    return f"{prefix}-{os.urandom(9).hex()[:17]}"


def _arn(response, kind, resource_id):
    return f"arn:aws:route53resolver:{response.region}:{response.current_account}:{kind}/{resource_id}"


def _firewall_error(code, message):
    return JsonRESTError(code, message)


def _found(store, kind, resource_id):
    if resource_id not in store:
        raise _firewall_error("ResourceNotFoundException", f"{kind} {resource_id} does not exist")
    return store[resource_id]


def _create_firewall_domain_list(self):
    body = json.loads(self.body)
    with _firewall_lock:
        lists = _firewall_of(self)["lists"]
        list_id = _resource_id("rslvr-fdl")
        now = _now()
        lists[list_id] = {
            "Id": list_id,
            "Arn": _arn(self, "firewall-domain-list", list_id),
            "Name": body.get("Name", ""),
            "Status": "COMPLETE",
            "StatusMessage": "Created Firewall Domain List",
            "CreatorRequestId": body.get("CreatorRequestId", ""),
            "CreationTime": now,
            "ModificationTime": now,
            "Tags": body.get("Tags", []),
            "domains": [],
        }
        public = {k: v for k, v in lists[list_id].items() if k not in ("domains", "Tags")}
        public["DomainCount"] = 0
    return json.dumps({"FirewallDomainList": public})


_DOMAIN = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$")


def _fully_qualified(domain):
    return domain if domain.endswith(".") else f"{domain}."


def _update_firewall_domains(self):
    body = json.loads(self.body)
    operation = body.get("Operation")
    sent = body.get("Domains") or []
    if operation not in ("ADD", "REMOVE", "REPLACE"):
        raise _firewall_error("ValidationException", f"Operation {operation!r} is not ADD, REMOVE or REPLACE")
    for domain in sent:
        if len(domain) > 255 or not _DOMAIN.match(domain):
            raise _firewall_error("ValidationException", f"{domain!r} is not a valid domain name")
    domains = [_fully_qualified(d) for d in sent]
    with _firewall_lock:
        record = _found(_firewall_of(self)["lists"], "FirewallDomainList", body.get("FirewallDomainListId"))
        current = record["domains"]
        if operation == "ADD":
            current.extend(d for d in domains if d not in current)
        elif operation == "REMOVE":
            record["domains"] = [d for d in current if d not in domains]
        else:
            record["domains"] = list(dict.fromkeys(domains))
        record["ModificationTime"] = _now()
    return json.dumps(
        {"Id": record["Id"], "Name": record["Name"], "Status": "UPDATING", "StatusMessage": "Updating the Firewall Domain List"}
    )


def _list_firewall_domains(self):
    body = json.loads(self.body)
    with _firewall_lock:
        record = _found(_firewall_of(self)["lists"], "FirewallDomainList", body.get("FirewallDomainListId"))
        domains = list(record["domains"])
    return json.dumps({"Domains": domains})


def _create_firewall_rule_group(self):
    body = json.loads(self.body)
    with _firewall_lock:
        groups = _firewall_of(self)["groups"]
        group_id = _resource_id("rslvr-frg")
        now = _now()
        groups[group_id] = {
            "Id": group_id,
            "Arn": _arn(self, "firewall-rule-group", group_id),
            "Name": body.get("Name", ""),
            "RuleCount": 0,
            "Status": "COMPLETE",
            "StatusMessage": "Created Firewall Rule Group",
            "OwnerId": self.current_account,
            "CreatorRequestId": body.get("CreatorRequestId", ""),
            "ShareStatus": "NOT_SHARED",
            "CreationTime": now,
            "ModificationTime": now,
            "rules": [],
        }
        public = {k: v for k, v in groups[group_id].items() if k != "rules"}
    return json.dumps({"FirewallRuleGroup": public})


def _create_firewall_rule(self):
    body = json.loads(self.body)
    if body.get("Action") == "BLOCK" and not body.get("BlockResponse"):
        raise _firewall_error("ValidationException", "BlockResponse is required when Action is BLOCK")
    with _firewall_lock:
        store = _firewall_of(self)
        group = _found(store["groups"], "FirewallRuleGroup", body.get("FirewallRuleGroupId"))
        _found(store["lists"], "FirewallDomainList", body.get("FirewallDomainListId"))
        if any(r["Priority"] == body.get("Priority") for r in group["rules"]):
            raise _firewall_error("ResourceExistsException", "a rule of this priority exists in the rule group")
        now = _now()
        rule = {
            "FirewallRuleGroupId": group["Id"],
            "FirewallDomainListId": body.get("FirewallDomainListId"),
            "Name": body.get("Name", ""),
            "Priority": body.get("Priority"),
            "Action": body.get("Action"),
            "BlockResponse": body.get("BlockResponse"),
            "CreatorRequestId": body.get("CreatorRequestId", ""),
            "CreationTime": now,
            "ModificationTime": now,
        }
        group["rules"].append(rule)
        group["RuleCount"] = len(group["rules"])
    return json.dumps({"FirewallRule": rule})


def _list_firewall_rules(self):
    body = json.loads(self.body)
    with _firewall_lock:
        group = _found(_firewall_of(self)["groups"], "FirewallRuleGroup", body.get("FirewallRuleGroupId"))
        rules = list(group["rules"])
    return json.dumps({"FirewallRules": rules})


def _associate_firewall_rule_group(self):
    body = json.loads(self.body)
    priority = body.get("Priority")
    if not isinstance(priority, int) or not 100 <= priority <= 9900:
        raise _firewall_error("ValidationException", "Priority must be between 100 and 9900")
    with _firewall_lock:
        store = _firewall_of(self)
        group = _found(store["groups"], "FirewallRuleGroup", body.get("FirewallRuleGroupId"))
        vpc = body.get("VpcId")
        for existing in store["associations"].values():
            if existing["VpcId"] == vpc and existing["Priority"] == priority:
                raise _firewall_error("ConflictException", f"priority {priority} is already used in {vpc}")
        association_id = _resource_id("rslvr-frgassoc")
        now = _now()
        association = {
            "Id": association_id,
            "Arn": _arn(self, "firewall-rule-group-association", association_id),
            "FirewallRuleGroupId": group["Id"],
            "VpcId": vpc,
            "Name": body.get("Name", ""),
            "Priority": priority,
            "MutationProtection": body.get("MutationProtection", "DISABLED"),
            "Status": "COMPLETE",
            "StatusMessage": "Creating Firewall Rule Group Association",
            "CreatorRequestId": body.get("CreatorRequestId", ""),
            "CreationTime": now,
            "ModificationTime": now,
        }
        store["associations"][association_id] = association
    return json.dumps({"FirewallRuleGroupAssociation": association})


def _list_firewall_rule_group_associations(self):
    body = json.loads(self.body)
    with _firewall_lock:
        associations = [
            a
            for a in _firewall_of(self)["associations"].values()
            if all(body.get(k) in (None, a[k]) for k in ("FirewallRuleGroupId", "VpcId", "Priority", "Status"))
        ]
    return json.dumps({"FirewallRuleGroupAssociations": associations})


Route53ResolverResponse.create_firewall_domain_list = _create_firewall_domain_list
Route53ResolverResponse.update_firewall_domains = _update_firewall_domains
Route53ResolverResponse.list_firewall_domains = _list_firewall_domains
Route53ResolverResponse.create_firewall_rule_group = _create_firewall_rule_group
Route53ResolverResponse.create_firewall_rule = _create_firewall_rule
Route53ResolverResponse.list_firewall_rules = _list_firewall_rules
Route53ResolverResponse.associate_firewall_rule_group = _associate_firewall_rule_group
Route53ResolverResponse.list_firewall_rule_group_associations = _list_firewall_rule_group_associations

from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402
from moto.guardduty import urls as _guardduty_urls  # noqa: E402
from moto.guardduty.models import guardduty_backends  # noqa: E402
from moto.guardduty.responses import GuardDutyResponse  # noqa: E402

# account -> region -> detector id -> finding id -> the finding as the GuardDuty API returns it.
_findings = {}
_findings_lock = threading.Lock()


def _get_findings(self):
    detector_id = self.path.split("/")[-3]
    ids = self._get_param("findingIds") or []
    if len(ids) > 50:
        raise JsonRESTError("BadRequestException", "findingIds: at most 50 finding ids")
    with _findings_lock:
        detectors = _findings.get(self.current_account, {}).get(self.region, {})
        owned = detector_id in detectors or detector_id in guardduty_backends[self.current_account][self.region].detectors
        if not owned:
            raise JsonRESTError(
                "BadRequestException", "The request is rejected because the input detectorId is not owned by the current account."
            )
        known = detectors.get(detector_id, {})
        return json.dumps({"findings": [known[i] for i in ids if i in known]})


GuardDutyResponse.get_findings = _get_findings

# (account, region) -> scan id -> the scan as ListMalwareScans returns it; and client token -> scan id.
_scans = {}
_scan_tokens = {}
_RESOURCE_ARN = re.compile(r"^arn:[A-Za-z-]+:[A-Za-z0-9]+:[A-Za-z0-9-]+:\d+:(([A-Za-z0-9-]+)[:\/])?[A-Za-z0-9:-]*$")


def _start_malware_scan(self):
    arn = self._get_param("resourceArn")
    token = self._get_param("clientToken")
    if not isinstance(arn, str) or not _RESOURCE_ARN.match(arn):
        raise JsonRESTError("BadRequestException", f"resourceArn: {arn!r} is not a resource ARN")
    if token is not None and len(token) > 64:
        raise JsonRESTError("BadRequestException", "clientToken: at most 64 characters")
    where = (self.current_account, self.region)
    with _findings_lock:
        tokens = _scan_tokens.setdefault(where, {})
        if token and token in tokens:
            return json.dumps({"scanId": tokens[token]})
        scan_id = os.urandom(16).hex()
        _scans.setdefault(where, {})[scan_id] = {
            "scanId": scan_id,
            "resourceArn": arn,
            "resourceType": "EC2_INSTANCE" if ":instance/" in arn else "EBS_VOLUME",
            "scanStatus": "RUNNING",
            "scanType": "ON_DEMAND",
            "scanStartedAt": datetime.datetime.now(datetime.timezone.utc).timestamp(),
        }
        if token:
            tokens[token] = scan_id
    return json.dumps({"scanId": scan_id})


def _list_malware_scans(self):
    if self._get_param("filterCriteria"):
        raise JsonRESTError("BadRequestException", "filterCriteria: the test emulator lists every scan, unfiltered")
    with _findings_lock:
        scans = list(_scans.get((self.current_account, self.region), {}).values())
    return json.dumps({"scans": scans})


from moto.securityhub import urls as _securityhub_urls  # noqa: E402
from moto.securityhub.models import securityhub_backends  # noqa: E402
from moto.securityhub.responses import SecurityHubResponse  # noqa: E402

_WORKFLOW_STATUSES = ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED")
_OCSF_STATUSES = {0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 5: "Archived", 99: "Other"}
_OCSF_SEVERITIES = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal", 99: "Other"}
# (account, region) -> the OCSF findings that account's hub holds.
_ocsf_findings = {}


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _batch_update_findings(self):
    body = json.loads(self.body or b"{}")
    workflow = body.get("Workflow")
    note = body.get("Note")
    if workflow is not None and workflow.get("Status") not in _WORKFLOW_STATUSES:
        raise JsonRESTError("InvalidInputException", f"Workflow.Status must be one of {', '.join(_WORKFLOW_STATUSES)}")
    if note is not None and not (note.get("Text", "").strip() and note.get("UpdatedBy", "").strip()):
        raise JsonRESTError("InvalidInputException", "Note needs Text and UpdatedBy")
    backend = securityhub_backends[self.current_account][self.region]
    processed, unprocessed = [], []
    for ident in body.get("FindingIdentifiers", []):
        found = next(
            (f for f in backend.findings if f.id == ident.get("Id") and f.data.get("ProductArn") == ident.get("ProductArn")),
            None,
        )
        if found is None:
            unprocessed.append({"FindingIdentifier": ident, "ErrorCode": "FindingNotFound", "ErrorMessage": "Finding not found"})
            continue
        if workflow is not None:
            found.data["Workflow"] = {"Status": workflow["Status"]}
            found.data["WorkflowState"] = workflow["Status"]
        if note is not None:
            found.data["Note"] = {"Text": note["Text"], "UpdatedBy": note["UpdatedBy"], "UpdatedAt": _now_iso()}
        processed.append(ident)
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


def _batch_update_findings_v2(self):
    body = json.loads(self.body or b"{}")
    status_id, severity_id, comment = body.get("StatusId"), body.get("SeverityId"), body.get("Comment")
    if status_id is not None and status_id not in _OCSF_STATUSES:
        raise JsonRESTError("ValidationException", f"StatusId {status_id} is not an OCSF status")
    if severity_id is not None and severity_id not in _OCSF_SEVERITIES:
        raise JsonRESTError("ValidationException", f"SeverityId {severity_id} is not an OCSF severity")
    processed, unprocessed = [], []
    with _findings_lock:
        held = _ocsf_findings.get((self.current_account, self.region), [])
        for ident in body.get("FindingIdentifiers", []):
            found = next(
                (
                    f
                    for f in held
                    if f.get("cloud", {}).get("account", {}).get("uid") == ident.get("CloudAccountUid")
                    and f.get("finding_info", {}).get("uid") == ident.get("FindingInfoUid")
                    and f.get("metadata", {}).get("product", {}).get("uid") == ident.get("MetadataProductUid")
                ),
                None,
            )
            if found is None:
                unprocessed.append(
                    {"FindingIdentifier": ident, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": "Finding not found"}
                )
                continue
            if status_id is not None:
                found["status_id"], found["status"] = status_id, _OCSF_STATUSES[status_id]
            if severity_id is not None:
                found["severity_id"], found["severity"] = severity_id, _OCSF_SEVERITIES[severity_id]
            if comment is not None:
                found["comment"] = comment
            processed.append({"FindingIdentifier": ident})
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


_ASFF_STRING_FILTERS = ("Id", "ProductArn", "AwsAccountId")
_OCSF_STRING_FIELDS = {
    "finding_info.uid": ("finding_info", "uid"),
    "metadata.product.uid": ("metadata", "product", "uid"),
    "cloud.account.uid": ("cloud", "account", "uid"),
}


def _equals_values(filters, field):
    values = []
    for f in filters:
        if f.get("Comparison") != "EQUALS":
            raise JsonRESTError("ValidationException", f"{field}: the test emulator filters with EQUALS only")
        values.append(f.get("Value"))
    return values


def _get_findings(self):
    body = json.loads(self.body or b"{}")
    filters = body.get("Filters") or {}
    unknown = sorted(set(filters) - set(_ASFF_STRING_FILTERS))
    if unknown:
        raise JsonRESTError("ValidationException", f"Filters {unknown}: the test emulator does not filter by them")
    wanted = {field: _equals_values(filters[field], field) for field in filters}
    backend = securityhub_backends[self.current_account][self.region]
    found = [f.as_dict() for f in backend.findings]
    found = [f for f in found if all(f.get(field) in values for field, values in wanted.items())]
    return json.dumps({"Findings": found[: int(body.get("MaxResults") or 100)]})


def _ocsf_value(finding, path):
    for part in path:
        finding = finding.get(part, {}) if isinstance(finding, dict) else {}
    return finding if isinstance(finding, str) else None


def _get_findings_v2(self):
    body = json.loads(self.body or b"{}")
    filters = body.get("Filters") or {}
    conditions = []
    for composite in filters.get("CompositeFilters", []):
        if set(composite) - {"StringFilters", "Operator"} or composite.get("Operator", "AND") != "AND":
            raise JsonRESTError("ValidationException", "the test emulator filters with AND of string filters only")
        for f in composite.get("StringFilters", []):
            path = _OCSF_STRING_FIELDS.get(f.get("FieldName"))
            if path is None:
                raise JsonRESTError("ValidationException", f"{f.get('FieldName')}: the test emulator does not filter by it")
            conditions.append((path, _equals_values([f.get("Filter", {})], f["FieldName"])))
    if set(filters) - {"CompositeFilters", "CompositeOperator"} or filters.get("CompositeOperator", "AND") != "AND":
        raise JsonRESTError("ValidationException", "the test emulator filters with AND of composite filters only")
    with _findings_lock:
        held = list(_ocsf_findings.get((self.current_account, self.region), []))
    found = [f for f in held if all(_ocsf_value(f, path) in values for path, values in conditions)]
    return json.dumps({"Findings": found[: int(body.get("MaxResults") or 100)]})


SecurityHubResponse.batch_update_findings = _batch_update_findings
SecurityHubResponse.batch_update_findings_v2 = _batch_update_findings_v2
SecurityHubResponse.get_findings_v2 = _get_findings_v2
SecurityHubResponse.get_findings = _get_findings
_securityhub_urls.url_paths["{0}/findings/batchupdate$"] = SecurityHubResponse.dispatch
_securityhub_urls.url_paths["{0}/findingsv2/batchupdatev2$"] = SecurityHubResponse.dispatch
_securityhub_urls.url_paths["{0}/findingsv2$"] = SecurityHubResponse.dispatch

_SEED_OCSF = "/firebreak-emulator/securityhub/findingsv2"


def _seed_ocsf_finding(body):
    _ocsf_findings.setdefault((body["account"], body["region"]), []).append(body["finding"])


GuardDutyResponse.start_malware_scan = _start_malware_scan
GuardDutyResponse.list_malware_scans = _list_malware_scans
_guardduty_urls.url_paths["{0}/malware-scan/start$"] = GuardDutyResponse.dispatch
_guardduty_urls.url_paths["{0}/malware-scan$"] = GuardDutyResponse.dispatch
_guardduty_urls.url_paths["{0}/detector/(?P<detector_id>[^/]+)/findings/get$"] = GuardDutyResponse.dispatch

_SEED_FINDINGS = "/firebreak-emulator/guardduty/findings"


_guardduty_model = botocore.session.get_session().get_service_model("guardduty")


def _as_api(value, shape):
    """An event's `detail` value as GetFindings returns it for `shape`: timestamps in epoch seconds."""
    if shape is None or value is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        by_wire = {m.serialization.get("name", name): m for name, m in shape.members.items()}
        return {k: _as_api(v, by_wire.get(k)) for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_as_api(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _as_api(v, shape.value) for k, v in value.items()}
    if shape.type_name == "timestamp" and isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return value


def _seed_finding(body):
    finding = _as_api(body["finding"], _guardduty_model.shape_for("Finding"))
    store = _findings.setdefault(body["account"], {}).setdefault(body["region"], {})
    store.setdefault(body["detectorId"], {})[finding["id"]] = finding


def _seeded(store, environ, start_response):
    """A test puts what an AWS service holds (not written through its API) into one of the stores above."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    with _findings_lock:
        store(body)
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


_CBOR_PATH = re.compile(r"/service/GraniteServiceVersion20100801/operation/(\w+)")
_cloudwatch_model = botocore.session.get_session().get_service_model("cloudwatch")


def _as_json(value):
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(f"{value!r} is not JSON")


def _from_json(value, shape):
    """JSON-protocol values to what the CBOR serializer takes for `shape` (timestamps as datetimes)."""
    if shape is None or value is None:
        return value
    if shape.type_name == "structure":
        return {k: _from_json(v, shape.members.get(k)) for k, v in value.items() if k in shape.members}
    if shape.type_name == "list":
        return [_from_json(v, shape.member) for v in value]
    if shape.type_name == "map":
        return {k: _from_json(v, shape.value) for k, v in value.items()}
    if shape.type_name == "timestamp" and isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    if shape.type_name == "timestamp" and isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _cbor(value, shape):
    out = bytearray()
    CBORSerializer()._serialize_data_item(out, value, shape)
    return bytes(out)


def _cbor_cloudwatch(app_call, environ, start_response):
    operation = _CBOR_PATH.fullmatch(environ.get("PATH_INFO", "")).group(1)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    parser = RpcV2CBORParser()
    params = parser.parse_data_item(parser.get_peekable_stream_from_bytes(body)) if body else {}
    payload = json.dumps(params or {}, default=_as_json).encode()
    forwarded = dict(environ)
    forwarded.pop("HTTP_SMITHY_PROTOCOL", None)
    forwarded.update(
        {
            "PATH_INFO": "/",
            "wsgi.input": io.BytesIO(payload),
            "CONTENT_LENGTH": str(len(payload)),
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "HTTP_X_AMZ_TARGET": f"GraniteServiceVersion20100801.{operation}",
        }
    )
    answer = {}

    def capture(status, headers, exc_info=None):
        answer["status"] = status
        return lambda chunk: None

    raw = b"".join(app_call(forwarded, capture))
    status = answer.get("status", "500 Internal Server Error")
    decoded = json.loads(raw) if raw.strip() else {}
    operation_model = _cloudwatch_model.operation_model(operation)
    if status.startswith("2"):
        shape = operation_model.output_shape
        # An operation without output answers an empty map.
        content = _cbor(_from_json(decoded, shape), shape) if shape is not None else b"\xa0"
    else:
        error = {"__type": str(decoded.get("__type", "InternalFailure")).split("#")[-1], "message": decoded.get("message") or decoded.get("Message", "")}
        content = bytearray(b"\xa2")
        for key in ("__type", "message"):
            for text in (key, error[key]):
                CBORSerializer()._serialize_type_string(content, text, None, None)
        content = bytes(content)
    start_response(
        status,
        [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"), ("Content-Length", str(len(content)))],
    )
    return [content]


_dispatch = DomainDispatcherApplication.__call__


def _cbor_aware_dispatch(self, environ, start_response):
    if environ.get("PATH_INFO") == "/firebreak-emulator/pid":
        pid = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(pid)))])
        return [pid]
    if environ.get("PATH_INFO") == _SEED_FINDINGS and environ.get("REQUEST_METHOD") == "POST":
        return _seeded(_seed_finding, environ, start_response)
    if environ.get("PATH_INFO") == _SEED_OCSF and environ.get("REQUEST_METHOD") == "POST":
        return _seeded(_seed_ocsf_finding, environ, start_response)
    if environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor" and _CBOR_PATH.fullmatch(environ.get("PATH_INFO", "")):
        return _cbor_cloudwatch(lambda e, s: _dispatch(self, e, s), environ, start_response)
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _cbor_aware_dispatch

from moto.server import main  # noqa: E402  (after the patches, so every model import sees them)

if __name__ == "__main__":
    main(sys.argv[1:])
