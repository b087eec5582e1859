package raw

// closedForTest reports whether Close has closed the tap.
func (c *Conn) closedForTest() bool {
	if c.tap == nil {
		return true
	}
	c.tap.mu.Lock()
	defer c.tap.mu.Unlock()
	return c.tap.ring == nil
}
