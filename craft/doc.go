// Package craft builds and parses IPv4, TCP and ICMPv4 headers by hand.
package craft
