"""Errors a user can cause, reported as one line with exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in input the user controls (config, folders, images, flags).

    The CLI prints the message as a single line and exits with code 2, without a
    traceback. The message names the offending key or file and what to do about it.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        # A DataLoader worker re-raises our error in the main process with the worker's
        # traceback folded into the message; keep only the original one-line message.
        if "Original Traceback" in message:
            message = message.strip().splitlines()[-1].split(": ", 1)[-1]
        super().__init__(" ".join(message.split()))


class ConfigError(UserError):
    """A config key is unknown, mistyped, out of range or missing."""


class DataError(UserError):
    """A data folder, image or metadata file cannot be used."""


class PluginError(UserError):
    """A plugin is missing, broken, or clashes with another plugin."""
