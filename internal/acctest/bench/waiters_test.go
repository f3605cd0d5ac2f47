// Package bench_test compares how fast rescue waiters notice that a Nova server reached RESCUE,
// and how many GET requests they spend, on the harness's real Nova. Run it with `make bench`
// (scripts/bench.sh); it asserts nothing about time.
package bench_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/retry"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func TestMain(m *testing.M) { os.Exit(acctest.RunMain(m)) }

// rescueDelay is the server-side rescue time (novasim_rescue_delay).
const rescueDelay = "2"

var (
	serverGet    = regexp.MustCompile(`^/v2\.1/servers/[0-9a-f-]{36}$`)
	serverAction = regexp.MustCompile(`^/v2\.1/servers/[0-9a-f-]{36}/action$`)
)

// countingProxy sits between a waiter and Nova and counts GET /servers/{id}, before and after
// the action POST.
type countingProxy struct {
	mu              sync.Mutex
	gets, afterPost int
	posted          bool
	proxy           *httputil.ReverseProxy
}

func (c *countingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	switch {
	case r.Method == http.MethodGet && serverGet.MatchString(r.URL.Path):
		c.gets++
		if c.posted {
			c.afterPost++
		}
	case r.Method == http.MethodPost && serverAction.MatchString(r.URL.Path):
		c.posted = true
	}
	c.mu.Unlock()
	c.proxy.ServeHTTP(w, r)
}

func (c *countingProxy) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets, c.afterPost, c.posted = 0, 0, false
}

func (c *countingProxy) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets, c.afterPost
}

// waiter rescues the server through the proxy and returns when it believes it is in RESCUE.
type waiter struct {
	name string
	run  func(ctx context.Context, id string) error
}

type sample struct {
	lag, total time.Duration
	gets, wait int
}

