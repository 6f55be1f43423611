"""Open a delivered file once: stat, special-file check, hash while reading, stability check (SPEC 2.3).

A delivered file (a CDR file, a deletion log) is read through one ``Delivery``:

1. ``open_delivery`` opens the path with ``O_NONBLOCK`` (a FIFO never blocks the
   open) and refuses anything ``fstat`` does not call a regular file: a FIFO, a
   device, a socket, a folder. A path that cannot be opened is refused the same
   way. Refusals are ``NotReadable`` with one reason: the caller records a
   rejected file and goes on with the next one.
2. Every byte is hashed the first time a read returns it, in the order of the
   file: the scanner's seeks back (it re-reads a record cut off by a read) do
   not hash twice, so the SHA-256 is that of exactly the bytes parsed, with no
   second pass over the file. Large reads are hashed in a helper thread
   (hashlib releases the GIL), beside the parsing.
3. ``finish`` reads what the parser left (nothing, normally), then compares the
   file's size and modification time with those at the open: a file that
   changed while it was read (an upload still growing, an export rewritten)
   raises ``ChangedWhileRead``; the caller loads nothing, records nothing, and
   the next run tries again.

``sniff`` tells, from the first bytes, a file that is not text of its layout at
all (compressed, UTF-16, classic-Mac CR line ends, NUL bytes in its first line);
``json_array_hint`` names a deletion log that is one JSON array.

A CDR delivery named ``.gz`` or ``.zip`` (one member) is read as the file inside
(SPEC 8, ``delivered_text``): the delivered file is read once, through a
Delivery, while it is decompressed into an owner-only temporary folder under the
warehouse home (the text holds phone numbers); the name and SHA-256 recorded are
those of the file as delivered, line numbers count lines of the text inside. The
copy is removed when the load ends, whatever happens.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import gzip
import hashlib
import json
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from deletedcalls.fsutil import free_bytes

# reads at least this large are hashed in the helper thread (smaller ones inline: a thread hop costs more)
THREAD_HASH_BYTES = 1 << 20
SNIFF_BYTES = 64 * 1024


class NotReadable(Exception):
    """The file cannot be read as text of its layout; `reason` is one line for the operator."""

    def __init__(self, reason: str, sha256: str = "", size: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sha256 = sha256
        self.size = size


class ChangedWhileRead(Exception):
    """The file's size or modification time changed while it was read; nothing of it may load."""


def stored_name(path: Path) -> str:
    """The file's name as text that can be stored: bytes that are not UTF-8 become \\xNN escapes."""
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


