"""What the blocking and asyncio passive endpoints (TRCV_C, TLS server) have in common.

:class:`PassiveEndpoint <ouc.drivers.PassiveEndpoint>` and :class:`AsyncPassiveEndpoint
<ouc.drivers.AsyncPassiveEndpoint>` serve connections differently (threads or an event loop)
but choose their listening address, publish it in the address map and report it the same way:
that lives once here in :class:`PassiveCommon`. This module does no I/O.
"""

from __future__ import annotations

from typing import Protocol

from ouc.drivers._records import ISO_TEXT
from ouc.drivers._setup import AddressMap, EndpointSpec
from ouc.errors import OucConnectionError, Status

__all__ = ["LISTENING_STATUS", "ConnectionSlots", "PassiveCommon", "default_listen"]

#: The STATUS of a listening TRCV_C: 16#7002, "connection being established ... passive: waiting
#: for the partner" (TIA help, TSEND_C/TRCV_C STATUS table; domain.md §4: 7000 → 7001 → 7002 …
#: → 0001). Also after RUN, once the block runs again (7001 → 7002).
LISTENING_STATUS = Status.IN_PROGRESS


def default_listen(spec: EndpointSpec, address_map: AddressMap) -> tuple[str, int]:
    """Where a passive endpoint listens by default: where the address map puts the device's
    plant address and LocalPort, else ``127.0.0.1`` and LocalPort."""
    port = spec.block.local_port or 0
    plant = spec.plant_address
    if plant is not None:
        host, mapped = address_map.to_local(plant, port)
        if (host, mapped) != (plant, port):
            return host, mapped
    return "127.0.0.1", port


class ConnectionSlots(Protocol):
    """A connection limit shared by several endpoints serving one port (the worker processes
    of ``ouc serve --processes``): the PLC's limit (16#8087) is per CPU, so their total holds.

    An endpoint takes a slot for each connection it admits (after its own ``max_connections``
    check) and gives it back once, when the connection has ended: before its end is recorded,
    since whoever reads that record may connect anew at once.
    """

    def take(self) -> bool:
        """Take a slot; False when the shared limit is reached (the peer is refused, 16#8087)."""
        ...

    def give(self) -> None:
        """Give a taken slot back."""
        ...


class PassiveCommon:
    """The listening address of a passive endpoint: default, bound, published.

    The subclass's ``__init__`` sets ``spec``, ``address_map`` and ``_address`` (None until
    bound).
    """

    spec: EndpointSpec
    address_map: AddressMap
    max_connections: int | None
    _address: tuple[str, int] | None

    def _listening_reason(self) -> str:
        """The LISTENING record's text: plant address, partner, TLS mode, connection limit."""
        block = self.spec.block
        partner = block.remote_address or "any"
        if partner == "0.0.0.0":
            partner = "any"
        plant = self.spec.plant_address
        where = f"plant {plant}:{block.local_port}, " if plant else ""
        mode = "plain TCP" if self.spec.config.iso is None else ISO_TEXT
        resolved = self.spec.resolved
        if self.spec.tls is not None and resolved is not None:
            auth = "mutual TLS" if resolved.require_peer_cert else "TLS"
            mode = f"{auth}, server certificate {resolved.own_id}"
            if resolved.anchor_ids:
                mode += f", client CA {', '.join(map(str, resolved.anchor_ids))}"
        limit = self.max_connections
        limit_text = (
            "no connection limit"
            if limit is None
            else f"max {limit} connection{'' if limit == 1 else 's'}"
        )
        return f"{where}partner {partner}, {mode}, {limit_text}"

    def _peer_plant(self, host: str) -> str:
        """The plant address of a peer connecting from ``host`` (the device's own addresses
        cannot be the partner's: when both run on 127.0.0.1 the partner's entry wins)."""
        return self.address_map.to_plant(host, exclude=self.spec.device.own_addresses)

    def _not_partner(self, plant: str) -> str:
        """The refusal reason for a peer that is not the block's RemoteAddress (16#80C9)."""
        return f"partner {plant} is not RemoteAddress {self.spec.block.remote_address}"

    def _default_listen(self) -> tuple[str, int]:
        return default_listen(self.spec, self.address_map)

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
