"""``python -m ouc``: the same as the ``ouc`` command."""

from ouc.cli import main

raise SystemExit(main())
