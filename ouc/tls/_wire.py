"""What an endpoint's handshake looks like on the wire: session tickets, chain, key shares.

The defaults reproduce the TCP payload sizes of the real S7-1500 handshake in the application
example's capture (domain.md §4: ClientHello 278 B, the server's first flight 1190 B, the
client's second flight 936 B, two post-handshake records of 158 B together). Each choice is an
**inference** from those sizes (the README's fidelity section has the measurements of every
variant tried), so each is an option of :class:`WireProfile` and ``WireProfile.LEAN`` restores
what ouc did before:

- ``tickets="stateful"``: two TLS 1.3 tickets of 79 B each, exactly what OpenSSL sends with
  ``SSL_OP_NO_TICKET`` (a 32-byte session ID as the ticket, the session kept in the server's
  cache); "stateless" tickets carry the encrypted session (687 B each here); "off" keeps no
  sessions at all (the server still sends OpenSSL's two tickets in TLS 1.3, which resume nothing:
  the binding has no ``SSL_CTX_set_num_tickets``).
- ``send_chain=True``: each side sends its issuing CA certificates after its own (the +343 B and
  +296 B of the certificate flights).
- ``key_shares=("X25519", "P-256")``: the client sends a P-256 key share besides X25519 (the
  ClientHello's +66 B; X25519 still wins, as the seed's server flight says).

Layer 2: pure data and certificate logic; :mod:`ouc.tls._context` applies it to libssl.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from ouc.errors import ConfigError

__all__ = ["GROUP_NAMES", "Tickets", "WireProfile", "groups_list", "issuing_chain"]

#: Key-exchange groups offered and accepted, in preference order (domain.md §9).
GROUP_NAMES = ("X25519", "P-256", "P-384")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class Tickets(Enum):
    """How a server lets clients resume (and what its NewSessionTicket records weigh)."""

    STATEFUL = "stateful"  # small tickets naming a session in the server's cache
    STATELESS = "stateless"  # the session itself, encrypted, in the ticket
    OFF = "off"  # no resumption

    @classmethod
    def parse(cls, value: Tickets | str) -> Tickets:
        """A member or its name; ConfigError naming ``tickets`` otherwise."""
        if isinstance(value, Tickets):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError as exc:
            raise ConfigError(
                f"unknown tickets mode {value!r}; use stateful, stateless or off", path="tickets"
            ) from exc


def _key_shares(value: Iterable[str] | str) -> tuple[str, ...]:
    names = value.replace(",", ":").split(":") if isinstance(value, str) else list(value)
    by_upper = {name.upper(): name for name in GROUP_NAMES}
    out: list[str] = []
    for raw in names:
        name = by_upper.get(str(raw).strip().upper())
        if name is None:
            raise ConfigError(
                f"{raw!r} is not a key-exchange group ouc offers; use {', '.join(GROUP_NAMES)}",
                path="key_shares",
            )
        if name not in out:
            out.append(name)
    if not out:
        raise ConfigError("give at least one key-share group (e.g. X25519)", path="key_shares")
    return tuple(out)


@dataclass(frozen=True)
class WireProfile:
    """The on-the-wire choices of an endpoint's handshake (see the module docstring).

    Args:
        tickets: "stateful" (default), "stateless" or "off" (or a :class:`Tickets`).
        send_chain: send the own certificate's issuing CAs after it (default True).
        key_shares: the groups a client sends key shares for, a subset of ``GROUP_NAMES``
            (default X25519 and P-256); servers ignore it.

    Raises:
        ConfigError: an unknown tickets mode or group, no key share at all.
    """

    tickets: Tickets = Tickets.STATEFUL
    send_chain: bool = True
    key_shares: tuple[str, ...] = field(default=("X25519", "P-256"))

    #: ouc's behaviour before it followed the capture: stateless tickets, the leaf alone, one
    #: X25519 key share (OpenSSL's own defaults with the classic groups pinned).
    LEAN: ClassVar[WireProfile]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tickets", Tickets.parse(self.tickets))
        object.__setattr__(self, "send_chain", bool(self.send_chain))
        object.__setattr__(self, "key_shares", _key_shares(self.key_shares))

    @classmethod
    def parse(cls, text: str) -> WireProfile:
        """``tickets=stateless,send_chain=no,key_shares=X25519:P-256`` (any subset, any order).

        ``lean`` alone is :attr:`LEAN`; an empty text is the default profile.
        """
        stripped = text.strip()
        if stripped.lower() == "lean":
            return cls.LEAN
        values: dict[str, object] = {}
        for item in filter(None, (part.strip() for part in stripped.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip().lower().replace("-", "_")
            if not sep or key not in ("tickets", "send_chain", "key_shares"):
                raise ConfigError(
                    f"{item!r} is not OPTION=VALUE with OPTION tickets, send_chain or key_shares",
                    path="wire",
                )
            if key == "send_chain":
                values[key] = _bool(value, key)
            else:
                values[key] = value.strip()
        return cls(**values)  # type: ignore[arg-type]

    @property
    def resumable(self) -> bool:
        """Sessions can be resumed (tickets are not "off")."""
        return self.tickets is not Tickets.OFF

    def describe(self) -> str:
        """``tickets=stateful, send_chain=yes, key_shares=X25519:P-256``: for logs and help."""
        chain = "yes" if self.send_chain else "no"
        shares = ":".join(self.key_shares)
        return f"tickets={self.tickets.value}, send_chain={chain}, key_shares={shares}"


WireProfile.LEAN = WireProfile(tickets=Tickets.STATELESS, send_chain=False, key_shares=("X25519",))


def _bool(text: str, key: str) -> bool:
    norm = text.strip().lower()
    if norm in _TRUE:
        return True
    if norm in _FALSE:
        return False
    raise ConfigError(f"{text!r} is not yes or no", path=key)


def groups_list(key_shares: Sequence[str]) -> str:
    """The OpenSSL group list: every group of ``GROUP_NAMES``, key-share groups marked ``*``.

    One tuple (``:`` only), so a server takes the client's first key share it supports.
    """
    return ":".join(("*" + name) if name in key_shares else name for name in GROUP_NAMES)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def issuing_chain(
    leaf: x509.Certificate, cas: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """The CAs among ``cas`` that issued ``leaf``, its issuer first, up to a self-signed root.

    Only certificates the device holds can be sent (a PLC's local store); the walk stops where
    the next issuer is not among them. Bounded by ``len(cas)`` steps.
    """
    chain: list[x509.Certificate] = []
    current = leaf
    for _ in range(len(cas)):
        if current.issuer == current.subject:
            break
        issuer = next(
            (
                ca
                for ca in cas
                if ca.subject == current.issuer and ca not in chain and _issued_by(current, ca)
            ),
            None,
        )
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return tuple(chain)
