"""Opening a recipient file: the size limit, the format, one seekable binary handle."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Literal, Protocol, Union

from msgkit.exceptions import ConfigError, ImportFileError

__all__ = ["MAX_BYTES", "Format", "Source", "SourceFile", "closed_on_error", "open_source"]

#: The default size limit of a recipient file: 25 MiB.
MAX_BYTES = 25 * 1024 * 1024

Format = Literal["csv", "xlsx"]
#: What can be imported: a path, the file's bytes, or a binary file object (an upload).
Source = Union[str, "os.PathLike[str]", bytes, IO[bytes]]

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls (and password-protected .xlsx)
_SPOOL = 1 << 20


class _Closable(Protocol):
    def close(self) -> None: ...


@contextlib.contextmanager
def closed_on_error(resource: _Closable) -> Iterator[None]:
    """Close ``resource`` if what is being built on it fails; on success the new object
    owns it (and closes it in turn)."""
    try:
        yield
    except BaseException:
        resource.close()
        raise


class SourceFile:
    """A recipient file opened for reading: a seekable binary handle and what it is."""

    def __init__(self, handle: IO[bytes], *, name: str | None, size: int, owned: bool):
        self.handle = handle
        self.name = name
        self.size = size
        self._owned = owned

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes (the handle is left at the start)."""
        self.handle.seek(0)
        data = self.handle.read(n)
        self.handle.seek(0)
        return data

    def detect_format(self, given: Format | None) -> Format:
        """The file's format: as given, or from its first bytes."""
        start = self.head(8)
        if start.startswith(_OLE2):
            raise ImportFileError(
                "this is an old binary Excel file (.xls) or an encrypted workbook",
                path=self.name,
                hint="open it in Excel or LibreOffice and save it as .xlsx or CSV UTF-8",
            )
        found: Format = "xlsx" if start.startswith(_ZIP) else "csv"
        if given is not None and given != found:
            raise ImportFileError(
                f"format={given!r} was given, but the file looks like {found.upper()}",
                path=self.name,
                hint=f"leave format out, or pass format={found!r}",
            )
        return found

    def close(self) -> None:
        """Close the handle if this object opened it."""
        if self._owned:
            self.handle.close()


def _too_big(name: str | None, size: int | None, max_bytes: int) -> ImportFileError:
    shown = f"{size:,} bytes" if size is not None else "more than that"
    return ImportFileError(
        f"the file is {shown}; the limit is {max_bytes:,} bytes",
        path=name,
        hint="split the list into smaller files, or raise max_bytes=... if this size is expected",
    )


def open_source(source: Source, *, max_bytes: int = MAX_BYTES) -> SourceFile:
    """Open what is to be imported, checking the size limit before anything is read.

    Raises:
        ImportFileError: When the file is over ``max_bytes`` or cannot be opened.
        ConfigError: When ``max_bytes`` is not positive.
    """
    if max_bytes <= 0:
        raise ConfigError(f"max_bytes={max_bytes} is not a size", key="max_bytes")
    if isinstance(source, bytes):
        if len(source) > max_bytes:
            raise _too_big(None, len(source), max_bytes)
        return SourceFile(io.BytesIO(source), name=None, size=len(source), owned=True)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            size = os.stat(path).st_size
            if size > max_bytes:
                raise _too_big(path, size, max_bytes)
            handle: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by SourceFile.close
        except OSError as exc:
            raise ImportFileError(
                f"cannot open the file: {exc.strerror or exc}",
                path=path,
                hint="check the path and that the file is readable",
            ) from exc
        return SourceFile(handle, name=path, size=size, owned=True)
    given = getattr(source, "name", None)
    name = given if isinstance(given, str) else None
    if source.seekable():
        start = source.tell()
        size = source.seek(0, os.SEEK_END) - start
        source.seek(start)
        if size > max_bytes:
            raise _too_big(name, size, max_bytes)
        if start == 0:
            return SourceFile(source, name=name, size=size, owned=False)
    # A stream (or one not at its start): copy it, never more than the limit.
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115
    copied = 0
    while chunk := source.read(_SPOOL):
        copied += len(chunk)
        if copied > max_bytes:
            spool.close()
            raise _too_big(name, None, max_bytes)
        spool.write(chunk)
    spool.seek(0)
    return SourceFile(spool, name=name, size=copied, owned=True)
