package bench_test

// The fleet benchmark: N rescue_instance resources (for_each) applied and destroyed by the real
// Terraform CLI with -parallelism=N, against the provider binary and the harness's real Nova
// (a 3 s server-side rescue), once with the shared poller and once with the per-instance
// poller (RESCUE_POLLER=per-instance). Counting proxies in front of the compute and image APIs.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
)

// fleetRescueDelay is the server-side rescue time (novasim_rescue_delay), as in the issue.
const fleetRescueDelay = "3"

var (
	fleetServerGet  = regexp.MustCompile(`/servers/[0-9a-f-]{36}$`)
	fleetServerList = regexp.MustCompile(`/servers/detail$`)
	fleetImageGet   = regexp.MustCompile(`/images/[0-9a-f-]{36}$`)
)

// pollers are the two waits compared, by their RESCUE_POLLER value.
var pollers = []struct{ name, env string }{{"shared", ""}, {"per-instance", "per-instance"}}

// fleetRow is one measured run: N resources, one poller.
type fleetRow struct {
	n                     int
	poller                string
	serverGETs, imageGETs int
	apply, destroy        time.Duration
	lagP50, lagP95        time.Duration
	peakRSS               int64 // KiB
}

func (r fleetRow) getsPerSecond() float64 { return float64(r.serverGETs) / r.apply.Seconds() }

// String is the row of the table.
func (r fleetRow) String() string {
	return fmt.Sprintf("| %d | %s | %d | %.1f | %d | %.1f s | %.1f s | %d ms | %d ms | %.0f MiB |", r.n, r.poller, r.serverGETs,
		r.getsPerSecond(), r.imageGETs, r.apply.Seconds(), r.destroy.Seconds(), r.lagP50.Milliseconds(),
		r.lagP95.Milliseconds(), float64(r.peakRSS)/1024)
}

// BenchmarkFleet prints the fleet table. BENCH_N (default "1,20,100") lists the sizes.
func BenchmarkFleet(b *testing.B) {
	sizes := benchSizes(b, "BENCH_N", "1,20,100")
	n := acctest.StartNovaT(b)
	tf := terraformPath(b)
	bin := buildProvider(b)
	compute, err := faultproxy.NewHTTP(n.ComputeURL)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = compute.Close() }()
	image, err := faultproxy.NewHTTP(n.ImageURL)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = image.Close() }()
	ids := n.CreateServers(b, sizes[len(sizes)-1], acctest.ServerOpts{Name: "bench-fleet",
		Metadata: map[string]string{acctest.MetaRescueDelay: fleetRescueDelay}})
	run := &fleetRun{b: b, nova: n, tf: tf, bin: bin, compute: compute, image: image}
	printFleet(measureAll(b, sizes, func(size int, poller, env string) (fleetRow, error) {
		return run.measure(ids[:size], poller, env)
	}))
}

// fleetRun holds what every measured run shares.
type fleetRun struct {
	b              *testing.B
	nova           *acctest.Nova
	tf, bin        string
	compute, image *faultproxy.HTTP
}

func (f *fleetRun) workspace(ids []string) (string, error) {
	cfg := fmt.Sprintf(`terraform {
  required_providers {
    rescue = { source = "rescue-labs/rescue" }
  }
}

provider "rescue" {
  openstack {
    token              = %q
    endpoint_overrides = { compute = %q, image = %q }
  }
}

resource "rescue_instance" "fleet" {
  for_each    = toset(["%s"])
  instance_id = each.key
  image_id    = %q
  timeouts    = { create = "15m", delete = "15m" }
}
`, f.nova.Token, f.compute.URLFor(f.nova.ComputeURL), f.image.URLFor(f.nova.ImageURL),
		strings.Join(ids, `", "`), acctest.PlainImageID)
	return newWorkspace("bench-fleet-", f.bin, cfg)
}

