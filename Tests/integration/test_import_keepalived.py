"""`vipd import-keepalived` on keepalived's own sample configurations (from the
keepalived 2.4.3 source tarball in shared/third_party/) and on the example
configs of docs/migrating-from-keepalived.md: the importer exits 0 or 2, every
refusal on stderr is FILE:LINE: KEYWORD: why and is a comment in the YAML,
and `vipd check-config` accepts what it prints."""
import base64
import os
import sys
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from vipdlab import REPO, VIPD

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))
from vlab.third_party import path as third_party_path  # noqa: E402

TARBALL = Path(third_party_path("keepalived-2.4.3.tar.gz") or "../shared/third_party/keepalived-2.4.3.tar.gz")
SAMPLES = "keepalived-2.4.3/doc/samples/"
PAGE = REPO / "docs" / "migrating-from-keepalived.md"
# Addresses of keepalived's samples' subnet: this node, and the other node of a multicast pair.
NODE_ARGS = ["--node-id", "node-a", "--address", "192.168.200.1", "--peer", "node-b=192.168.200.2"]


def has_instance(text):
    """A vrrp_instance keyword outside comments."""
    return re.search(r"^[ \t]*(@\S+[ \t]+)?vrrp_instance[ \t]", text, re.M) is not None


def sample_names():
    if not TARBALL.exists():
        return []
    with tarfile.open(TARBALL) as tar:
        names = []
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(SAMPLES):
                if has_instance(tar.extractfile(member).read().decode("utf-8", "replace")):
                    names.append(member.name[len(SAMPLES):])
        return sorted(names)


def page_examples():
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", PAGE.read_text(), re.S | re.M)
    return [text for language, text in blocks if language == "" and has_instance(text)]


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    if not TARBALL.exists():
        pytest.skip(f"{TARBALL} is not there (shared/third_party/ beside the repository)")
    directory = tmp_path_factory.mktemp("keepalived")
    with tarfile.open(TARBALL) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(SAMPLES) and ".." not in m.name]
        tar.extractall(directory, members=members)
    return directory / SAMPLES


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "auth.key"
    path.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    os.chmod(path, 0o600)
    return path


def run(*args):
    return subprocess.run([VIPD, *map(str, args)], capture_output=True, text=True, timeout=60)


def import_and_check(source, key, tmp_path, *extra):
    """Imports `source`, checks the refusals' form, and runs check-config on the output."""
    result = run("import-keepalived", "--key-file", key, *extra, source)
    assert result.returncode in (0, 2), result.stderr
    refusals = result.stderr.splitlines()
    assert (result.returncode == 2) == bool(refusals), result.stderr
    for line in refusals:
        match = re.match(rf"^{re.escape(str(source))}:(\d+): (\S+): \S", line)
        assert match, f"not FILE:LINE: KEYWORD: why: {line}"
        assert f"line {match[1]}: {match[2]}: " in result.stdout, f"not a comment in the YAML: {line}"
    written = re.search(r"^  key_file: (\S+)", result.stdout, re.M)
    assert written and written[1] == str(key)
    config = tmp_path / "vipd.yaml"
    config.write_text(result.stdout)
    checked = run("check-config", config)
    assert checked.returncode == 0, f"{checked.stderr}\n{result.stdout}"
    return result


def test_the_tarball_has_samples_to_import():
    if not TARBALL.exists():
        pytest.skip(f"{TARBALL} is not there")
    assert len(sample_names()) >= 10


@pytest.mark.parametrize("name", sample_names())
def test_keepalived_sample_imports_and_passes_check_config(name, samples, key, tmp_path):
    import_and_check(samples / name, key, tmp_path, *NODE_ARGS)


@pytest.mark.parametrize("index", range(len(page_examples())))
def test_migration_page_example_imports_and_passes_check_config(index, key, tmp_path):
    source = tmp_path / f"example{index + 1}.conf"
    source.write_text(page_examples()[index])
    result = import_and_check(source, key, tmp_path, "--node-id", "node-a", "--peer", "node-b=198.18.0.2")
    assert "name: VI_1" in result.stdout and "protocol: vrrp3" in result.stdout
    assert "  - id: node-b" in result.stdout


def test_the_migration_page_has_its_examples():
    assert len(page_examples()) == 2


def test_multicast_without_peer_is_refused_naming_the_option(samples, key):
    result = run("import-keepalived", "--key-file", key, "--node-id", "node-a", "--address", "192.168.200.1",
                 samples / "keepalived.conf.sample")
    assert result.returncode == 2
    assert re.search(r"keepalived\.conf\.sample:\d+: vrrp_instance: multicast \(no unicast_peer\).*--peer ID=ADDRESS",
                     result.stderr), result.stderr


def test_config_id_selects_conditional_lines(samples, key, tmp_path):
    high = import_and_check(samples / "keepalived.conf.conditional_conf", key, tmp_path, *NODE_ARGS,
                            "--config-id", "high")
    assert "  priority: 170" in high.stdout
    assert "/etc/keepalived/scripts/check_high_VI_0.sh" in high.stdout
    low = run("import-keepalived", "--key-file", key, *NODE_ARGS, "--config-id", "low",
              samples / "keepalived.conf.conditional_conf")
    assert "  priority: 85" in low.stdout


def test_a_file_without_instances_or_unreadable_exits_1(samples, key, tmp_path):
    dropin = run("import-keepalived", "--key-file", key, *NODE_ARGS, samples / "keepalived.service.d.auth_hmac.conf")
    assert dropin.returncode == 1
    assert "nothing to import: the file has no vrrp_instance" in dropin.stderr
    missing = run("import-keepalived", *NODE_ARGS, tmp_path / "nonexistent.conf")
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    broken = tmp_path / "broken.conf"
    broken.write_text("vrrp_instance VI_1 {\n    priority 100\n")
    unparsable = run("import-keepalived", *NODE_ARGS, broken)
    assert unparsable.returncode == 1
    assert f"{broken}:1: '{{' of vrrp_instance is never closed" in unparsable.stderr
