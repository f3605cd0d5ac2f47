package nova

// ComputeEndpoint is the compute endpoint the backend records in its operation records.
func (b *Backend) ComputeEndpoint() string { return b.compute.Endpoint }
