"""moto server, corrected to EC2's documented per-interface security groups.

moto 5.x reports an attached network interface's groups as the union of its own groups and the
instance's launch groups. In EC2 each interface has its own groups (the instance's groups are those of
its primary interface), so a correct per-interface change looks, in stock moto, as if groups were
added. This wrapper fixes the model before serving; tests/integration/emulator.rs proves the fix.
"""
import sys

from moto.ec2.models.elastic_network_interfaces import NetworkInterface

NetworkInterface.group_set = property(lambda self: self._group_set)

from moto.server import main  # noqa: E402  (after the patch, so every model import sees it)

if __name__ == "__main__":
    main(sys.argv[1:])
