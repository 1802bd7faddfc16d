"""The failures mailproc reports to an operator; outcomes of messages are not errors."""

from __future__ import annotations


class MailprocError(Exception):
    """Base of every error mailproc raises on purpose."""


class ConfigError(MailprocError):
    """The configuration cannot be used: names the file, the key and the reason."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key}: {reason}")
        self.file, self.key, self.reason = file, key, reason


class RulesError(MailprocError):
    """A rules file is invalid: names the file, the key (and line when known) and the reason."""

    def __init__(self, file: str, key: str, reason: str, line: int | None = None) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {reason}")
        self.file, self.key, self.reason, self.line = file, key, reason, line


class TemplateError(MailprocError):
    """A reply template is missing or cannot be rendered."""


class StoreError(MailprocError):
    """The database cannot be used (unreachable, or its schema is behind the code)."""


class DeliveryError(MailprocError):
    """Sending a reply failed; ``permanent`` tells whether retrying can help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


class OAuthError(MailprocError):
    """No access token could be had from the identity provider. ``reason`` is safe to log
    (never a secret); ``retryable`` says whether asking again soon can help (the provider
    unreachable) or not (the client refused, a library missing)."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.retryable = reason, retryable