def shown(path: Path) -> str:
    """The path as text that can be printed and stored (as stored_name)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def total_size(paths: Iterable[Path]) -> int:
    """The bytes of the regular files among `paths` (for a progress bar); one that cannot be stat-ed counts 0."""
    total = 0
    for p in paths:
        with contextlib.suppress(OSError, ValueError):
            st = os.stat(p)
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return total


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_delivery(path: Path) -> Delivery:
    """Open a delivered file for one hashed read; NotReadable when it is not a readable regular file."""
    try:
        before = os.stat(path)
    except OSError as e:
        raise NotReadable(f"cannot be opened: {e.strerror or e}") from e
    if not stat.S_ISREG(before.st_mode):  # checked before the open: a device's open can have effects
        raise NotReadable(f"is {_kind(before.st_mode)}, not a file; nothing was read from it")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise NotReadable(f"cannot be opened: {e.strerror or e}") from e
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # replaced between the stat and the open
        os.close(fd)
        raise NotReadable(f"is {_kind(st.st_mode)}, not a file; nothing was read from it")
    return Delivery(path, fd, st)


class Delivery:
    """A binary stream over one open file that hashes each byte the first time it is read."""

    def __init__(self, path: Path, fd: int, st: os.stat_result) -> None:
        self.path = path
        self.size = st.st_size  # where reading ends: the file's size, or before a half-written last line (hold_back)
        self.newlines = 0  # line ends among the bytes hashed so far: a load's lines without parsing them
        self._fd = fd
        self._opened = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
        self._pos = 0
        self._hashed = 0  # bytes [0, _hashed) have gone to the hash
        self._sha = hashlib.sha256()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._last: concurrent.futures.Future[Any] | None = None
        self._digest: str | None = None

    # -- the file-object surface the scanners use
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            pos += self._pos
        elif whence == os.SEEK_END:
            pos += self.size
        if pos < 0:  # as a file object says it (zipfile looks for its end record past the start of a tiny file)
            raise OSError(errno.EINVAL, "Invalid argument: negative seek position")
        self._pos = pos
        return pos

    def read(self, n: int = -1) -> bytes:
        if self._fd < 0:
            raise ValueError("read of a closed delivery")
        try:
            if n is None or n < 0:
                parts: list[bytes] = []
                at = self._pos
                while at < self.size and (part := os.pread(self._fd, min(16 << 20, self.size - at), at)):
                    parts.append(part)
                    at += len(part)
                data = b"".join(parts)
            else:
                data = os.pread(self._fd, max(0, min(n, self.size - self._pos)), self._pos)
        except OSError as e:
            raise NotReadable(f"cannot be read: {e.strerror or e}") from e
        start = self._pos
        self._pos += len(data)
        if self._pos > self._hashed:
            if start > self._hashed:  # a read past bytes never read (a seek forward): hash the gap first
                gap = os.pread(self._fd, start - self._hashed, self._hashed)
                self.newlines += gap.count(b"\n")
                self._update(gap)
            self.newlines += data.count(b"\n", self._hashed - start)
            self._update(memoryview(data)[self._hashed - start :])
        return data

    @property
    def opened_as(self) -> tuple[int, int]:
        """(size, mtime_ns) of the file when it was opened."""
        return self._opened[0], self._opened[1]

    @property
    def file_size(self) -> int:
        """The file's size when it was opened (`size` may end before a half-written last line)."""
        return self._opened[0]

    def peek(self, n: int, at: int = 0) -> bytes:
        """Bytes of the file without reading them as the load's (not hashed): a first look, a line end's place."""
        return os.pread(self._fd, max(0, min(n, self.size - at)), at)

    def hold_back_partial_line(self) -> None:
        """End the read after the last line end: a last line still being written waits for the next run.

        For files a switch keeps appending to (a profile's `grows`). The bytes after the last
        line end are looked at here, to find it, but neither parsed nor hashed.
        """
        end = self.size
        while end > 0:
            block = os.pread(self._fd, min(1 << 16, end), end - min(1 << 16, end))
            at = block.rfind(b"\n")
            if at >= 0:
                self.size = end - len(block) + at + 1
                return
            end -= len(block)
        self.size = 0

    def lines(self) -> int:
        """How many lines the bytes hashed so far hold (a last line without its line end counts)."""
        if not self._hashed:
            return 0
        last = os.pread(self._fd, 1, self._hashed - 1)
        return self.newlines + (0 if last == b"\n" else 1)

    def prefix_digests(self, offsets: Iterable[int]) -> dict[int, str]:
        """The SHA-256 of the first n bytes for each n in `offsets` (those within the file), in one read from the
        start that goes on hashing as usual: a later read of the rest continues the same hash."""
        out: dict[int, Any] = {}
        for off in sorted({o for o in offsets if 0 <= o <= self.size}):
            self.seek(self._hashed)
            while self._hashed < off and self.read(min(16 << 20, off - self._hashed)):
                pass
            if self._hashed == off:
                out[off] = self._pool.submit(lambda: self._sha.copy().hexdigest()) if self._pool else self._sha.copy().hexdigest()
        return {k: (v.result() if isinstance(v, concurrent.futures.Future) else v) for k, v in out.items()}

    def readline(self, limit: int = -1) -> bytes:
        """One line, its \\n included (the profiles' skip_lines)."""
        parts: list[bytes] = []
        got = 0
        while limit < 0 or got < limit:
            start = self._pos
            block = self.read(8192 if limit < 0 else min(8192, limit - got))
            if not block:
                break
            end = block.find(b"\n")
            if end >= 0:
                parts.append(block[: end + 1])
                self.seek(start + end + 1)
                break
            parts.append(block)
            got += len(block)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _update(self, data: bytes | memoryview) -> None:
        self._hashed += len(data)
        if self._pool is None and len(data) < THREAD_HASH_BYTES:
            self._sha.update(data)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        # one worker: updates run in submission order
        self._last = self._pool.submit(self._sha.update, data)

    # -- the end of the read
    def finish(self) -> str:
        """The SHA-256 of the whole file as read; ChangedWhileRead if it changed since the open."""
        if self._digest is not None:
            return self._digest
        self.seek(self._hashed)
        while self.read(16 << 20):  # what the parser did not need (a rejected file's rest)
            pass
        if self._last is not None:
            self._last.result()
        st = os.fstat(self._fd)
        try:
            now = os.stat(self.path)
            same_file = (now.st_ino, now.st_dev) == self._opened[2:]
        except OSError:
            same_file = False
        if (st.st_size, st.st_mtime_ns) != self._opened[:2] or self._hashed != self.size or not same_file:
            raise ChangedWhileRead(
                f"{stored_name(self.path)} changed while it was read (size {self._opened[0]} -> {st.st_size} bytes); "
                "nothing of it was loaded or recorded, the next run tries it again"
            )
        self._digest = self._sha.hexdigest()
        return self._digest

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Delivery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_MAGIC = [
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a zip archive"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel (.xls) workbook"),
    (b"\x00\x00\xfe\xff", "UTF-32 text"),
    (b"\xff\xfe\x00\x00", "UTF-32 text"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
]


