"""CSV export of any list: ``?format=csv`` streams every row (all pages), not just one page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from fastapi.responses import StreamingResponse


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)
    # Cells starting with these are formulas in spreadsheets: keep them text (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_response(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], filename: str) -> StreamingResponse:
    """Stream ``rows`` as CSV with a header line, a few hundred rows per chunk."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for n, row in enumerate(rows, 1):
            writer.writerow([_cell(row.get(c)) for c in columns])
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(generate(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted columns (``sentiment.label``)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
