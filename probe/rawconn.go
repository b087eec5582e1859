package probe

import "github.com/synprobe/synprobe/raw"

// OpenRaw opens the raw sockets a scan or ping needs, in the calling
// thread's network namespace. Errors from raw (raw.ErrPermission, ...)
// come back wrapped, for errors.Is.
func OpenRaw(cfg *raw.Config) (Conn, error) {
	c, err := raw.Listen(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}
