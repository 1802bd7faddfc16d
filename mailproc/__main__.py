"""``python -m mailproc``: the same as the ``mailproc`` command."""

from mailproc.service.cli import main

raise SystemExit(main())
