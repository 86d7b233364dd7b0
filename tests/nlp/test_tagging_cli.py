"""``listening-path nlp tag``: JSONL in, tagged JSONL out, clear errors for bad lines and bad maps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from services.nlp.tagging import nlp
from services.nlp.tagging.cli import parse_line

MAP = """
company: Corner Shop
version: 2
stages:
  - id: browse
    name: Browsing the shop
    order: 1
    description: Finding products on the shelves and in the app, prices and offers.
    examples: ["Could not find the oat milk", "Great weekly offers"]
  - id: delivery
    name: Delivery of the order
    order: 2
    description: The driver, arriving on time or late, the state of the bags.
    examples: ["Parcel came late", "Driver was friendly"]
    keywords: [driver, parcel]
"""


@pytest.fixture
def journey_map(tmp_path: Path) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(MAP, encoding="utf-8")
    return path


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(nlp, ["tag", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_tags_every_line_in_order(journey_map: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rows = [
        {"id": 1, "text": "The driver left my parcel in the rain, everything soaked. Awful."},
        {"id": "b", "text": "Love the weekly offers, prices are great!"},
        {"id": 3, "text": ""},
        {"id": 4, "text": "La entrega llegó tarde otra vez y nadie me avisó."},
    ]
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, _, stderr = run("--journey-map", str(journey_map), "--input", str(source), "--output", str(out))
    assert code == 0, stderr
    assert "tagged 4 texts, 0 lines with errors" in stderr
    tagged = lines(out)
    assert [t["id"] for t in tagged] == [1, "b", 3, 4]
    driver, offers, empty, spanish = tagged
    assert set(driver) == {"id", "sentiment", "stage", "language", "key_phrases"}
    assert driver["sentiment"]["label"] == "negative"
    assert set(driver["sentiment"]) == {"label", "score", "confidence"}
    assert driver["stage"]["id"] == "delivery"
    assert {"id", "confidence", "method", "alternatives"} <= set(driver["stage"])
    assert driver["language"] == "en"
    assert offers["stage"]["id"] == "browse"
    assert offers["sentiment"]["label"] == "positive"
    assert empty["stage"]["id"] is None
    assert empty["sentiment"]["confidence"] == 0.0
    assert spanish["language"] == "es"
    assert spanish["stage"]["id"] is None


def test_bad_lines_get_an_error_record_and_exit_status_1(journey_map: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b'{"id": 1, "text": "Parcel was late"}\n'
        b"not json at all\n"
        b'["a list"]\n'
        b'{"id": 9}\n'
        b'{"id": 10, "text": "\\u0000\\u0001\\u0002"}\n'
        b"\xff\xfe\x00binary\n"
        b'{"id": 11, "text": "Driver was lovely"}\n'
    )
    out = tmp_path / "out.jsonl"
    code, _, stderr = run("--journey-map", str(journey_map), "--input", str(source), "--output", str(out))
    assert code == 1
    assert "tagged 3 texts, 4 lines with errors" in stderr
    tagged = lines(out)
    assert len(tagged) == 7
    assert [t.get("error", {}).get("code") for t in tagged] == [
        None,
        "invalid_json",
        "not_an_object",
        "missing_text",
        None,
        "invalid_json",
        None,
    ]
    assert tagged[3]["id"] == 9
    assert tagged[3]["line"] == 4
    assert tagged[4]["stage"]["id"] is None
    assert tagged[6]["stage"]["id"] == "delivery"


def test_a_one_megabyte_text_is_tagged(journey_map: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "big", "text": "The parcel came late again. " * 40_000}) + "\n")
    out = tmp_path / "out.jsonl"
    code, _, stderr = run("--journey-map", str(journey_map), "--input", str(source), "--output", str(out))
    assert code == 0, stderr
    assert lines(out)[0]["stage"]["id"] == "delivery"


def test_a_map_with_duplicate_stage_ids_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "map.yaml"
    bad.write_text(
        "company: X\nversion: 1\nstages:\n"
        "  - {id: a, name: A, order: 1}\n  - {id: a, name: A again, order: 2}\n",
        encoding="utf-8",
    )
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "hi"}\n')
    out = tmp_path / "out.jsonl"
    code, _, stderr = run("--journey-map", str(bad), "--input", str(source), "--output", str(out))
    assert code == 2
    assert "duplicate stage ids: a" in stderr
    assert not out.exists()


def test_missing_files_are_clear_errors(journey_map: Path, tmp_path: Path) -> None:
    code, _, stderr = run("--journey-map", str(tmp_path / "nope.yaml"), "--input", "-", "--output", "-")
    assert code == 2
    assert "cannot read" in stderr
    code, _, stderr = run("--journey-map", str(journey_map), "--input", str(tmp_path / "nope.jsonl"), "--output", "-")
    assert code == 2
    assert "no such file" in stderr


def test_stdin_to_stdout_with_a_forced_progress_flag(journey_map: Path) -> None:
    code, stdout, _ = run(
        "--journey-map", str(journey_map), "--input", "-", "--output", "-", "--progress",
        stdin='{"id": "x", "text": "The driver was rude"}\n',
    )
    assert code == 0
    record = json.loads(stdout.splitlines()[0])
    assert (record["id"], record["stage"]["id"]) == ("x", "delivery")


def test_progress_bar_is_drawn_for_a_file_when_asked(journey_map: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": "Parcel was late"}) + "\n" for i in range(5)))
    code, _, stderr = run(
        "--journey-map", str(journey_map), "--input", str(source), "--output", str(tmp_path / "o.jsonl"),
        "--progress", "--batch-size", "2",
    )
    assert code == 0
    assert "tagging" in stderr


def test_parse_line_never_raises() -> None:
    assert parse_line(1, '{"id": 1, "text": "a", "provider": "web", "metadata": {"k": 1}}').metadata == {"k": 1}
    assert parse_line(2, '{"text": 5}').error == ("missing_text", 'each line needs a string "text"')
    assert parse_line(3, "x" * 5_000_000).error is not None