func BenchmarkRescueWaiters(b *testing.B) {
	n := acctest.StartNovaT(b)
	log.SetOutput(io.Discard) // helper/retry logs every poll
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	target, err := url.Parse(strings.TrimSuffix(n.ComputeURL, "/v2.1/"))
	if err != nil {
		b.Fatal(err)
	}
	cp := &countingProxy{proxy: httputil.NewSingleHostReverseProxy(target)}
	srv := httptest.NewServer(cp)
	defer srv.Close()
	proxied := srv.URL + "/v2.1/"

	ctx := context.Background()
	backend, err := nova.New(ctx, nova.Config{Token: acctest.NoAuthToken,
		EndpointOverrides: map[string]string{"compute": proxied, "image": n.ImageURL}})
	if err != nil {
		b.Fatalf("nova backend: %v", err)
	}
	engine := rescue.NewEngine(backend)

	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Timeout: time.Minute}}
	pc.SetToken(acctest.NoAuthToken)
	pcl := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: proxied, ResourceBase: proxied, Type: "compute"}
	post := func(ctx context.Context, id string) error {
		_, err := servers.Rescue(ctx, pcl, id, servers.RescueOpts{}).Extract()
		return err
	}
	stateChange := func(delay time.Duration) func(ctx context.Context, id string) error {
		return func(ctx context.Context, id string) error {
			if err := post(ctx, id); err != nil {
				return err
			}
			// terraform-provider-openstack's server waits: helper/retry.StateChangeConf on the
			// server status, MinTimeout 3 s (and Delay 10 s in most of its resources).
			conf := &retry.StateChangeConf{
				Pending: []string{"ACTIVE"}, Target: []string{"RESCUE"},
				Refresh: func() (any, string, error) {
					s, err := servers.Get(ctx, pcl, id).Extract()
					if err != nil {
						return nil, "", err
					}
					return s, s.Status, nil
				},
				Timeout: 2 * time.Minute, Delay: delay, MinTimeout: 3 * time.Second,
			}
			_, err := conf.WaitForStateContext(ctx)
			return err
		}
	}
	waiters := []waiter{
		{"rescue.Engine (DefaultBackoff) over internal/nova", func(ctx context.Context, id string) error {
			_, _, err := engine.Rescue(ctx, rescue.Request{InstanceID: id})
			return err
		}},
		{"StateChangeConf MinTimeout 3s (openstack provider shape)", stateChange(0)},
		{"StateChangeConf Delay 10s, MinTimeout 3s", stateChange(10 * time.Second)},
		{"gophercloud servers.WaitForStatus (1s)", func(ctx context.Context, id string) error {
			if err := post(ctx, id); err != nil {
				return err
			}
			return servers.WaitForStatus(ctx, pcl, id, "RESCUE")
		}},
	}

	id := n.CreateServer(b, acctest.ServerOpts{Name: "bench", Metadata: map[string]string{acctest.MetaRescueDelay: rescueDelay}})
	results := make([][]sample, len(waiters))
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		for k := range waiters {
			i := (k + r) % len(waiters) // rotate the order between rounds
			s, err := trial(n, cp, waiters[i], id)
			if err != nil {
				b.Fatalf("%s: %v", waiters[i].name, err)
			}
			results[i] = append(results[i], s)
			n.UnrescueOOB(b, id)
		}
	}
	b.StopTimer()

	fmt.Printf("\nRescue of a Nova server with a %s s server-side rescue (novasim_rescue_delay), %d rounds.\n", rescueDelay, rounds)
	fmt.Println("lag = time from \"server reached RESCUE\" (a 25 ms side poller on Nova) to the waiter returning;")
	fmt.Println("GETs = GET /servers/{id} of the whole operation (after the rescue POST in brackets).")
	fmt.Printf("\n%-58s %22s %12s %14s\n", "waiter", "lag mean (min..max)", "GETs", "total mean")
	for i, w := range waiters {
		lag, lo, hi, tot, gets, wait := summary(results[i])
		fmt.Printf("%-58s %22s %5.1f (%4.1f) %14s\n", w.name,
			fmt.Sprintf("%v (%v..%v)", lag, lo, hi), gets, wait, tot)
		if i == 0 {
			b.ReportMetric(float64(lag.Milliseconds()), "lag-ms")
			b.ReportMetric(gets, "GETs")
		}
	}
	fmt.Println()
}

func trial(n *acctest.Nova, cp *countingProxy, w waiter, id string) (sample, error) {
	if err := n.CheckStatus(id, "ACTIVE"); err != nil {
		return sample{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp.reset()
	seen := make(chan time.Time, 1)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go watchRescue(wctx, n, id, seen)
	t0 := time.Now()
	if err := w.run(ctx, id); err != nil {
		return sample{}, err
	}
	done := time.Now()
	var reached time.Time
	select {
	case reached = <-seen:
	case <-time.After(30 * time.Second):
		return sample{}, fmt.Errorf("side poller never saw RESCUE")
	}
	gets, wait := cp.counts()
	return sample{lag: done.Sub(reached), total: done.Sub(t0), gets: gets, wait: wait}, nil
}

// watchRescue polls Nova directly (not through the proxy) every 25 ms and reports when the
// server is in RESCUE with no task in progress.
func watchRescue(ctx context.Context, n *acctest.Nova, id string, seen chan<- time.Time) {
	for {
		s, err := servers.Get(ctx, n.Compute, id).Extract()
		if err == nil && s.Status == "RESCUE" && s.TaskState == "" {
			seen <- time.Now()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func summary(ss []sample) (lag, lo, hi, total time.Duration, gets, wait float64) {
	lags := make([]time.Duration, 0, len(ss))
	for _, s := range ss {
		lags = append(lags, s.lag)
		lag += s.lag
		total += s.total
		gets += float64(s.gets)
		wait += float64(s.wait)
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	k := time.Duration(len(ss))
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return r(lag / k), r(lags[0]), r(lags[len(lags)-1]), r(total / k),
		gets / float64(len(ss)), wait / float64(len(ss))
}
