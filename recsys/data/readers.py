"""Reading tabular files (CSV, CSV.gz, JSONL, JSONL.gz, Parquet) into Arrow tables, fast.

Each reader returns the table and a function mapping row indices to the numbers a person sees in
the file
(the CSV/JSONL line, the Parquet row), so that errors can name them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from recsys.errors import InputError

SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet")
DICTIONARY = pa.dictionary(pa.int32(), pa.string())


@dataclass
class RawTable:
    table: pa.Table
    path: str
    label: str  # "line" or "row"
    row_numbers: Callable[[np.ndarray], np.ndarray]
    malformed: list[tuple[int, str]]  # (line, reason) of rows the reader itself could not split


def input_files(path: str | Path) -> list[Path]:
    """The data files at `path`: the file itself, or every supported file in a folder (sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and file_format(p))
        if not files:
            raise InputError(str(path), f"folder holds no {', '.join(SUFFIXES)} files")
        return files
    if not path.exists():
        raise InputError(str(path), "no such file or folder")
    if not file_format(path):
        raise InputError(str(path), f"unknown file type (expected one of {', '.join(SUFFIXES)})")
    return [path]


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    for fmt in ("csv", "jsonl", "parquet"):
        if name.endswith(f".{fmt}") or (fmt != "parquet" and name.endswith(f".{fmt}.gz")):
            return fmt
    return None


def read_raw(
    path: Path, string_columns: tuple[str, ...], dictionary: tuple[str, ...] = ()
) -> RawTable:
    """Reads one file; `string_columns` are read as text whatever they look like (ids stay
    strings), those of them in `dictionary` as dictionary-encoded text where the format allows
    (CSV, Parquet): each distinct value is then decoded and held once."""
    fmt = file_format(path)
    try:
        if fmt == "csv":
            return read_csv(path, string_columns, dictionary)
        if fmt == "jsonl":
            return read_jsonl(path)
        table = pq.read_table(path, read_dictionary=dictionary)  # skips columns not of text
        return RawTable(table, str(path), "row", lambda idx: idx + 1, [])
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(path), f"cannot read: {first_line(exc)}") from None


def read_csv(path: Path, string_columns: tuple[str, ...], dictionary: tuple[str, ...]) -> RawTable:
    types = {name: DICTIONARY if name in dictionary else pa.string() for name in string_columns}
    convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=False)
    malformed: list[tuple[int | None, str]] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        got = f"expected {row.expected_columns} fields, got {row.actual_columns}"
        malformed.append((row.number, got))
        return "skip"

    parse = pcsv.ParseOptions(invalid_row_handler=on_invalid)
    table = pcsv.read_csv(path, parse_options=parse, convert_options=convert)
    if malformed:  # line numbers are only known when reading on one thread
        malformed.clear()
        read = pcsv.ReadOptions(use_threads=False)
        table = pcsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    lines = np.array(sorted(n for n, _ in malformed), dtype=np.int64)

    def row_numbers(idx: np.ndarray) -> np.ndarray:
        line = idx + 2  # the header is line 1
        for skipped in lines:  # few: each malformed line shifts the ones after it
            line = line + (line >= skipped)
        return line

    return RawTable(table, str(path), "line", row_numbers, [(n or 0, r) for n, r in malformed])


def read_jsonl(path: Path) -> RawTable:
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            table = pjson.read_json(stream)
        return RawTable(table, str(path), "line", lambda idx: idx + 1, [])
    except pa.ArrowInvalid:
        return read_jsonl_slowly(path)


def read_jsonl_slowly(path: Path) -> RawTable:
    """Line by line, for files Arrow refuses (mixed types, broken lines): exact line numbers for
    errors."""
    records, lines, malformed = [], [], []
    with pa.input_stream(str(path), compression="detect") as stream:
        for number, raw in enumerate(stream.read().decode("utf-8", "replace").splitlines(), 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                malformed.append((number, f"invalid JSON: {exc.msg}"))
                continue
            if not isinstance(record, dict):
                malformed.append((number, "expected a JSON object"))
                continue
            records.append(
                {
                    k: v if isinstance(v, str) or v is None else json.dumps(v)
                    for k, v in record.items()
                }
            )
            lines.append(number)
    line_of = np.array(lines, dtype=np.int64)
    return RawTable(
        pa.Table.from_pylist(records), str(path), "line", lambda idx: line_of[idx], malformed
    )


def first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
