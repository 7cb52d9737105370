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

tests/integration/emulator.rs proves the corrections.
"""
import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.instances import InstanceBackend

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

from moto.server import main  # noqa: E402  (after the patches, so every model import sees them)

if __name__ == "__main__":
    main(sys.argv[1:])
