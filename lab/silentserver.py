"""A TCP server that accepts and reads but never answers (a database busy
with a query): HOST PORT."""

import socket
import sys
import threading

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(16)
held = []
while True:
    conn, _ = srv.accept()
    held.append(conn)   # kept open, never answered
    threading.Thread(target=lambda c=conn: [None for _ in iter(lambda: c.recv(100), b"")], daemon=True).start()
