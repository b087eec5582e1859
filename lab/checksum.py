#!/usr/bin/env python3
"""Recompute the IPv4 header and TCP checksums of every packet in a pcap
written by `synprobe --pcap` (link type IPv4), the slow way RFC 1071
describes, and compare them with the checksums in the packets.

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
        while rec := f.read(16):
            _, _, incl, _ = struct.unpack("<IIII", rec)
            yield f.read(incl)


for n, pkt in enumerate(packets(sys.argv[1]), 1):
    ihl = (pkt[0] & 0x0F) * 4
    ip_header = bytearray(pkt[:ihl])
    stored_ip = struct.unpack("!H", ip_header[10:12])[0]
    ip_header[10:12] = b"\0\0"
    src, dst = pkt[12:16], pkt[16:20]
    segment = bytearray(pkt[ihl:struct.unpack("!H", pkt[2:4])[0]])
    print(f"packet {n}: IPv4 header checksum stored 0x{stored_ip:04x}, computed 0x{checksum(bytes(ip_header)):04x}")
    if pkt[9] == 6:
        stored_tcp = struct.unpack("!H", segment[16:18])[0]
        segment[16:18] = b"\0\0"
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(segment))
        print(f"packet {n}: TCP checksum stored 0x{stored_tcp:04x}, computed 0x{checksum(pseudo + bytes(segment)):04x}")
