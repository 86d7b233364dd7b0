"""``listening-path import``: CSV and JSONL, mappings, rejections with line numbers, duplicates, resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.imports.cli import import_command
from services.ingest.imports.mapping import MappingError, load_mapping
from services.ingest.imports.service import ImportError_, run_import
from services.ingest.models import OutboxMessage, RawFeedback
from tests.conftest import Database


def rows(sessions: sessionmaker[Session]) -> dict[str, dict[str, Any]]:
    with sessions() as session:
        return {r.external_id: r.normalised for r in session.scalars(select(RawFeedback))}


def outbox_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


CSV_EXPORT = (
    "ResponseId,Comment,NPS,Email,Submitted,Region\n"
    "r1,The setup wizard crashed twice.,4,ana@example.com,2026-11-02T14:05:00Z,EU\n"
    'r2,"Invoices, again, show the wrong VAT ""number""",7,ben@example.com,2026-11-02 15:00:00,US\n'
    "r3,Great support,11,carla@example.com,2026-11-02T16:00:00Z,EU\n"
    "r4,,,dan@example.com,2026-11-02T16:30:00Z,EU\n"
    'r5,"Line one\nline two of the same answer",9,,2026-11-03T08:00:00Z,APAC\n'
    "r1,Same response id as the first row,4,ana@example.com,2026-11-02T14:05:00Z,EU\n"
    "r6,too,many,columns,here,x,y\n"
    "r7,Score is not a number,high,eve@example.com,2026-11-04T08:00:00Z,EU\n"
)
FLAGS = ["text=Comment", "external_id=ResponseId", "scores.nps=NPS", "customer.email=Email",
         "occurred_at=Submitted"]


def test_csv_with_flag_mapping(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(CSV_EXPORT, encoding="utf-8")
    mapping = load_mapping(flags=FLAGS, defaults={"provider": "qualtrics-export", "source": "survey"})
    summary = run_import(path, sessions=sessions, mapping=mapping)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 1, 4)
    by_line = {r.line: r.reason for r in summary.rejections}
    assert set(by_line) == {4, 5, 9, 10}  # r5 spans lines 6-7
    assert "less than or equal to 10" in by_line[4]
    assert "text or at least one score" in by_line[5]
    assert by_line[9] == "7 columns where the header has 6"
    assert "not a number" in by_line[10]
    stored = rows(sessions)
    assert stored["r2"]["text"] == 'Invoices, again, show the wrong VAT "number"'
    assert stored["r2"]["occurred_at"].startswith("2026-11-02T15:00:00")
    assert stored["r5"]["text"] == "Line one\nline two of the same answer"
    assert stored["r1"]["metadata"] == {"Region": "EU"}  # unmapped columns are kept verbatim
    assert (stored["r1"]["provider"], stored["r1"]["source"], stored["r1"]["kind"]) == (
        "qualtrics-export", "survey", "aided")
    assert outbox_count(sessions) == 3
    again = run_import(path, sessions=sessions, mapping=mapping)
    assert again.finished
    assert again.accepted == 3


