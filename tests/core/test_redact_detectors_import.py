"""Reading detect-secrets' denylists imports no `requests` (the plugins import it for verify(),
never called here; with urllib3, ssl and charset_normalizer it was 10 MB of a first `run`'s peak),
and reads the same detectors as with the real `requests` loaded."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
{pre}
from secretctl.core.redact import detectors
found = [[d.family, d.expression.decode("latin-1"), d.caseless, d.value] for d in detectors.all_detectors()]
rss = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(json.dumps({{"detectors": found, "modules": sorted(sys.modules), "hwm_kb": rss}}))
"""


def _probe(pre: str = "") -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(pre=pre)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]  # the probe's own JSON


def test_reading_the_plugins_loads_no_http_stack_and_leaves_no_stand_in() -> None:
    plain = _probe()
    modules = set(plain["modules"])  # type: ignore[arg-type]  # a list of names
    assert not modules & {"requests", "urllib3", "ssl", "charset_normalizer"}
    assert not any(m.startswith("detect_secrets") for m in modules)
    assert len(plain["detectors"]) > 60  # type: ignore[arg-type]  # the plugins were read
    assert plain["hwm_kb"] < 30 * 1024  # type: ignore[operator]  # 21 MB measured; 31 with requests


def test_the_stand_in_reads_what_the_real_import_reads() -> None:
    real = _probe("import requests")
    assert "requests" in real["modules"]  # type: ignore[operator]  # a process that has it keeps it
    assert _probe()["detectors"] == real["detectors"]
