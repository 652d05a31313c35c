"""How many records a CSV file holds, its quoting checked: a path -> the
number of records (the header counted, blank lines not), or a DataError
naming the line of the first quote that would make rows vanish.

pyarrow's CSV parser is lenient where it matters most: a field that opens
with '"' and is never closed takes every line after it as its value (a
100,000-row file ran as 5 rows), and text after a closing quote ("a"b) is
glued on, so a stray quote closed on a later line swallows the lines
between. Python's csv module with strict=True refuses both and is the
reference for what a record is here; the rows pyarrow reads are then
checked against this count (input_files.read_batches).

Python's csv reads about half a million rows a second, so it runs only when
a fast check cannot vouch for the file. The fast check reads the bytes with
numpy, CHUNK at a time (memory stays flat): in a file where quotes appear
only around fields, a byte is inside a quoted field exactly when an odd
number of quotes comes before it. So a quote with an even number before it
must open a field (follow a comma, a line end, the start of the file or the
quote it doubles) and one with an odd number must close it or be doubled
(be followed by a quote, a comma, a line end or the end of the file), and
the file must end outside quotes. Records then end at the line ends outside
quotes (LF, CRLF or a bare CR, as pyarrow and Python's csv both read them);
a line with nothing on it is not a record. A quote anywhere else (5" in an
unquoted field, which Python and pyarrow both read as a character, or a real
fault) sends the file to the strict reader, which decides and, for a fault,
names the line.
"""
from __future__ import annotations

import csv

import numpy as np

from pol.errors import DataError

CHUNK = 1 << 24
BOM = b"\xef\xbb\xbf"
QUOTE, COMMA, LF, CR = 34, 44, 10, 13
# A quote that opens a field follows one of these; one that closes a field is followed by one.
_AROUND = np.zeros(256, dtype=bool)
_AROUND[[QUOTE, COMMA, LF, CR]] = True
# A quoted field this long is a quote that was never closed, not data: the
# strict reader stops there rather than hold the rest of a large file.
FIELD_LIMIT = 1 << 27


def count_records(path: str) -> int:
    """The records of the CSV file at `path`, its header one of them."""
    try:
        n = _fast_count(path)
        return n if n is not None else _strict_count(path)
    except OSError as e:
        raise DataError(f"cannot be read ({e.strerror or e})", path=path) from None


def _fast_count(path: str) -> int | None:
    """The records, or None when a quote is not where RFC 4180 puts it."""
    # buf[0:2] hold the last two bytes of the chunk before: the first has been
    # looked at, the second not yet (a byte is looked at with both its
    # neighbours in view). Before the file: two virtual line ends; the
    # second ends a blank line, which is not a record.
    buf = bytearray(CHUNK + 3)
    view = memoryview(buf)
    buf[0:2] = b"\n\n"
    base = -2                   # file offset of buf[0] (the BOM not counted)
    quotes = records = size = 0
    line_start = -1             # where the line after the last line end outside quotes starts
    with open(path, "rb") as f:
        if f.read(len(BOM)) != BOM:
            f.seek(0)
        while True:
            n = f.readinto(view[2:2 + CHUNK])
            size += n
            end = 2 + n
            if not n:
                buf[2] = COMMA                  # after the last byte: closes a quote, ends no line
                end = 3
            a = np.frombuffer(buf, dtype=np.uint8, count=end)
            mid = a[1:end - 1]
            if buf.find(b'"', 1, end - 1) >= 0:
                q = np.flatnonzero(mid == QUOTE)
                q += 1
                first = quotes & 1              # q[first] opens a field, q[1 - first] closes one
                if not (_AROUND[a[q[first::2] - 1]].all() and _AROUND[a[q[1 - first::2] + 1]].all()):
                    return None
            else:
                q = None
            ends = np.flatnonzero(mid == LF)
            ends += 1
            if buf.find(b"\r", 1, end - 1) >= 0:
                cr = np.flatnonzero(mid == CR)
                cr += 1
                ends = np.sort(np.concatenate((ends, cr[a[cr + 1] != LF])))    # CR LF ends at its LF
            if q is not None:
                ends = ends[((quotes + np.searchsorted(q, ends)) & 1) == 0]
                quotes += q.size
            elif quotes & 1:
                ends = ends[:0]                 # all inside one quoted field
            if ends.size:
                starts = ends
                if buf.find(b"\r", 0, end - 1) >= 0:
                    starts = ends - ((a[ends] == LF) & (a[ends - 1] == CR))
                # A line end right after the one before it ends a blank line.
                records += int(np.count_nonzero(starts[1:] != ends[:-1] + 1))
                records += base + int(starts[0]) != line_start
                line_start = base + int(ends[-1]) + 1
            if not n:
                break
            buf[0:2] = buf[end - 2:end]
            base += end - 2
    if quotes & 1:
        return None
    return records + (line_start < size)


def _strict_count(path: str) -> int:
    """The records as Python's csv module reads them (strict); a DataError
    naming the line where a record goes wrong."""
    limit = csv.field_size_limit()
    csv.field_size_limit(FIELD_LIMIT)
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv.reader(f, strict=True)
            records, start = 0, 1
            try:
                for row in reader:
                    records += bool(row)
                    start = reader.line_num + 1
            except csv.Error as e:
                raise DataError(_fault(str(e), start, reader.line_num), path=path) from None
    finally:
        csv.field_size_limit(limit)
    return records


def _fault(error: str, start: int, line: int) -> str:
    """Python's csv error, said for a policy author: where the record starts
    and what to do."""
    if "expected after" in error:
        if line == start:
            return (f"line {line}: text after the quote that closes a quoted field; a quote inside a "
                    "quoted field is written twice (\"\")")
        return (f"line {start}: a quoted field in this record runs on to line {line} and ends there in "
                f"text after its closing quote (a stray '\"' on line {start}?); close the quote, or write "
                "a quote inside a quoted field twice (\"\")")
    if "unexpected end of data" in error or "field larger than field limit" in error:
        return (f"line {start}: a quoted field in this record is never closed, so every line after it "
                "would be read as part of one value; close the quote, or write a quote inside a quoted "
                "field twice (\"\")")
    return f"line {line}: {error}"
