"""One exception root for everything CloudAI Tasks raises on purpose.

Messages say what to fix next; they never carry secrets (keys, passwords, tokens).
"""
from __future__ import annotations


class CloudAIError(Exception):
    """Root of every error this package raises deliberately."""


class ConfigError(CloudAIError):
    """A setting is missing, malformed or insecure; the message names the variable to fix."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class SecurityError(CloudAIError):
    """A cryptographic or policy check failed; crypto library errors are converted to this at the boundary."""


class AuthError(SecurityError):
    """A principal could not prove who it is, or is not allowed to do what it asked."""


class SandboxError(CloudAIError):
    """A job could not be run in its container."""


class JobRejected(SandboxError):
    """A job spec was refused before anything ran; ``field`` names the offending part of the spec."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StorageError(CloudAIError):
    """A result could not be stored, found or decrypted."""


class ServiceError(CloudAIError):
    """A local service (Redis, PostgreSQL, dockerd, a worker) could not be started or reached."""


class WorkerKeyRefused(AuthError):
    """A worker key did not let its worker join; ``reason`` says why in one word an operator can act on.

    Reasons: ``missing``, ``forged``, ``expired``, ``revoked``, ``unknown``, ``wrong-queue``.
    """

    def __init__(self, reason: str, message: str, *, worker: str | None = None) -> None:
        super().__init__(f"worker key refused ({reason}): {message}")
        self.reason = reason
        self.worker = worker
