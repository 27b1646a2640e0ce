package cluster

// Crash drops c's connection to NATS at once, as a killed process would:
// its leases and presence keys stay until their TTL.
func Crash(c *Cluster) { c.crash() }
