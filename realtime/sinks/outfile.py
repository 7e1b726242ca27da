"""The file a recording is written to: write errors named for the user, a deleted output salvaged.

Writers hand this file object to their muxer (PyAV takes Python file objects) instead of a path, so that every failure
of the disk reaches vqe as an ``OSError`` with its errno, which becomes one :class:`~realtime.errors.OutputError` line
(exit code 4) that says what happened and what to do.  What was written before the failure stays playable: the
containers vqe writes are readable up to their last complete fragment (see :mod:`realtime.sinks.avencode`).
"""
from __future__ import annotations

import errno
import io
import logging
import os
import tempfile
from pathlib import Path

from realtime.errors import OutputError

log = logging.getLogger(__name__)

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


class OutputFile(io.FileIO):
    """A write-only recording file at ``path`` (created or truncated) whose failures raise :class:`OutputError`.

    A file whose directory is removed mid-run (``rm -r`` of the folder) stays writable through the open descriptor, but
    nobody could ever open it again.  Each write checks that the file still has a name; when it has none, what was
    written is copied to a new file (see :func:`salvage_paths`) and the run stops with an error that names it.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            super().__init__(str(self.path), "w+")  # readable too: a deleted output is copied back out
        except OSError as exc:
            raise OutputError(f"output {self.path} cannot be written ({exc.strerror}): "
                              f"choose a writable -o path") from None
        self.failed: OutputError | None = None

    def write(self, data) -> int:  # noqa: D102 - io.FileIO.write, with the failures named
        if self.failed is not None:  # the muxer's clean-up after a failure: nothing more can be kept
            raise self.failed
        try:
            if os.fstat(self.fileno()).st_nlink == 0:
                raise self._fail(OutputError(self._deleted_message()))
            return self._write_to_disk(data)
        except OutputError:
            raise
        except OSError as exc:
            raise self._fail(OutputError(write_failure_message(self.path, exc))) from None

    def _write_to_disk(self, data) -> int:
        """The system call, on its own: where tests make the disk fail."""
        return super().write(data)

    def _fail(self, error: OutputError) -> OutputError:
        self.failed = error
        return error

    def _deleted_message(self) -> str:
        copy = self._salvage()
        kept = (f"what was written ({self.tell() / 1e6:.1f} MB) was saved to {copy}" if copy is not None
                else "what was written could not be saved anywhere")
        return f"output {self.path} was deleted during the run: {kept}"

    def _salvage(self) -> Path | None:
        """Copy the unlinked file's bytes, read back through the open descriptor, to a new file."""
        size = self.tell()
        for target in salvage_paths(self.path):
            try:
                with open(target, "xb") as out:
                    offset = 0
                    while offset < size:
                        chunk = os.pread(self.fileno(), min(1 << 24, size - offset), offset)
                        if not chunk:
                            break
                        out.write(chunk)
                        offset += len(chunk)
                return target
            except OSError as exc:
                log.debug("salvage to %s failed (%s)", target, exc.strerror)
        return None


def salvage_paths(path: Path) -> list[Path]:
    """Where a deleted output's bytes go, in order of preference: the working folder, then the temp folder."""
    name = f"{path.stem}.recovered{path.suffix}"
    return [Path.cwd() / name, Path(tempfile.gettempdir()) / name]


def write_failure_message(path: str | Path, exc: OSError) -> str:
    """One line for a write to ``path`` that failed with ``exc``, saying what to do."""
    kept = "what was written so far plays"
    if exc.errno in _FULL:
        return f"output {path}: the disk is full ({exc.strerror}); {kept}: free space or choose another -o path"
    if exc.errno in _DENIED:
        return (f"output {path} can no longer be written ({exc.strerror}); {kept}: "
                f"check the folder's permissions or choose another -o path")
    return f"output {path} can no longer be written ({exc.strerror or exc}); {kept}: check the disk or choose another -o path"
