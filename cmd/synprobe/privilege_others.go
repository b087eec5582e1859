//go:build !linux

package main

// labPrivileged: the lab is Linux only, and says so itself.
func labPrivileged() bool { return true }
