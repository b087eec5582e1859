// Package results writes probe results in every output format synprobe has.
package results