// measure applies and destroys the rescues of ids with one poller and returns its row.
func (f *fleetRun) measure(ids []string, poller, env string) (fleetRow, error) {
	row := fleetRow{n: len(ids), poller: poller}
	dir, err := f.workspace(ids)
	if err != nil {
		return row, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	c0, i0 := len(f.compute.Records()), len(f.image.Records())
	done, took, rss, err := f.terraform(dir, env, "apply", len(ids))
	if err != nil {
		return row, err
	}
	row.apply, row.peakRSS = took, rss
	for _, r := range f.compute.Records()[c0:] {
		if r.Method == http.MethodGet && (fleetServerGet.MatchString(r.Path) || fleetServerList.MatchString(r.Path)) {
			row.serverGETs++
		}
	}
	for _, r := range f.image.Records()[i0:] {
		if r.Method == http.MethodGet && fleetImageGet.MatchString(r.Path) {
			row.imageGETs++
		}
	}
	if row.lagP50, row.lagP95, err = f.lags(ids, done); err != nil {
		return row, err
	}
	_, took, rss, err = f.terraform(dir, env, "destroy", len(ids))
	if err != nil {
		return row, err
	}
	row.destroy = took
	row.peakRSS = max(row.peakRSS, rss)
	for _, id := range ids {
		if err := f.nova.CheckStatus(id, "ACTIVE"); err != nil {
			return row, fmt.Errorf("after the destroy: %w", err)
		}
	}
	return row, nil
}

// terraform runs `terraform <cmd> -auto-approve -json -parallelism=n` in dir and returns when
// each resource was done (by instance id, from the apply_complete messages), the wall time, and
// the provider's peak RSS (VmHWM, KiB).
func (f *fleetRun) terraform(dir, poller, cmd string, n int) (map[string]time.Time, time.Duration, int64, error) {
	return runTerraform(f.tf, f.bin, dir, []string{"RESCUE_POLLER=" + poller}, cmd, n)
}

// lags returns the p50 and p95 of the detection lag: from the moment Nova finished the rescue
// (the end of its compute_rescue_instance event, right after the server became RESCUE) to the
// apply_complete of its resource.
func (f *fleetRun) lags(ids []string, done map[string]time.Time) (p50, p95 time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lags := make([]time.Duration, 0, len(ids))
	for _, id := range ids {
		at, ok := done[id]
		if !ok {
			return 0, 0, fmt.Errorf("no apply_complete for %s", id)
		}
		reached, err := rescueFinished(ctx, f.nova, id)
		if err != nil {
			return 0, 0, err
		}
		lags = append(lags, at.Sub(reached))
	}
	p50, p95 = percentiles(lags)
	return p50, p95, nil
}

// rescueFinished is the finish time of the compute_rescue_instance event of the server's
// newest rescue action.
func rescueFinished(ctx context.Context, n *acctest.Nova, id string) (time.Time, error) {
	pages, err := instanceactions.List(n.Compute, id, nil).AllPages(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("actions of %s: %w", id, err)
	}
	acts, err := instanceactions.ExtractInstanceActions(pages)
	if err != nil {
		return time.Time{}, err
	}
	for _, a := range acts {
		if a.Action != "rescue" {
			continue
		}
		d, err := instanceactions.Get(ctx, n.Compute, id, a.RequestID).Extract()
		if err != nil {
			return time.Time{}, fmt.Errorf("rescue action of %s: %w", id, err)
		}
		if d.Events != nil {
			for _, e := range *d.Events {
				if e.Event == "compute_rescue_instance" && !e.FinishTime.IsZero() {
					return e.FinishTime, nil
				}
			}
		}
		return time.Time{}, fmt.Errorf("the rescue of %s has no finished compute_rescue_instance event", id)
	}
	return time.Time{}, fmt.Errorf("server %s has no rescue action", id)
}

func printFleet(rows []fleetRow) {
	fmt.Printf("\nFleet rescue on the local Nova: N rescue_instance (for_each) with a %s s server-side rescue,\n", fleetRescueDelay)
	fmt.Println("terraform apply/destroy -parallelism=N, the provider binary; server GETs = GET /servers/{id} and")
	fmt.Println("GET /servers/detail of the apply; lag = Nova's end of the rescue to Terraform's apply_complete.")
	fmt.Printf("\n| N | poller | server GETs | GETs/s | image GETs | apply | destroy | lag p50 | lag p95 | peak RSS |\n")
	fmt.Printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Printf("\nper-instance / shared, side by side:\n\n| N | server GETs | GETs/s | apply | lag p50 | peak RSS |\n|---:|---:|---:|---:|---:|---:|\n")
	for i := 0; i+1 < len(rows); i += 2 {
		s, p := rows[i], rows[i+1]
		fmt.Printf("| %d | %s | %s | %s | %s | %s |\n", s.n, ratio(float64(p.serverGETs), float64(s.serverGETs)),
			ratio(p.getsPerSecond(), s.getsPerSecond()), ratio(p.apply.Seconds(), s.apply.Seconds()),
			ratio(float64(p.lagP50), float64(s.lagP50)), ratio(float64(p.peakRSS), float64(s.peakRSS)))
	}
	fmt.Println()
}
