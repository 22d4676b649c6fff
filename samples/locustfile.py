"""Locust against a Secure OUC peer: the TSEND_C side of the standard client block per user.

    pip install 'ouc[locust]'
    OUC_STORE=ouc-store OUC_REPLY=1 locust -f samples/locustfile.py --host 192.0.2.10:2000

``--host`` is the peer (HOST:PORT). ``OUC_STORE`` (default ./ouc-store), ``OUC_DEVICE`` (default
the standard client, PLC_2) and ``OUC_BLOCK`` (a CONNECT block file; default the standard client
block) say who connects; ``OUC_REPLY=1`` waits for the peer's answer to each frame (an echo).
Each user repeats: handshake, TSEND_C of the Send_Data block (258 B), optional TRCV_C, close;
Locust shows each step as a request, failures with their 16#80xx status.
"""

from ouc.locust import OucUser


class PlcClient(OucUser):
    """The standard client PLC; set ``frame``, ``reply`` or ``wait_time`` here to change it."""
