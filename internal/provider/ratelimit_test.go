package provider_test

import "testing"

// max_requests_per_second must be a rate: 0 and negative numbers are refused at plan time,
// naming the attribute, before any connection.
func TestValidateMaxRequestsPerSecond(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0", "-1"} {
		planError(t, `
provider "rescue" {
  openstack {
    token                   = "admin:admin"
    endpoint_overrides      = { compute = "http://127.0.0.1:9/v2.1" }
    max_requests_per_second = `+v+`
  }
}
resource "rescue_instance" "x" {
  instance_id = "11111111-2222-4333-8444-555555555555"
}`, `(?s)Invalid request rate.*max_requests_per_second.*must be greater than 0`)
	}
}
