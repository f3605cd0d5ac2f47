package nova

// SetListPageSize sets the page size of List's GET /servers/detail (tests of the paging).
func SetListPageSize(n int) { listPageSize = n }
