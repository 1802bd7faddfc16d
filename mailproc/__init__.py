"""mailproc: turns a support mailbox into a ticket desk (Compras.gov.br / SIASG)."""

__version__ = "0.1.0"  # the package's version (pyproject.toml reads it from here)

# The name on PyPI (`mailproc` there is an unrelated package): what operators pip install.
DISTRIBUTION = "mailproc-desk"
