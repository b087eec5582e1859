// Package raw moves packets through Linux raw sockets.
package raw