def sniff(head: bytes, layout: str) -> str | None:
    """Why a file starting with `head` is not text of `layout` ("CSV" or "JSON Lines") at all, or None."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            fix = "save it as UTF-8" if "text" in what else f"send it uncompressed as {layout}"
            return f"is {what}, not {layout} text; {fix}"
    first = head.split(b"\n", 1)[0]
    if b"\x00" in first and layout == "CSV":  # a CSV's first line is its header; a log's is one entry among others
        odd, even = first[1::2].count(0) / max(len(first) // 2, 1), first[0::2].count(0) / max(len(first) // 2, 1)
        if (odd > 0.5) != (even > 0.5) and min(odd, even) < 0.1:  # ASCII as UTF-16: every other byte NUL
            return f"looks like UTF-16 text without a byte-order mark, not UTF-8 {layout}; save it as UTF-8"
        return f"holds NUL bytes in its first line: binary data, not {layout} text"
    if b"\n" not in head and b"\r" in head.rstrip(b"\r"):
        return "has classic-Mac line ends (CR only), so it reads as one line; save it with LF or CRLF line ends"
    if layout == "CSV" and b'"' not in first and b"\r" in first.rstrip(b"\r"):  # a CR that ends no line, unquoted
        return ("mixes line ends: its first line holds a CR (carriage return) that is not part of a CRLF, so lines "
                "run together; save it with LF or CRLF line ends")
    return None


# JSON nested deeper than Python's parser goes (about 1000 levels); no deletion entry or Ultravox object is
TOO_DEEP = "not valid JSON: nested too deeply"


def json_problem(error: ValueError | RecursionError) -> str:
    """Why a JSON text failed to parse, as a reason: a syntax error, nesting too deep, or a number too long."""
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {error.msg} at column {error.colno}"
    if isinstance(error, RecursionError):
        return TOO_DEEP
    # Python refuses to convert an integer of more than sys.get_int_max_str_digits() (4300) digits
    return f"not valid JSON: a number too long to read ({' '.join(str(error).split(':')[0].split())})"


def json_array_hint(head: bytes) -> str | None:
    """For a JSON Lines file none of whose lines is valid: the reason when it is one JSON array instead."""
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        return "is one JSON array, not JSON Lines (one JSON object a line); write one entry a line"
    return None


# ---------------------------------------------------------------- compressed deliveries

COPY_BUFFER = 1024 * 1024
# the most a delivery may decompress to: 100 times its size, and at least 256 MB (CSV text compresses
# 5-30 times; a "zip bomb" thousands of times)
MAX_EXPANSION = 100
MIN_EXPANDED_LIMIT = 256 * 1024 * 1024


class DeliveryRejected(Exception):
    """A compressed delivery that cannot be opened as one text file (with the delivered file's hash)."""

    def __init__(self, reason: str, sha256: str = "") -> None:
        super().__init__(reason)
        self.sha256 = sha256


def compression(path: Path) -> str | None:
    low = path.name.lower()
    return "gzip" if low.endswith(".gz") else "zip" if low.endswith(".zip") else None


def inner_name(path: Path) -> str:
    """The name of the file inside a delivery (for detection by file name), without decompressing it."""
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
def delivered_text(path: Path, scratch: Path) -> Iterator[tuple[Path, str | None]]:
    """(where to read the delivery's text, the SHA-256 of the delivered file if it was compressed).

    A plain file is its own text (its load reads and hashes it). A compressed one is
    read once through a Delivery while it is decompressed into a private folder under
    `scratch`; its hash and stability are settled before the text is read. The text may
    take at most half of the space free on `scratch`'s disk when it starts (the load
    needs room for the rows it writes): a delivery that would take more is refused
    before it fills the disk (DeliveryRejected), as is a decompression bomb.
    """
    kind = compression(path)
    if kind is None:
        yield path, None
        return
    free = free_bytes(scratch)
    with open_delivery(path) as delivery, tempfile.TemporaryDirectory(prefix=".delivery-", dir=scratch) as tmp:  # 0700
        out = Path(tmp) / "text"
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as dst:
            budget = _Budget(max(MIN_EXPANDED_LIMIT, MAX_EXPANSION * delivery.size), free, scratch)
            try:
                if kind == "gzip":
                    with gzip.GzipFile(fileobj=delivery, mode="rb") as src:
                        _copy_text(src, dst, budget)
                else:
                    with zipfile.ZipFile(delivery) as z:
                        _copy_text_of_zip(z, dst, budget)
            except DeliveryRejected as e:
                raise DeliveryRejected(str(e), delivery.finish()) from e
            except (gzip.BadGzipFile, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError, RuntimeError,
                    ValueError) as e:  # what gzip and zipfile raise for damaged or unsupported data
                raise DeliveryRejected(f"cannot be read as {kind}: {' '.join(str(e).split()) or type(e).__name__}",
                                       delivery.finish()) from e
        sha = delivery.finish()  # the whole delivered file, read once; ChangedWhileRead if it changed meanwhile
        yield out, sha


class _Budget:
    """How much a delivery may decompress to: `limit` (a bomb past it) and half of the `free` bytes of `scratch`."""

    def __init__(self, limit: int, free: int, scratch: Path) -> None:
        self.limit, self.free, self.scratch = limit, free, scratch
        self.room = free // 2

    def check(self, size: int, declared: bool = False) -> None:
        """DeliveryRejected when `size` bytes of text (written so far, or `declared` by the archive) are too many."""
        so = "would decompress" if declared else "decompresses"
        if size > self.room and self.room < self.limit:
            raise DeliveryRejected(
                f"{so} to more than {self.room} bytes, half the free space of the warehouse's disk ({self.scratch}: "
                f"{self.free} bytes free): refused before it filled the disk; free space there and deliver it again "
                "under a new name, or send it split"
            )
        if size > self.limit:
            raise DeliveryRejected(
                f"{so} to more than {self.limit} bytes ({MAX_EXPANSION} times its size): refused as a decompression bomb; "
                "send it uncompressed or split it"
            )


def _copy_text_of_zip(z: zipfile.ZipFile, dst: Any, budget: _Budget) -> None:
    members = [i for i in z.infolist() if not i.is_dir()]
    if len(members) != 1:
        raise DeliveryRejected(f"a .zip delivery must hold exactly one file; this one holds {len(members)}")
    member = members[0]
    if member.flag_bits & 0x1:
        raise DeliveryRejected(f"holds an encrypted file ({member.filename}): send it without a password")
    budget.check(member.file_size, declared=True)  # what the archive says, before a byte is written
    with z.open(member) as src:
        _copy_text(src, dst, budget)


def _copy_text(src: Any, dst: Any, budget: _Budget) -> None:
    """Decompress into dst; binary content is refused on its first block, too much text before it is written."""
    first = src.read(SNIFF_BYTES)
    reason = sniff(first, "CSV")
    if reason:
        raise DeliveryRejected(f"holds a file that {reason}")
    written = 0
    block = first
    while block:
        written += len(block)
        budget.check(written)
        try:
            dst.write(block)
        except OSError as e:  # a write names no file: name the disk it failed on (exit 7 says where)
            e.filename = e.filename or str(budget.scratch)
            raise
        block = src.read(COPY_BUFFER)
