"""An imported keepalived.conf runs next to keepalived (docs/import-keepalived.md):
node A's keepalived.conf goes through `vipd import-keepalived`, vipd runs the
output unchanged (but for the lab's control socket and state directory), and
keepalived on node B, with its own keepalived.conf, is its backup; when vipd dies
keepalived takes over. The migration the importer is for, one node at a time."""

import re
import subprocess

from test_vrrp3_interop import VIP, diag, ka_log, master_down_ms, pair, start_keepalived, takeover_ms  # noqa: F401

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


def test_the_imported_node_is_master_next_to_keepalived_and_keepalived_takes_over(pair, tmp_path):
    lab = pair
    source = tmp_path / "keepalived.conf"
    source.write_text(NODE_A_KEEPALIVED)
    imported = subprocess.run([f"{lab.dir}/bin/vipd", "import-keepalived", "--node-id", "node-a",
                               "--peer", f"node-b={lab.addr('b')}", "--key-file", lab.key, str(source)],
                              capture_output=True, text=True, timeout=30)
    assert imported.returncode == 0, imported.stderr
    assert re.search(r"^    protocol: vrrp3", imported.stdout, re.M)
    text = imported.stdout + f"control:\n  socket: {lab.socket('a')}\nstate_dir: {lab.dir}/state-a\n"
    lab.vipd_config = lambda *args, **kwargs: text  # the lab writes this file as node A's vipd.yaml
    lab.start_vipd("a")
    start_keepalived(lab, "b", 100, multicast=False)
    lab.wait_for(lambda: lab.holders(VIP) == ["a"] and lab.state("a") == "master", 5, what="imported vipd master")
    assert "Entering MASTER STATE" not in ka_log(lab, "b"), "keepalived heard the imported node\n" + diag(lab)
    t_kill, _ = lab.kill_hard("a")
    took = takeover_ms(lab, "b", t_kill)
    print(f"keepalived took over from the imported vipd in {took:.0f} ms")
    assert took <= master_down_ms(100) + 300, diag(lab)
