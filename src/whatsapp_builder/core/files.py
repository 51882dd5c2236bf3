"""Reading a file a user names on the command line, refusing anything that is not a regular file.

`open()` on a named pipe (mkfifo) waits for a writer, forever; a character device (`/dev/zero`, `/dev/urandom`)
reads without end; a directory or a socket cannot be read at all. `chatbot import FIFO` hung, and so did
`simulator send --image` on a pipe named like a photo (and on a link to `/dev/zero`, it read until memory ran
out). `read_regular_file` looks at what the path is before opening it, and opens it without blocking (so a pipe
put there meanwhile cannot hang it either: it is refused after the open, before any read), reading at most one
byte more than the caller's cap."""

from __future__ import annotations

import os
import stat


class UnreadableFile(Exception):
    """The path names nothing readable as a file; the message says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _not_regular(mode: int) -> str | None:
    """What a path of this mode is, when it is not a regular file."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    for test, kind in kinds:
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_regular_file(name: str, cap: int) -> bytes:
    """The first `cap + 1` bytes (at most) of the regular file `name` (a link to one is fine): reading one more
    than the cap tells the caller the file is too large without reading all of it. Raises `UnreadableFile` for a
    path that names nothing, or a directory, a pipe, a device or a socket, or cannot be read."""
    try:
        kind = _not_regular(os.stat(name).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        raise UnreadableFile(f"{name}: no such file") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read {name}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the name
        raise UnreadableFile(f"{name!r}: no such file") from None
    if kind is not None:
        raise UnreadableFile(f"{name} is {kind}, not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(name, flags)
    except FileNotFoundError:
        raise UnreadableFile(f"{name}: no such file") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read {name}: {exc.strerror or exc}") from None
    with os.fdopen(descriptor, "rb") as handle:
        kind = _not_regular(os.fstat(handle.fileno()).st_mode)  # replaced between the look and the open
        if kind is not None:
            raise UnreadableFile(f"{name} is {kind}, not a regular file")
        try:
            return handle.read(cap + 1)
        except OSError as exc:
            raise UnreadableFile(f"cannot read {name}: {exc.strerror or exc}") from None
