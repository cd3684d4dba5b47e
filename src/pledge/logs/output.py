"""Write results so that a failed run leaves nothing behind and a reader never sees half a file.

Files are written beside their destination under a hidden temporary name and moved into place
with ``os.replace`` (atomic on POSIX) only when the whole run succeeded; on any error the
temporary file is removed and an existing destination is left as it was.
"""

from __future__ import annotations

import contextlib
import gzip
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from pledge.errors import InputError

__all__ = ["atomic_output", "temp_beside"]


def temp_beside(path: Path, suffix: str = ".tmp") -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")


@contextlib.contextmanager
def atomic_output(path: Path | None, *, compress: bool | None = None) -> Iterator[BinaryIO]:
    """A binary stream for ``path`` (``None`` or ``-``: standard output, written as it goes).

    ``compress`` defaults to "the name ends in ``.gz``".
    """
    if path is None or str(path) == "-":
        try:
            yield sys.stdout.buffer
        finally:
            sys.stdout.buffer.flush()
        return
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an output file name")
    if not path.parent.exists():
        raise InputError(f"{path.parent}: no such directory", hint="create it first")
    tmp = temp_beside(path)
    gz = path.name.endswith(".gz") if compress is None else compress
    try:
        raw = open(tmp, "wb", buffering=256 * 1024)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    stream = cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6)) if gz else raw
    try:
        yield stream
        if gz:
            stream.close()
        raw.close()
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            stream.close()
            raw.close()
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
