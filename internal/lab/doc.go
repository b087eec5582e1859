// Package lab builds synprobe's network-namespace lab.
package lab
