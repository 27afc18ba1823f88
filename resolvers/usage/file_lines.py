"""A usage file's text lines, decoded a block at a time, and how many of its bytes they span.

Apart from the formats (file_formats.py) because it is about bytes, not records: decoding UTF-8 in large blocks
(one C-level decode per block instead of one per line) and counting the bytes read for the progress line of
`dpor-gateway ingest`. A byte sequence that is not UTF-8 makes the whole file unreadable (FileFormatError),
not one bad line.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from typing import BinaryIO

# Bytes decoded at a time: one C-level decode per block instead of one per line.
READ_BLOCK = 1 << 20


class FileFormatError(Exception):
    """The file cannot be read as the format it claims (e.g. a CSV header without the required columns)."""


class CountingLines:
    """Text lines of a binary file, decoded a block at a time, knowing how many bytes the lines taken so far
    span (for the progress line): the block's bytes before it, plus the share of the current block read."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._lines_before = 0
        self._bytes_before = 0  # bytes of the blocks before the current one
        self._current: io.StringIO | None = None
        self._current_bytes = 0
        self._current_chars = 1

    def __iter__(self) -> Iterator[str]:
        # StringIO(newline="") splits lines as a file opened with newline="" does, the way the csv module
        # wants them: a quoted line break stays inside its field.
        return itertools.chain.from_iterable(self._texts())

    def bytes_consumed(self) -> int:
        """Bytes of the file up to the last line taken (exact for ASCII, proportional within a block)."""
        if self._current is None:
            return self._bytes_before
        return self._bytes_before + self._current.tell() * self._current_bytes // self._current_chars

    def _texts(self) -> Iterator[io.StringIO]:
        # "utf-8-sig" on the first block: a byte-order mark there is skipped, not read into the first field.
        encoding = "utf-8-sig"
        for block in self._blocks():
            try:
                text = block.decode(encoding)
            except UnicodeDecodeError as error:
                # Not a bad record but a broken file: stop (batches before this line stay written).
                number = self._lines_before + block.count(b"\n", 0, error.start) + 1
                raise FileFormatError(f"line {number} is not UTF-8") from None
            encoding = "utf-8"
            self._lines_before += block.count(b"\n")
            self._bytes_before += self._current_bytes
            self._current_bytes, self._current_chars = len(block), max(len(text), 1)
            self._current = io.StringIO(text, newline="")
            yield self._current
        self._bytes_before += self._current_bytes
        self._current, self._current_bytes = None, 0

    def _blocks(self) -> Iterator[bytes]:
        """Blocks of whole lines (a UTF-8 character never spans a line break), the last one as it ends."""
        rest = b""
        while block := self.stream.read(READ_BLOCK):
            block = rest + block
            end = block.rfind(b"\n") + 1
            rest = block[end:]
            if end:
                yield block[:end]
        if rest:
            yield rest
