#!/usr/bin/env python3
"""Listen on the given TCP ports; accept each connection and close it.

A real kernel socket is what makes a port "open" in the lab: the kernel
answers the SYN, this loop only keeps the accept queue from filling.
"""
import selectors
import socket
import sys

sel = selectors.DefaultSelector()
for port in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    s.listen(1024)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)

while True:
    for key, _ in sel.select():
        try:
            conn, _ = key.fileobj.accept()
            conn.close()
        except OSError:
            pass
