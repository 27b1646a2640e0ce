package cluster

import "context"

// Crash drops c's connection to NATS at once, as a killed process would:
// its leases and presence keys stay until their TTL.
func Crash(c *Cluster) { c.crash() }

// Lease returns the holder named in the lease of log id.
func Lease(ctx context.Context, c *Cluster, id string) ([]byte, error) {
	e, err := c.leases.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

// StreamReplicas returns the replicas of the lines stream.
func StreamReplicas(ctx context.Context, c *Cluster) (int, error) {
	info, err := c.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.Config.Replicas, nil
}
