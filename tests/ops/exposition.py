"""Checks of a Prometheus text exposition: the real ``promtool check metrics``, and the same lint rules in
Python (always), so that a machine without promtool still checks what it can.

promtool is not on PyPI; it ships in Debian's ``prometheus`` package. ``promtool()`` uses ``LP_PROMTOOL`` or
one on the PATH, else takes the binary out of that package (``apt-get download``, no service installed) into
``~/.cache/listening-path/`` when it can (Debian, as root, like the room's browser test installs chromium).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
ABBREVIATED_OR_NON_BASE_UNITS = re.compile(
    r"_(ms|us|ns|msec|millis|milliseconds|microseconds|nanoseconds|minutes|hours|days|kb|mb|gb|"
    r"kilobytes|megabytes|gigabytes|percent|celsius)(_|$)"
)
MAX_SERIES_PER_FAMILY = 500
"""More series than this in one family on a test scrape means a label is not bounded."""


CACHED_PROMTOOL = Path.home() / ".cache" / "listening-path" / "promtool"


@functools.cache
def promtool() -> str | None:
    """promtool: configured, on the PATH, cached, or taken from Debian's package; None if none can be had."""
    found = os.environ.get("LP_PROMTOOL") or shutil.which("promtool")
    if found:
        return found
    if not CACHED_PROMTOOL.is_file():
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None or os.geteuid() != 0:
            return None
        try:
            extract_promtool(CACHED_PROMTOOL)
        except (OSError, subprocess.SubprocessError):
            return None
    return str(CACHED_PROMTOOL)


def extract_promtool(target: Path) -> None:
    """Download Debian's ``prometheus`` package and keep only its ``promtool`` at ``target``."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with tempfile.TemporaryDirectory() as tmp:
        download = ["apt-get", "download", "-qq", "prometheus"]
        if subprocess.run(download, cwd=tmp, env=env, capture_output=True, timeout=300, check=False).returncode:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600, check=True)
            subprocess.run(download, cwd=tmp, env=env, capture_output=True, timeout=300, check=True)
        [deb] = Path(tmp).glob("prometheus_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], capture_output=True, timeout=300,
                       check=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(tmp) / "x" / "usr" / "bin" / "promtool", target)


def promtool_problems(text: str) -> list[str]:
    """What ``promtool check metrics`` says about ``text`` (empty when it passes); promtool must exist."""
    binary = promtool()
    assert binary is not None
    done = subprocess.run([binary, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60,
                          check=False)
    out = (done.stdout + done.stderr).decode().strip()
    if done.returncode == 0 and not out:
        return []
    return [line for line in out.splitlines() if line] or [f"promtool exited {done.returncode}"]


def lint_problems(text: str) -> list[str]:
    """promtool's lint rules, in Python: parseable, HELP on every family, counters end in ``_total`` and nothing
    else does, base units only, no family declared twice, valid names, bounded series counts."""
    problems: list[str] = []
    declared: dict[str, int] = defaultdict(int)
    helped: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared[line.split()[2]] += 1
        elif line.startswith("# HELP "):
            parts = line.split(maxsplit=3)
            if len(parts) == 4 and parts[3].strip():
                helped.add(parts[2])
    problems += [f"{name} declared {n} times" for name, n in declared.items() if n > 1]
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        return [*problems, f"unparseable: {exc}"]
    for family in families:
        raw_names = {s.name for s in family.samples}
        declared_name = family.name + "_total" if family.type == "counter" else family.name
        if not NAME.match(family.name):
            problems.append(f"{family.name}: invalid metric name")
        if family.name not in helped and declared_name not in helped:
            problems.append(f"{family.name}: no HELP")
        if family.type == "counter":
            bad = sorted(n for n in raw_names if not n.endswith(("_total", "_created")))
            if bad:
                problems.append(f"{family.name}: counter samples without _total: {bad}")
        elif family.name.endswith("_total"):
            problems.append(f"{family.name}: a {family.type} must not end in _total")
        if ABBREVIATED_OR_NON_BASE_UNITS.search(family.name):
            problems.append(f"{family.name}: use base units (seconds, bytes), spelt out")
        if family.type == "histogram":
            suffixes = {n[len(family.name):] for n in raw_names}
            if family.samples and not {"_bucket", "_count", "_sum"} <= suffixes:
                problems.append(f"{family.name}: histogram without _bucket/_count/_sum")
        for sample in family.samples:
            problems += [f"{family.name}: invalid label {k}" for k in sample.labels
                         if not LABEL.match(k) or k.startswith("__")]
        series = {(s.name, tuple(sorted(s.labels.items()))) for s in family.samples}
        if len(series) > MAX_SERIES_PER_FAMILY:
            problems.append(f"{family.name}: {len(series)} series; a label is unbounded")
    return problems


def metric_names(text: str) -> set[str]:
    """Every sample name in the exposition (``x_total``, ``y_bucket``, ``z``...)."""
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples called ``name``: (labels, value)."""
    return [(s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name]
