#!/usr/bin/env python3
"""Listen on the given TCP ports, over IPv4 and IPv6; accept each
connection and close it.

A real kernel socket is what makes a port "open" in the lab: the kernel
answers the SYN, this loop only keeps the accept queue from filling. Each
port has one socket per family, as in the namespace lab: 0.0.0.0 and [::]
with IPV6_V6ONLY, so the IPv6 one never depends on net.ipv6.bindv6only.
"""
import selectors
import socket
import sys

sel = selectors.DefaultSelector()
for port in sys.argv[1:]:
    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, int(port)))
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
