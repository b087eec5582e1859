#!/usr/bin/env python3
"""Recompute the IPv4 header and TCP checksums of every packet in a pcap
written by `synprobe --pcap` (link type RAW: each packet IPv4 or IPv6,
by its version nibble; older files are IPv4, link type 228), the slow way
RFC 1071 describes, and compare them with the checksums in the packets.
An IPv6 header has no checksum; its TCP checksum covers the IPv6
pseudo-header (RFC 8200 8.1).

Usage: checksum.py FILE.pcap
"""
import struct
import sys


def ones_complement_sum(data):
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)  # end-around carry
    return total


def checksum(data):
    return ~ones_complement_sum(data) & 0xFFFF


def packets(path):
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            sys.exit("not a little-endian pcap file")
        linktype = struct.unpack("<I", head[20:24])[0]
        if linktype not in (101, 228):  # LINKTYPE_RAW, LINKTYPE_IPV4
            sys.exit(f"link type {linktype}: not raw IP (101) or IPv4 (228)")
        while rec := f.read(16):
            _, _, incl, _ = struct.unpack("<IIII", rec)
            yield f.read(incl)


def tcp_line(n, pseudo, segment):
    stored_tcp = struct.unpack("!H", segment[16:18])[0]
    segment[16:18] = b"\0\0"
    print(f"packet {n}: TCP checksum stored 0x{stored_tcp:04x}, computed 0x{checksum(pseudo + bytes(segment)):04x}")


for n, pkt in enumerate(packets(sys.argv[1]), 1):
    if pkt[0] >> 4 == 6:
        src, dst = pkt[8:24], pkt[24:40]
        segment = bytearray(pkt[40 : 40 + struct.unpack("!H", pkt[4:6])[0]])
        if pkt[6] == 6:  # TCP right after the IPv6 header
            tcp_line(n, src + dst + struct.pack("!IxxxB", len(segment), 6), segment)
        continue
    ihl = (pkt[0] & 0x0F) * 4
    ip_header = bytearray(pkt[:ihl])
    stored_ip = struct.unpack("!H", ip_header[10:12])[0]
    ip_header[10:12] = b"\0\0"
    src, dst = pkt[12:16], pkt[16:20]
    segment = bytearray(pkt[ihl:struct.unpack("!H", pkt[2:4])[0]])
    print(f"packet {n}: IPv4 header checksum stored 0x{stored_ip:04x}, computed 0x{checksum(bytes(ip_header)):04x}")
    if pkt[9] == 6:
        tcp_line(n, src + dst + struct.pack("!BBH", 0, 6, len(segment)), segment)
