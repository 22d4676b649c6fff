"""ouc: emulate Siemens S7-1200/S7-1500 Secure Open User Communication (Secure OUC) endpoints.

Sub-packages: ``ouc.params`` (TCON connection descriptions), ``ouc.certs`` (certificate store
keyed by numeric IDs), ``ouc.db`` (standard-access data-block layouts), ``ouc.tls`` (TLS engine
on memory BIOs), ``ouc.conn`` (the TSEND_C/TRCV_C state machine), ``ouc.drivers`` (blocking and
asyncio endpoints). Everything raises :class:`ouc.errors.OucError` subclasses.
"""

from ouc.device import Device, Family, Role, TLSVersion
from ouc.errors import OucError, Status, format_status

__version__ = "0.1.0"

__all__ = [
    "Device",
    "Family",
    "OucError",
    "Role",
    "Status",
    "TLSVersion",
    "__version__",
    "format_status",
]
