"""docs/contracts/asyncapi.yaml is valid AsyncAPI 3, per the official parser (@asyncapi/parser from npm)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools" / "asyncapi"
PARSER = "@asyncapi/parser@3.4.0"


def test_the_asyncapi_document_is_valid() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed to validate the AsyncAPI document (Debian: nodejs, npm)")
    if not (TOOLS / "node_modules" / "@asyncapi" / "parser").exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(TOOLS), PARSER],
                       check=True, timeout=600, capture_output=True)
    script = TOOLS / "validate.mjs"
    shutil.copy(Path(__file__).with_name("validate_asyncapi.mjs"), script)
    result = subprocess.run([node, str(script), str(REPO / "docs" / "contracts" / "asyncapi.yaml")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0" in result.stdout
