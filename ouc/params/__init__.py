"""TCON connection descriptions: parse, build, convert and validate the CONNECT blocks.

The blocks are frozen dataclasses with the TIA field names (``block.ConnPara.RemoteAddress``,
``block.TLSServerCertRef``); every block also answers ``type_name``, ``role``, ``secure``,
``conn_id``, ``protocol``, ``remote_address``, ``remote_qdn``, ``remote_port``, ``local_port``.

    >>> from ouc.params import STANDARD_SERVER, build, parse, validate
    >>> data = build(STANDARD_SERVER)
    >>> len(data), parse(data) == STANDARD_SERVER, validate(STANDARD_SERVER)
    (28, True, [])

Layer 1: no sockets, TLS, threads or clocks here. Every error is a
:class:`~ouc.errors.ParamError` with the PLC status (``16#809A``) and the field path.
"""

from ouc.params._codec import build, detect_type, parse
from ouc.params._samples import (
    ISO_ON_TCP_EXAMPLE,
    QDN_SEC_EXAMPLE,
    SAMPLES,
    STANDARD_CLIENT,
    STANDARD_SERVER,
)
from ouc.params._types import (
    BLOCK_TYPES,
    ISO_ON_TCP_PORT,
    SIZES,
    Block,
    BoolForm,
    Protocol,
    TconIpRfc,
    TconIpV4,
    TconIpV4Sec,
    TconParam,
    TconQdn,
    TconQdnSec,
    TSelector,
    canonical_type_name,
)
from ouc.params._validate import RULES, Finding, ParamCheckError, check, validate
from ouc.params._views import FieldRow, describe, dump_json, from_dict, load, loads, to_dict

__all__ = [
    "BLOCK_TYPES",
    "ISO_ON_TCP_EXAMPLE",
    "ISO_ON_TCP_PORT",
    "QDN_SEC_EXAMPLE",
    "RULES",
    "SAMPLES",
    "SIZES",
    "STANDARD_CLIENT",
    "STANDARD_SERVER",
    "Block",
    "BoolForm",
    "FieldRow",
    "Finding",
    "ParamCheckError",
    "Protocol",
    "TSelector",
    "TconIpRfc",
    "TconIpV4",
    "TconIpV4Sec",
    "TconParam",
    "TconQdn",
    "TconQdnSec",
    "build",
    "canonical_type_name",
    "check",
    "describe",
    "detect_type",
    "dump_json",
    "from_dict",
    "load",
    "loads",
    "parse",
    "to_dict",
    "validate",
]