def test_jsonl_generic_format(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    lines = [
        {"provider": "web", "source": "survey", "external_id": "j1", "text": "Love it", "scores": {"nps": 10}},
        "{not json",
        [1, 2],
        {"provider": "web", "external_id": "j2", "text": "Too slow", "customer": {"id": "C-9"}},
        {"provider": "web", "external_id": "j3", "text": "", "scores": {}},
    ]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    summary = run_import(path, sessions=sessions, mapping=load_mapping())
    assert (summary.accepted, summary.rejected) == (2, 3)
    assert [r.line for r in summary.rejections] == [2, 3, 5]
    assert summary.rejections[0].reason.startswith("invalid JSON")
    assert rows(sessions)["j2"]["customer"]["id"] == "C-9"


def test_jsonl_with_paths_and_a_mapping_file(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    mapping_file = tmp_path / "zendesk.yaml"
    mapping_file.write_text("format: jsonl\nprovider: zendesk-export\nsource: support\n"
                            "columns: {external_id: ticket.id, text: ticket.comment, scores.csat: rating.score,"
                            " customer.email: requester.email}\nmetadata: [group]\n")
    path = tmp_path / "tickets.ndjson"
    path.write_text(json.dumps({"ticket": {"id": 41, "comment": "Slow reply"}, "rating": {"score": "2"},
                                "requester": {"email": "f@example.com"}, "group": "billing", "noise": 1}) + "\n")
    summary = run_import(path, sessions=sessions, mapping=load_mapping(path=mapping_file))
    assert summary.accepted == 1
    item = rows(sessions)["41"]
    assert (item["scores"]["csat"], item["customer"]["email"], item["metadata"]) == (2, "f@example.com",
                                                                                    {"group": "billing"})


def test_an_interrupted_import_resumes_exactly_once(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "comment", "nps"])
        for n in range(2500):
            writer.writerow([f"b{n}", f"comment {n}\nwith a second line" if n % 7 == 0 else f"comment {n}", n % 11])
    mapping = load_mapping(defaults={"provider": "bulk"})
    progress: list[int] = []
    first = run_import(path, sessions=sessions, mapping=mapping, batch_size=1000, stop_after_batches=1,
                       progress=progress.append)
    assert (first.accepted, first.finished) == (1000, False)
    second = run_import(path, sessions=sessions, mapping=mapping, batch_size=1000, progress=progress.append)
    assert second.resumed_from_line == first.lines
    assert (second.accepted, second.duplicates, second.rejected, second.finished) == (2500, 0, 0, True)
    assert len(rows(sessions)) == 2500
    assert outbox_count(sessions) == 2500
    assert progress[-1] > 0
    assert sum(progress[1:]) >= path.stat().st_size


def test_a_changed_file_is_not_resumed_blindly(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "changing.jsonl"
    path.write_text("".join(json.dumps({"provider": "p", "external_id": str(n), "text": "t"}) + "\n"
                            for n in range(30)))
    mapping = load_mapping()
    run_import(path, sessions=sessions, mapping=mapping, batch_size=10, stop_after_batches=1)
    path.write_text(json.dumps({"provider": "p", "external_id": "new", "text": "t"}) + "\n")
    with pytest.raises(ImportError_, match="--restart"):
        run_import(path, sessions=sessions, mapping=mapping)
    assert run_import(path, sessions=sessions, mapping=mapping, restart=True).accepted == 1


def test_bad_mappings_are_explained(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="TARGET=COLUMN"):
        load_mapping(flags=["text"])
    with pytest.raises(MappingError, match="not one of"):
        load_mapping(flags=["colour=Color"])


def test_import_command_prints_a_summary(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LP_DATA_DIR", str(database.data_dir))
    if database.url:
        monkeypatch.setenv("DATABASE_URL", database.url)
    path = tmp_path / "export.csv"
    path.write_text(CSV_EXPORT, encoding="utf-8")
    rejects = tmp_path / "rejects.jsonl"
    args = [str(path), "--provider", "qualtrics-export", "--source", "survey", "--no-progress", "--rejects",
            str(rejects)] + [f"--map={m}" for m in FLAGS]
    result = CliRunner().invoke(import_command, args)
    assert result.exit_code == 0, result.output
    assert "accepted:   3" in result.output
    assert "duplicates: 1" in result.output
    assert "rejected:   4" in result.output
    assert "line 4: scores.nps" in result.output
    assert [json.loads(x)["line"] for x in rejects.read_text().splitlines()] == [4, 5, 9, 10]
    missing = CliRunner().invoke(import_command, [str(path), "--map", "text=Nope", "--no-progress"])
    assert missing.exit_code != 0
    assert "not in the file: Nope" in missing.output


SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
ANSWERS = st.text(st.characters(blacklist_categories=SURROGATES, blacklist_characters="\x00\r"), max_size=80)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows_in=st.lists(st.tuples(ANSWERS, st.one_of(st.none(), st.integers(0, 10))), min_size=1, max_size=15))
def test_csv_round_trip_property(sessions: sessionmaker[Session], tmp_path_factory: pytest.TempPathFactory,
                                 rows_in: list[tuple[str, int | None]]) -> None:
    """Whatever a spreadsheet writes (commas, quotes, newlines, unicode), the importer reads back the same values."""
    directory = tmp_path_factory.mktemp("prop")
    path = directory / "export.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "nps"])
        for n, (text, nps) in enumerate(rows_in):
            writer.writerow([f"{directory.name}-{n}", text, "" if nps is None else nps])
    summary = run_import(path, sessions=sessions, mapping=load_mapping(defaults={"provider": "prop"}))
    valid = [(t, s) for t, s in rows_in if t.strip() or s is not None]
    assert summary.accepted == len(valid)
    assert summary.rejected == len(rows_in) - len(valid)
    stored = rows(sessions)
    for n, (text, nps) in enumerate(rows_in):
        item = stored.get(f"{directory.name}-{n}")
        if text.strip() or nps is not None:
            assert item is not None
            assert (item["text"], item["scores"]["nps"]) == (text if text.strip() else "", nps)
