"""vipd/vipctl command lines: config validation and operator-facing errors."""
import os
import subprocess
import tempfile
from pathlib import Path

from vipdlab import REPO, VIPCTL, VIPD

EXAMPLE = REPO / "conf" / "vipd.example.yaml"


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


def temp_config(text, key_mode=0o600):
    directory = Path(tempfile.mkdtemp(prefix="vipd-cli-"))
    key = directory / "auth.key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    os.chmod(key, key_mode)
    config = directory / "vipd.yaml"
    config.write_text(text.replace("/etc/vipd/auth.key", str(key)))
    return config


def test_shipped_example_passes_check_config():
    if Path("/etc/vipd/auth.key").exists():
        result = run(VIPD, "check-config", str(EXAMPLE))
    else:  # the example names the installed key path; point it at a temporary key instead
        result = run(VIPD, "check-config", str(temp_config(EXAMPLE.read_text())))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_wrong_type_is_refused_naming_the_field():
    text = EXAMPLE.read_text()
    line = text[:text.index("priority: 150")].count("\n") + 1
    config = temp_config(text.replace("priority: 150", "priority: high", 1))
    result = run(VIPD, "check-config", str(config))
    assert result.returncode == 2
    assert f"{config}:{line}: node.priority: expected an integer in 1...254, got \"high\"" in result.stderr


def test_unknown_key_is_refused():
    config = temp_config(EXAMPLE.read_text().replace("  preempt: true", "  preempt: true\n  prempt_delay: 1s"))
    result = run(VIPD, "check-config", str(config))
    assert result.returncode == 2
    assert "timing.prempt_delay: unknown key" in result.stderr


def test_missing_key_file_is_refused():
    config = temp_config(EXAMPLE.read_text())
    (config.parent / "auth.key").unlink()
    result = run(VIPD, "check-config", str(config))
    assert result.returncode == 2
    assert "auth.key_file: cannot read" in result.stderr


def test_world_readable_key_file_is_refused():
    config = temp_config(EXAMPLE.read_text(), key_mode=0o644)
    result = run(VIPD, "check-config", str(config))
    assert result.returncode == 2
    assert "auth.key_file:" in result.stderr and "chmod 600" in result.stderr


def test_daemon_refuses_to_start_on_invalid_config():
    config = temp_config("node: {}\n")
    result = run(VIPD, "--config", str(config))
    assert result.returncode == 2
    assert "not starting" in result.stderr
    assert "node.id: missing required key" in result.stderr


def test_vipctl_explains_a_daemon_that_is_not_running():
    result = run(VIPCTL, "status", "--socket", "/nonexistent/control.sock")
    assert result.returncode == 3
    assert "vipd is not running" in result.stderr


def test_vipctl_check_config_agrees_with_vipd():
    config = temp_config(EXAMPLE.read_text().replace("vrid: 51", "vrid: 0"))
    result = run(VIPCTL, "check-config", str(config))
    assert result.returncode == 2
    assert "vrid: expected an integer in 1...255" in result.stderr
