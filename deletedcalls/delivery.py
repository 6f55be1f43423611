"""CDR files as delivered: plain, gzip (`.gz`) or a single-member `.zip`.

A compressed delivery is read as the file inside (SPEC 8): it is decompressed
once into an owner-only temporary folder under the warehouse home (the text
holds phone numbers) and read from there; the file's name and SHA-256 stay
those of the file as delivered, and line numbers count lines of the text
inside. The copy is removed when the load ends, whatever happens.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

COPY_BUFFER = 1024 * 1024


class DeliveryRejected(Exception):
    """A compressed delivery that cannot be opened as one text file."""


def compression(path: Path) -> str | None:
    low = path.name.lower()
    return "gzip" if low.endswith(".gz") else "zip" if low.endswith(".zip") else None


def inner_name(path: Path) -> str:
    """The name of the file inside a delivery (for detection by file name), without opening it."""
    kind = compression(path)
    if kind == "gzip":
        return path.name[:-3]
    if kind == "zip":
        with contextlib.suppress(OSError, zipfile.BadZipFile):
            with zipfile.ZipFile(path) as z:
                members = [i for i in z.infolist() if not i.is_dir()]
                if len(members) == 1:
                    return Path(members[0].filename).name
        return path.name[:-4]
    return path.name


@contextlib.contextmanager
def text_of(path: Path, scratch: Path) -> Iterator[Path]:
    """A path to read the delivery's text from: the file itself, or its decompressed copy under scratch."""
    kind = compression(path)
    if kind is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=".delivery-", dir=scratch) as tmp:  # created 0700
        out = Path(tmp) / "text"
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as dst:
            try:
                if kind == "gzip":
                    with gzip.open(path, "rb") as src:
                        shutil.copyfileobj(src, dst, COPY_BUFFER)
                else:
                    with zipfile.ZipFile(path) as z:
                        members = [i for i in z.infolist() if not i.is_dir()]
                        if len(members) != 1:
                            raise DeliveryRejected(f"a .zip delivery must hold exactly one file; this one holds {len(members)}")
                        with z.open(members[0]) as src:
                            shutil.copyfileobj(src, dst, COPY_BUFFER)
            except (gzip.BadGzipFile, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError) as e:
                raise DeliveryRejected(f"cannot be read as {kind}: {' '.join(str(e).split()) or type(e).__name__}") from e
        yield out
