"""The acceptance suite's quick run (python3 -m lab.acceptance --quick): it
runs to the end and writes its JSON with every item and a verdict. It does
NOT assert that the items pass: a failing item is an honest result
(docs/acceptance.md). Needs root; ~5 min.

    python3 -m pytest -q Tests/lab/test_acceptance_quick.py -s
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "lab"))


def test_acceptance_quick(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the acceptance suite needs root (network namespaces)")
    out = tmp_path / "acceptance.json"
    proc = subprocess.run([sys.executable, "-m", "lab.acceptance", "--quick", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    sys.stdout.write(proc.stdout)
    assert proc.returncode == 0, f"the suite did not run to the end ({proc.returncode}):\n{proc.stderr[-4000:]}"
    data = json.loads(out.read_text())
    from acceptance.__main__ import ITEMS   # noqa: E402 -- the suite's own list of items
    names = [i["name"] for i in data["items"]]
    assert names == list(ITEMS)
    for i in data["items"]:
        assert i["verdict"] in ("pass", "fail", "not-available"), i
        assert i["verdict"] == "not-available" or i["figure"], i
        assert i["verdict"] != "not-available" or i["detail"], i
    assert data["run"]["options"]["quick"] is True and data["run"]["commit"] and data["run"]["date"]
    for name, verdict in ((i["name"], i["verdict"]) for i in data["items"]):
        print(f"{name}: {verdict}")
