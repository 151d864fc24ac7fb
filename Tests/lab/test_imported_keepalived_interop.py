"""An imported keepalived.conf runs next to keepalived (docs/import-keepalived.md):
node A's keepalived.conf goes through `vipd import-keepalived`, vipd runs the
output unchanged (but for the lab's control socket and state directory), and
keepalived on node B, with its own keepalived.conf, is its backup; when vipd dies
keepalived takes over. The migration the importer is for, one node at a time;
also with keepalived 2.4's auth_hmac (built from source, as test_vrrp3_hmac.py)."""

import re
import subprocess
import time

import vlab.vrrp3_auth as hmac
from test_vrrp3_hmac import keepalived243  # noqa: F401  (the fixture)
from vlab.vrrp3 import VIP, diag, ka_log, master_down_ms, start_keepalived, takeover_ms  # noqa: F401
from test_vrrp3_interop import pair  # noqa: F401  (the fixture)

NODE_A_KEEPALIVED = """global_defs {
    router_id node-a
    vrrp_version 3
}
vrrp_script chk_true {
    script "true"
    interval 1
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.1
    unicast_src_ip 198.18.0.1
    unicast_peer {
        198.18.0.2
    }
    virtual_ipaddress {
        198.18.0.100/24 dev eth0
    }
    track_script {
        chk_true
    }
}
"""


def start_imported(lab, tmp_path, keepalived_conf):
    """Imports node A's keepalived.conf and starts vipd on A with the output."""
    source = tmp_path / "keepalived.conf"
    source.write_text(keepalived_conf)
    imported = subprocess.run([f"{lab.dir}/bin/vipd", "import-keepalived", "--node-id", "node-a",
                               "--peer", f"node-b={lab.addr('b')}", "--key-file", lab.key, str(source)],
                              capture_output=True, text=True, timeout=30)
    assert imported.returncode == 0, imported.stderr
    assert re.search(r"^    protocol: vrrp3", imported.stdout, re.M)
    text = imported.stdout + f"control:\n  socket: {lab.socket('a')}\nstate_dir: {lab.dir}/state-a\n"
    lab.vipd_config = lambda *args, **kwargs: text  # the lab writes this file as node A's vipd.yaml
    lab.start_vipd("a")
    return imported.stdout


def test_the_imported_node_is_master_next_to_keepalived_and_keepalived_takes_over(pair, tmp_path):
    lab = pair
    start_imported(lab, tmp_path, NODE_A_KEEPALIVED)
    start_keepalived(lab, "b", 100, multicast=False)
    lab.wait_for(lambda: lab.holders(VIP) == ["a"] and lab.state("a") == "master", 5, what="imported vipd master")
    assert "Entering MASTER STATE" not in ka_log(lab, "b"), "keepalived heard the imported node\n" + diag(lab)
    t_kill, _ = lab.kill_hard("a")
    took = takeover_ms(lab, "b", t_kill)
    print(f"keepalived took over from the imported vipd in {took:.0f} ms")
    assert took <= master_down_ms(100) + 300, diag(lab)


def test_an_imported_auth_hmac_instance_signs_as_keepalived_243_checks(pair, keepalived243, tmp_path):  # noqa: F811
    """keepalived on B in enforce mode stays backup only if vipd's adverts carry a valid trailer."""
    lab = pair
    hmac.key_file(lab)
    conf = NODE_A_KEEPALIVED.replace("    virtual_ipaddress {", f"""    auth_hmac {{
        key 1 file:{lab.hmac_key}
        active_key 1
        time_window 5
        mode enforce
    }}
    virtual_ipaddress {{""")
    yaml = start_imported(lab, tmp_path, conf)
    assert f"auth_hmac: {{key_file: {lab.hmac_key}, key_id: 1, time_window: 5s, mode: enforce}}" in yaml
    hmac.start_keepalived(lab, keepalived243, "b", 100)
    lab.wait_for(lambda: lab.holders(VIP) == ["a"] and lab.state("a") == "master", 5, what="imported vipd master")
    time.sleep(0.5)
    assert "Entering MASTER STATE" not in ka_log(lab, "b"), "keepalived refused the imported node's adverts\n" + diag(lab)
    t_kill, _ = lab.kill_hard("a")
    took = takeover_ms(lab, "b", t_kill)
    print(f"auth_hmac: keepalived 2.4.3 took over from the imported vipd in {took:.0f} ms")
    assert took <= master_down_ms(100) + 300, diag(lab)
