"""mailproc: turns a support mailbox into a ticket desk (Compras.gov.br / SIASG)."""

__version__ = "0.1.0"
