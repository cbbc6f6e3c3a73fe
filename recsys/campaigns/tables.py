"""Campaign files: writers by extension (CSV, JSONL, Parquet) that publish with one os.replace, and
readers for user lists, segment files and earlier exports."""

from __future__ import annotations

import glob
import itertools
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from recsys.data.readers import file_format, input_files, read_raw
from recsys.errors import InputError
from recsys.files import remove_leftovers, writer_gone

OUTPUT_SUFFIXES = (".csv", ".jsonl", ".parquet")


def output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(str(path), f"unknown output type (expected {', '.join(OUTPUT_SUFFIXES)})")
    return suffix[1:]


class AtomicWriter:
    """Writes tables chunk by chunk to a hidden temporary file beside `path`; on a clean exit the
    file is renamed to `path`, on an exception it is removed. So `path` is either absent (or its
    old content) or complete. With `nest`, JSONL holds one object per value of `nest` (rows with
    the same value must be consecutive) with the other columns in an `items` list."""

    def __init__(self, path: str | Path, nest: str | None = None) -> None:
        self.path = Path(path)
        self.format = output_format(self.path)
        self.nest = nest
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._sink: Any = None

    def __enter__(self) -> AtomicWriter:
        if not self.path.parent.is_dir():
            raise InputError(str(self.path), "the output folder does not exist")
        leftovers = self.path.parent.glob(f".{glob.escape(self.path.name)}.tmp-*")
        remove_leftovers(leftovers, writer_gone)  # of exports killed before they could clean up
        return self

    def write(self, table: pa.Table) -> None:
        if self.format == "jsonl":
            self._sink = self._sink or open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115
            self._sink.writelines(json_lines(table, self.nest))
            return
        if self.format == "csv":
            table = plain(table)
        if self._sink is None:
            opened = pq.ParquetWriter if self.format == "parquet" else pcsv.CSVWriter
            self._sink = opened(str(self.tmp), table.schema)
        self._sink.write_table(table)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if self._sink is not None:
                self._sink.close()
        finally:
            if kind is None and self._sink is not None:
                os.replace(self.tmp, self.path)
            else:
                self.tmp.unlink(missing_ok=True)


def write_table(path: str | Path, table: pa.Table, nest: str | None = None) -> None:
    with AtomicWriter(path, nest) as writer:
        writer.write(table)


def plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded (the CSV writer wants plain values)."""
    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    return pa.table(columns, names=table.column_names)


def json_lines(table: pa.Table, nest: str | None) -> list[str]:
    rows = plain(table).to_pylist()
    if nest is None:
        return [json.dumps(row) + "\n" for row in rows]
    lines = []
    for key, group in itertools.groupby(rows, key=lambda row: row[nest]):
        items = [{k: v for k, v in row.items() if k != nest} for row in group]
        lines.append(json.dumps({nest: key, "items": items}) + "\n")
    return lines


def read_user_ids(path: str | Path) -> pa.Array:
    """Customer ids from a file with one id per line, or a table file (CSV with a header, JSONL,
    Parquet) with a user_id column. Duplicates are dropped, first-seen order kept."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such file")
    fmt = file_format(path)
    if fmt in ("csv", None):
        with pa.input_stream(str(path), compression="detect") as stream:  # .csv.gz too
            lines = stream.read().decode("utf-8", "replace").splitlines()
        first = lines[0].strip().split(",")[0].strip('"') if lines else ""
        if fmt is None or first != "user_id":
            ids = [line.strip() for line in lines if line.strip()]
            return pc.unique(pa.array(ids, pa.string()))
    table = read_raw(path, ("user_id",)).table
    if "user_id" not in table.column_names:
        raise InputError(str(path), "missing column 'user_id'")
    return pc.unique(table.column("user_id").cast(pa.string()).combine_chunks().drop_null())


def read_segments_file(path: str | Path) -> pa.Table:
    """A file written by `recsys segments` (user_id, segment, a boolean column per segment)."""
    tables = [read_raw(file, ("user_id", "segment")).table for file in input_files(path)]
    table = pa.concat_tables(tables, promote_options="default")
    for name in ("user_id", "segment"):
        if name not in table.column_names:
            raise InputError(str(path), f"missing column '{name}' (write it with recsys segments)")
    return table


def read_history(folder: str | Path, campaigns: int) -> pa.Table:
    """(user_id, item_id) of the newest `campaigns` export files in `folder` (by modification
    time), in any of the three formats."""
    if not Path(folder).is_dir():
        raise InputError(str(folder), "--history must be a folder of earlier exports")
    files = [f for f in Path(folder).iterdir() if f.is_file() and file_format(f)]
    files = sorted(files, key=lambda f: (f.stat().st_mtime, f.name), reverse=True)[:campaigns]
    pairs = [picked_pairs(file) for file in files]
    if not pairs:
        return pa.table(
            {"user_id": pa.array([], pa.string()), "item_id": pa.array([], pa.string())}
        )
    return pa.concat_tables(pairs)


def picked_pairs(file: Path) -> pa.Table:
    table = read_raw(file, ("user_id", "item_id")).table
    if "items" in table.column_names:  # JSONL: one object per customer
        items = table.column("items").combine_chunks()
        users = table.column("user_id").combine_chunks().take(pc.list_parent_indices(items))
        flat = pc.list_flatten(items)
        table = pa.table({"user_id": users, "item_id": pc.struct_field(flat, "item_id")})
    for name in ("user_id", "item_id"):
        if name not in table.column_names:
            raise InputError(str(file), f"missing column '{name}' (not a recsys export?)")
    return pa.table(
        {
            name: table.column(name).cast(pa.string()).combine_chunks()
            for name in ("user_id", "item_id")
        }
    )
