"""Passwords kept in environment variables, read when a connection logs in and not before.

The configuration names the variable (``password_env``); the value is read by what connects
(IMAP, SMTP, the database), so that a command connecting to none of them (``tickets list``,
``rules check``, ``status --offline``) runs without it, and a missing one fails the one
connection that needs it, saying which key names which variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mailproc.errors import ConfigError


@dataclass(frozen=True)
class PasswordEnv:
    """A password in the environment variable ``variable``, as configured at ``key`` of
    ``file``: the variable's name, never its value."""

    variable: str
    file: str
    key: str

    def read(self) -> str:
        """The password now; ConfigError (file, key, variable) when the variable is unset."""
        value = os.environ.get(self.variable)
        if value is None:
            raise ConfigError(
                self.file, self.key, f"environment variable {self.variable} is not set"
            )
        return value


# A password given as it is (a library caller, a test), or named by its variable.
Password = str | PasswordEnv


def reveal(password: Password) -> str:
    """The password itself, read from its variable now if it is kept in one."""
    return password if isinstance(password, str) else password.read()
