"""What the blocking and asyncio passive endpoints (TRCV_C, TLS server) have in common.

:class:`PassiveEndpoint <ouc.drivers.PassiveEndpoint>` and :class:`AsyncPassiveEndpoint
<ouc.drivers.AsyncPassiveEndpoint>` serve connections differently (threads or an event loop)
but choose their listening address, publish it in the address map and report it the same way:
that lives once here in :class:`PassiveCommon`. This module does no I/O.
"""

from __future__ import annotations

from ouc.drivers._setup import AddressMap, EndpointSpec
from ouc.errors import OucConnectionError, Status

__all__ = ["PassiveCommon"]


class PassiveCommon:
    """The listening address of a passive endpoint: default, bound, published.

    The subclass's ``__init__`` sets ``spec``, ``address_map`` and ``_address`` (None until
    bound).
    """

    spec: EndpointSpec
    address_map: AddressMap
    _address: tuple[str, int] | None

    def _default_listen(self) -> tuple[str, int]:
        """Where the address map puts the device's plant address and LocalPort, else
        ``127.0.0.1`` and LocalPort."""
        port = self.spec.block.local_port or 0
        plant = self.spec.plant_address
        if plant is not None:
            host, mapped = self.address_map.to_local(plant, port)
            if (host, mapped) != (plant, port):
                return host, mapped
        return "127.0.0.1", port

    def _register_address(self) -> None:
        """Once bound: add ``plant:LocalPort → host:port`` so an active endpoint sharing the
        address map finds this one."""
        plant = self.spec.plant_address
        plant_port = self.spec.block.local_port
        host, port = self.address
        if plant is not None and plant_port and (plant, plant_port) != (host, port):
            self.address_map.add(plant, plant_port, host, port)

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)`` (after :meth:`start`)."""
        if self._address is None:
            raise OucConnectionError(
                "the endpoint is not started", status=Status.NO_SUCH_CONNECTION
            )
        return self._address

    @property
    def port(self) -> int:
        """The bound TCP port (the real one when port 0 was asked for)."""
        return self.address[1]

    def _local_text(self) -> str | None:
        """The bound address as ``host:port`` for the records (None before :meth:`start`)."""
        return None if self._address is None else f"{self._address[0]}:{self._address[1]}"
