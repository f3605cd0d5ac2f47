package nova

// ComputeEndpoint is the compute endpoint the backend records in its operation records.
func (b *Backend) ComputeEndpoint() string { return b.compute.Endpoint }

// Identity is the user and project the backend takes for its credentials' (the proof of a
// lost rescue compares them with Nova's instance actions).
func (b *Backend) Identity() (user, project string) {
	i := b.identity()
	return i.UserID, i.ProjectID
}

// SetListPageSize sets the page size of List's GET /servers/detail (tests of the paging).
func SetListPageSize(n int) { listPageSize = n }
