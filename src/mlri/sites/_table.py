"""A minimal column table (no pandas dependency) with CSV round-trip, and the one way the
sites commands write a vector file (:func:`write_features`: ``sites.gpkg``, sample points).

Columns are kept in insertion order; values are Python scalars or NumPy arrays of equal length.
``to_pandas()`` converts when pandas is available.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._outputs import atomic_file

__all__ = ["TEXT_COLUMNS", "Table", "write_features"]

#: Columns always read back as text.
TEXT_COLUMNS = ("id", "name", "region", "start", "start_group", "status", "note", "level",
                "class", "stratum", "map_class", "reference", "crs")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return ""
        if f.is_integer() and abs(f) < 1e15:
            return repr(f)
        return format(f, ".10g")
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v)


def _parse(s: str) -> Any:
    if s == "":
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


class Table:
    """Ordered mapping of column name -> 1-D array (numeric) or list (text)."""

    def __init__(self, columns: Mapping[str, Any] | None = None) -> None:
        self._cols: dict[str, Any] = {}
        self._n: int | None = None
        for k, v in (columns or {}).items():
            self[k] = v

    # -- mapping protocol -----------------------------------------------------------------
    def __setitem__(self, name: str, values: Any) -> None:
        vals = values if isinstance(values, np.ndarray) else list(values)
        n = len(vals)
        if self._n is None:
            self._n = n
        elif n != self._n:
            msg = f"column {name!r} has {n} values, the table has {self._n} rows"
            raise ValueError(msg)
        self._cols[name] = vals

    def __getitem__(self, name: str) -> Any:
        try:
            return self._cols[name]
        except KeyError:
            msg = f"no column {name!r}; columns are: {', '.join(self._cols)}"
            raise KeyError(msg) from None

    def __contains__(self, name: object) -> bool:
        return name in self._cols

    def __len__(self) -> int:
        return self._n or 0

    def __iter__(self) -> Iterator[str]:
        return iter(self._cols)

    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    def get(self, name: str, default: Any = None) -> Any:
        return self._cols.get(name, default)

    def numeric(self, name: str) -> np.ndarray:
        """Column as float64 (None/'' -> NaN)."""
        col = self[name]
        if isinstance(col, np.ndarray) and col.dtype.kind in "fiub":
            return col.astype(np.float64)
        out = np.full(len(col), np.nan)
        for i, v in enumerate(col):
            if v is None or v == "":
                continue
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                continue
        return out

    def row(self, i: int) -> dict[str, Any]:
        return {k: (v[i].item() if isinstance(v, np.ndarray) else v[i])
                for k, v in self._cols.items()}

    def rows(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self.row(i)

    def take(self, index: Sequence[int] | np.ndarray) -> Table:
        idx = np.asarray(index, dtype=np.intp)
        out = Table()
        for k, v in self._cols.items():
            out[k] = v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]
        if not len(idx):
            out._n = 0
        return out

    # -- I/O ------------------------------------------------------------------------------
    def to_csv_text(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        cols = [self._cols[c] for c in self.columns]
        for i in range(len(self)):
            w.writerow([_fmt(c[i]) for c in cols])
        return buf.getvalue()

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (UTF-8, header row, empty cell = missing)."""
        with atomic_file(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(self.to_csv_text())
        return Path(path)

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str],
                 text: Iterable[str] = TEXT_COLUMNS) -> Table:
        """Read a CSV written by :meth:`to_csv` (numbers parsed, empty -> None/NaN).

        Columns named in ``text`` stay strings (ids such as ``007`` keep their zeros).
        """
        text = set(text)
        with Path(path).open(encoding="utf-8", newline="") as fh:
            rd = csv.reader(fh)
            header = next(rd, None)
            if header is None:
                return cls()
            data: list[list[Any]] = [[] for _ in header]
            for r in rd:
                for j in range(len(header)):
                    cell = r[j] if j < len(r) else ""
                    data[j].append((cell if cell != "" else None) if header[j] in text
                                   else _parse(cell))
        out = cls()
        for name, vals in zip(header, data, strict=False):
            kinds = {type(v) for v in vals if v is not None}
            if kinds and kinds <= {int, float}:
                arr = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
                if kinds == {int} and not any(v is None for v in vals):
                    arr = arr.astype(np.int64)
                out[name] = arr
            else:
                out[name] = [None if v is None else str(v) if not isinstance(v, str) else v
                             for v in vals]
        if not data or not data[0]:
            out._n = 0
        return out

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame({k: (v if isinstance(v, np.ndarray) else list(v))
                             for k, v in self._cols.items()})

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Table:
        recs = list(records)
        names: list[str] = []
        for r in recs:
            for k in r:
                if k not in names:
                    names.append(k)
        return cls({k: [r.get(k) for r in recs] for k in names})

    def __repr__(self) -> str:
        return f"Table({len(self)} rows x {len(self._cols)} columns: {', '.join(self._cols)})"


def write_features(path: str | os.PathLike[str], geometry: Any, data: Any, names: Any,
                   **kw: Any) -> Path:
    """``pyogrio.raw.write`` to a temporary file beside ``path``, renamed to ``path`` when
    complete (the temporary and GeoPackage's ``-wal``/``-shm``/``-journal`` side files are
    removed in any case).  A failed write (pyogrio raises its own errors, e.g. "database or
    disk is full") is an :class:`mlri._outputs.OutputWriteError` naming the file, the free
    space and the fix."""
    from pyogrio.raw import write

    from .._outputs import _shown, write_failure

    p = Path(path)
    tmp = p.with_name(f".{p.stem}.partial-{os.getpid()}{p.suffix}")
    try:
        write(str(tmp), geometry, data, names, **kw)
        tmp.replace(p)
    except Exception as err:
        failed = write_failure(_shown(p), err, force=True)
        assert failed is not None  # force=True always gives one
        raise failed from err
    finally:
        for t in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            if t.exists():
                t.unlink()
    return p
