"""``python -m mailproc``: the same as the ``mailproc`` command."""

from mailproc.cli import main

raise SystemExit(main())
