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


OVERLAP = """
import threading
from secretctl.core.redact import Redactor, engine, shapes
from secretctl.core.secret import Secret

started = threading.Event()
real = shapes.Shapes.compile.__func__
shapes.Shapes.compile = classmethod(lambda cls: (started.set(), real(cls))[1])
literal = engine._compile
overlapped = []
engine._compile = lambda patterns, caseless: (overlapped.append(started.wait(10)), literal(patterns, caseless))[1]
red = Redactor.build({"app/token": Secret(b"Some-Value-1234567890abc")})
assert red.find(b"x Some-Value-1234567890abc AKIAABCDEFGHIJKLMNOP y"), "the redactor finds both"
print(overlapped)
"""


def test_a_cold_detector_compile_overlaps_the_values_compile() -> None:
    """With no detector set loaded (a cold cache: ~0.3 s of compile), building a redactor starts
    it on a thread first: the values' literal sets compile meanwhile, instead of before it."""
    out = subprocess.run([sys.executable, "-c", OVERLAP], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[True, True]"  # the raw and skeleton sets each saw it under way


def test_a_plugin_that_needs_requests_at_import_is_read_with_it() -> None:
    """Were a detect-secrets release to touch requests at import, the stand-in fails it: the
    plugins are read again with the real requests, not dropped (nor the run failed)."""
    needs = ("from secretctl.core.redact import detectors\n"
             "real = detectors._read_plugins\n"
             "def picky(imp, **kw):\n"
             "    import requests\n"
             "    requests.Session  # what such a plugin would do at import\n"
             "    return real(imp, **kw)\n"
             "detectors._read_plugins = picky\n")
    assert _probe(needs)["detectors"] == _probe("import requests")["detectors"]


def test_a_plugin_that_imports_from_requests_is_read_with_the_real_one() -> None:
    """A detect-secrets release whose plugin says `from requests.exceptions import ...` fails
    under the stand-in: that plugin must not be skipped quietly (its detectors would be left out of
    the cached set), so every plugin is read again with the real requests."""
    real = _probe("import requests")
    pre = """
import importlib, sys
real_import = importlib.import_module
def import_module(name, package=None):
    module = real_import(name, package)
    if name == "detect_secrets.plugins.openai":  # as if the plugin imported this itself
        real_import("requests.exceptions")
    return module
importlib.import_module = import_module
"""
    got = _probe(pre)
    assert got["detectors"] == real["detectors"]
    assert any(d[0] == "detect-secrets:openai" for d in got["detectors"])  # type: ignore[union-attr]  # lists
