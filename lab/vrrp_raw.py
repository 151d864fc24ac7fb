#!/usr/bin/env python3
"""Raw VRRP (IP protocol 112) packets in a lab namespace, for the auth tests.

  vrrp_raw.py capture SRC [TIMEOUT]   prints, as hex, the whole IPv4 packet of
                                      the next VRRP datagram from SRC
  vrrp_raw.py send HEX...             sends each whole IPv4 packet as is
                                      (IP_HDRINCL: source, TTL, all of it)

Also a library: advert() builds an IPv4 VRRPv3 advert with an auth_hmac
trailer (draft-cassen-vrrp-auth-hmac) signed with any key, so a test can forge one.
"""

import hashlib
import hmac
import socket
import struct
import sys
import time

PROTO = 112


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def trailer(message, src, vrid, key, key_id=1, sequence=None):
    """The 28-byte trailer for MESSAGE (VRRP header and addresses) from SRC."""
    if sequence is None:
        now = time.time()
        sequence = (int(now) & 0xFFFFFFFF) << 32 | (int((now % 1) * 65536) & 0xFFFF) << 16
    prefix = struct.pack("!BBHQ", 1, key_id, 0, sequence)
    pseudo = bytes([4, 3, vrid, 0]) + socket.inet_aton(src) + bytes(12)
    zeroed = message[:6] + b"\0\0" + message[8:]
    mac = hmac.new(key, pseudo + zeroed + prefix + bytes(16), hashlib.sha256).digest()[:16]
    return prefix + mac


def advert(src, dst, vrid, priority, vips, key=None, interval_cs=10, ttl=255):
    """A whole IPv4 packet: VRRPv3 advert (RFC checksum), signed with KEY if given."""
    body = struct.pack("!BBBBH", 0x31, vrid, priority, len(vips), interval_cs & 0x0FFF) + b"\0\0"
    body += b"".join(socket.inet_aton(v) for v in vips)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, PROTO, len(body))
    body = body[:6] + struct.pack("!H", checksum(pseudo + body)) + body[8:]
    if key is not None:
        body += trailer(body, src, vrid, key)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(body), 0, 0, ttl, PROTO, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + body


def capture(src, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, PROTO)
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data, (addr, _) = s.recvfrom(4096)
        if addr == src:
            return data
    raise TimeoutError(f"no VRRP from {src} in {timeout} s")


def send(packets):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    for p in packets:
        s.sendto(p, (socket.inet_ntoa(p[16:20]), 0))


def main():
    if sys.argv[1] == "capture":
        print(capture(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 5).hex())
    elif sys.argv[1] == "send":
        send([bytes.fromhex(h) for h in sys.argv[2:]])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
