"""Errors users can act on, each with its own process exit code.

Every error is also the builtin it resembles (``ConfigError`` is a ``ValueError``), so library users can
catch either.  The CLI prints ``str(err)`` as one line and exits with ``err.exit_code``.
"""
from __future__ import annotations

import builtins

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_SOURCE = 3
EXIT_OUTPUT = 4
EXIT_BACKEND = 5
EXIT_TRUNCATED = 6
EXIT_SOME_FAILED = 7  # a batch: some files failed (listed at its end), the others are complete
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class VqeError(Exception):
    """Base of every error vqe raises on purpose."""

    exit_code = EXIT_INTERNAL


class ConfigError(VqeError, builtins.ValueError):
    """A bad option, stage, parameter, preset or config file."""

    exit_code = EXIT_CONFIG


class SourceError(VqeError, builtins.OSError):
    """The input cannot be opened or decoded."""

    exit_code = EXIT_SOURCE


class TruncatedInputError(SourceError):
    """The input ended early; the frames before the damage were processed and written."""

    exit_code = EXIT_TRUNCATED


class OutputError(VqeError, builtins.OSError):
    """The output cannot be created or written."""

    exit_code = EXIT_OUTPUT


class EncoderError(OutputError):
    """The encoder or container refused the stream."""


class BackendUnavailableError(VqeError, builtins.RuntimeError):
    """The requested compute backend is not available on this machine."""

    exit_code = EXIT_BACKEND
