"""The drivers' socket tests share ``aio_kit`` (importlib mode: this folder on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
