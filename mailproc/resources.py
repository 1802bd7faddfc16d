"""Where the shipped operator data (templates, rules, migrations) lives on disk."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The shipped ``templates``, ``rules`` or ``migrations`` folder.

    A wheel carries them in ``mailproc/_shipped/``; a source checkout (editable install)
    has them at the repository's top level, beside the package.
    """
    for candidate in (_PACKAGE / "_shipped" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped folder {name!r} not found beside {_PACKAGE}")
