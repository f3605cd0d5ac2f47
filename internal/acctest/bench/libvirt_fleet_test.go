package bench_test

// The libvirt fleet benchmark: N rescue_instance resources (for_each) applied and destroyed by
// the real Terraform CLI with -parallelism=N, against the provider binary and the harness's
// private libvirtd with QEMU/TCG boot-sector guests, once with the shared poller (events) and
// once with the per-instance poller (RESCUE_POLLER=per-instance). The provider reaches the
// daemon through an RPC-counting proxy (libvirtd.RPCCounter); the benchmark watches the
// daemon's domain events on a connection of its own.

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
)

// lvReadProcs are the RPCs that read domains (the libvirt counterpart of Nova's server GETs).
var lvReadProcs = []uint32{libvirtd.ProcConnectListAllDomains, libvirtd.ProcDomainLookupByName,
	libvirtd.ProcDomainLookupByUUID, libvirtd.ProcDomainGetState, libvirtd.ProcDomainGetMetadata,
	libvirtd.ProcDomainGetXMLDesc}

// lvRow is one measured run: N resources, one poller.
type lvRow struct {
	n                   int
	poller              string
	applyRPCs, readRPCs int // all RPCs of the apply; those of lvReadProcs
	lists, destroyRPCs  int // ConnectListAllDomains of the apply; all RPCs of the destroy
	apply, destroy      time.Duration
	lagP50, lagP95      time.Duration // journal "rescued" -> apply_complete
	startP50, startP95  time.Duration // rescue guest started -> apply_complete
	peakRSS             int64         // KiB
}

// String is the row of the table.
func (r lvRow) String() string {
	return fmt.Sprintf("| %d | %s | %d | %d | %d | %.1f | %d | %.1f s | %.1f s | %d ms | %d ms | %d ms | %d ms | %.0f MiB |",
		r.n, r.poller, r.applyRPCs, r.readRPCs, r.lists, float64(r.applyRPCs)/r.apply.Seconds(), r.destroyRPCs,
		r.apply.Seconds(), r.destroy.Seconds(), r.lagP50.Milliseconds(), r.lagP95.Milliseconds(),
		r.startP50.Milliseconds(), r.startP95.Milliseconds(), float64(r.peakRSS)/1024)
}

// BenchmarkLibvirtFleet prints the libvirt fleet table. BENCH_LIBVIRT_N (default "1,10,20")
// lists the sizes; as many QEMU/TCG guests as the largest size run during the benchmark.
func BenchmarkLibvirtFleet(b *testing.B) {
	sizes := benchSizes(b, "BENCH_LIBVIRT_N", "1,10,20")
	lv := acctest.Libvirt(b)
	run := &lvRun{b: b, lv: lv, tf: terraformPath(b), bin: buildProvider(b)}
	run.rpc = libvirtd.NewRPCCounter(b, lv.Socket)
	run.ev = watchDomains(b, lv)
	names := make([]string, sizes[len(sizes)-1])
	for i := range names {
		names[i] = fmt.Sprintf("bench-lv-%02d", i)
		lv.DefineGuest(b, names[i], libvirtd.GuestOptions{Machine: "pc", Start: true, NoConfigDrive: true})
	}
	printLibvirtFleet(measureAll(b, sizes, func(size int, poller, env string) (lvRow, error) {
		return run.measure(names[:size], poller, env)
	}))
}

// lvRun holds what every measured libvirt run shares.
type lvRun struct {
	b       *testing.B
	lv      *libvirtd.Env
	tf, bin string
	rpc     *libvirtd.RPCCounter
	ev      *domainEvents
}

func (r *lvRun) workspace(names []string) (string, error) {
	cfg := `terraform {
  required_providers {
    rescue = { source = "rescue-labs/rescue" }
  }
}

` + acctest.LibvirtProviderConfig("qemu+tcp://"+r.rpc.Addr()+"/system") + fmt.Sprintf(`
resource "rescue_instance" "fleet" {
  for_each         = toset(["%s"])
  instance_id      = each.key
  image_id         = %q
  shutdown_timeout = "30s"
  timeouts         = { create = "15m", delete = "15m" }
}
`, strings.Join(names, `", "`), r.lv.Images().RescueDisk)
	return newWorkspace("bench-lv-fleet-", r.bin, cfg)
}

// measure applies and destroys the rescues of names with one poller and returns its row.
func (r *lvRun) measure(names []string, poller, env string) (lvRow, error) {
	row := lvRow{n: len(names), poller: poller}
	dir, err := r.workspace(names)
	if err != nil {
		return row, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	envs := []string{"RESCUE_POLLER=" + env}
	before := r.rpc.Snapshot()
	done, took, rss, err := runTerraform(r.tf, r.bin, dir, envs, "apply", len(names))
	if err != nil {
		return row, err
	}
	row.apply, row.peakRSS = took, rss
	calls := r.rpc.Since(before)
	for _, n := range calls {
		row.applyRPCs += n
	}
	for _, p := range lvReadProcs {
		row.readRPCs += calls[p]
	}
	row.lists = calls[libvirtd.ProcConnectListAllDomains]
	fmt.Fprintf(os.Stderr, "bench: N=%d %s: the apply's RPCs by procedure number (remote_protocol.x): %s\n", len(names), poller, byProc(calls))
	if err := r.lags(&row, names, done); err != nil {
		return row, err
	}
	before = r.rpc.Snapshot()
	_, took, rss, err = runTerraform(r.tf, r.bin, dir, envs, "destroy", len(names))
	if err != nil {
		return row, err
	}
	for _, n := range r.rpc.Since(before) {
		row.destroyRPCs += n
	}
	row.destroy, row.peakRSS = took, max(row.peakRSS, rss)
	return row, r.checkRestored(names)
}

// byProc lists counts per procedure, most frequent first.
func byProc(calls map[uint32]int) string {
	procs := make([]uint32, 0, len(calls))
	for p := range calls {
		procs = append(procs, p)
	}
	sort.Slice(procs, func(i, j int) bool { return calls[procs[i]] > calls[procs[j]] })
	var out []string
	for _, p := range procs {
		out = append(out, fmt.Sprintf("%d:%d", p, calls[p]))
	}
	return strings.Join(out, " ")
}

// lags sets the detection lags of row. For each domain, from libvirt's side (the events the
// benchmark's own connection received): lag is from the last change of the rescue journal
// before the resource's apply_complete (the write that marks the rescue done: state rescued,
// the lease released; checked by reading the journal) to that apply_complete; start is from
// the last lifecycle event "started" before it (the rescue guest booting; the provider's boot
// watch comes after it) to the apply_complete.
func (r *lvRun) lags(row *lvRow, names []string, done map[string]time.Time) error {
	l := r.lv.QEMU(r.b)
	var lags, starts []time.Duration
	for _, name := range names {
		at, ok := done[name]
		if !ok {
			return fmt.Errorf("no apply_complete for %s", name)
		}
		j, err := l.DomainGetMetadata(r.lv.Domain(r.b, name), int32(golibvirt.DomainMetadataElement),
			golibvirt.OptString{libvirt.MetadataNamespace}, golibvirt.DomainAffectConfig)
		if err != nil || !strings.Contains(j, `state="rescued"`) || strings.Contains(j, "<owner") {
			return fmt.Errorf("%s after the apply: want a rescue journal in state rescued without owner, got %.200q (%v)", name, j, err)
		}
		changed, ok1 := r.ev.last(name, evJournal, at)
		started, ok2 := r.ev.last(name, evStarted, at)
		if !ok1 || !ok2 {
			return fmt.Errorf("%s: no journal change (%v) or no start (%v) seen before its apply_complete", name, ok1, ok2)
		}
		if lag := at.Sub(changed); lag > 100*time.Millisecond {
			fmt.Fprintf(os.Stderr, "bench: N=%d %s: %s: journal rescued at %s, apply_complete %s later\n",
				len(names), row.poller, name, changed.Format("15:04:05.000000"), lag)
		}
		lags = append(lags, at.Sub(changed))
		starts = append(starts, at.Sub(started))
	}
	row.lagP50, row.lagP95 = percentiles(lags)
	row.startP50, row.startP95 = percentiles(starts)
	return nil
}

// checkRestored checks that every domain runs again without a rescue journal.
func (r *lvRun) checkRestored(names []string) error {
	l := r.lv.QEMU(r.b)
	for _, name := range names {
		d := r.lv.Domain(r.b, name)
		if j, err := l.DomainGetMetadata(d, int32(golibvirt.DomainMetadataElement),
			golibvirt.OptString{libvirt.MetadataNamespace}, golibvirt.DomainAffectConfig); err == nil {
			return fmt.Errorf("%s after the destroy still has a rescue journal: %.200q", name, j)
		}
		if st, _, err := l.DomainGetState(d, 0); err != nil || golibvirt.DomainState(st) != golibvirt.DomainRunning {
			return fmt.Errorf("%s after the destroy: state %d (%v), want running", name, st, err)
		}
	}
	return nil
}

// Kinds of domain events recorded by domainEvents.
const (
	evStarted = iota // lifecycle event "started"
	evJournal        // a change of the metadata in the rescue journal's namespace
)

// domainEvents records when the benchmark's own connection received domain events, by domain
// name and kind.
type domainEvents struct {
	mu   sync.Mutex
	seen map[string][][]time.Time // name -> kind -> times
}

// watchDomains subscribes a connection of the benchmark's own to the daemon's lifecycle and
// metadata change events and records them until the benchmark ends.
func watchDomains(b *testing.B, lv *libvirtd.Env) *domainEvents {
	l := lv.Connect(b, lv.QEMUURI)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	lc, err := l.LifecycleEvents(ctx)
	if err != nil {
		b.Fatalf("lifecycle events: %v", err)
	}
	md, err := l.SubscribeEvents(ctx, golibvirt.DomainEventIDMetadataChange, nil)
	if err != nil {
		b.Fatalf("metadata change events: %v", err)
	}
	e := &domainEvents{seen: map[string][][]time.Time{}}
	go func() {
		for m := range lc {
			if golibvirt.DomainEventType(m.Event) == golibvirt.DomainEventStarted {
				e.add(m.Dom.Name, evStarted, time.Now())
			}
		}
	}()
	go func() {
		for ev := range md {
			m, ok := ev.(*golibvirt.DomainEventCallbackMetadataChangeMsg)
			if ok && m.Type == int32(golibvirt.DomainMetadataElement) && (len(m.Nsuri) == 0 || m.Nsuri[0] == libvirt.MetadataNamespace) {
				e.add(m.Dom.Name, evJournal, time.Now())
			}
		}
	}()
	return e
}

func (e *domainEvents) add(name string, kind int, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen[name] == nil {
		e.seen[name] = make([][]time.Time, 2)
	}
	e.seen[name][kind] = append(e.seen[name][kind], at)
}

// last returns the last event of kind for name received before t.
func (e *domainEvents) last(name string, kind int, t time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out time.Time
	if e.seen[name] == nil {
		return out, false
	}
	for _, at := range e.seen[name][kind] {
		if at.Before(t) && at.After(out) {
			out = at
		}
	}
	return out, !out.IsZero()
}

func printLibvirtFleet(rows []lvRow) {
	fmt.Println("\nFleet rescue on the private libvirtd: N rescue_instance (for_each) of QEMU/TCG boot-sector guests,")
	fmt.Println("legacy mode with a qcow2 rescue disk, terraform apply/destroy -parallelism=N, the provider binary")
	fmt.Println("through an RPC-counting proxy; reads = list, look-up, state, metadata and XML RPCs of the apply;")
	fmt.Println("lag = the journal's last change (state rescued) to Terraform's apply_complete; start = the rescue")
	fmt.Println("guest's lifecycle event \"started\" to apply_complete (includes the provider's boot watch).")
	fmt.Printf("\n| N | poller | apply RPCs | reads | lists | RPCs/s | destroy RPCs | apply | destroy | lag p50 | lag p95 | start p50 | start p95 | peak RSS |\n")
	fmt.Printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Printf("\nper-instance / shared, side by side:\n\n| N | apply RPCs | reads | apply | destroy | lag p50 | lag p95 | peak RSS |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := 0; i+1 < len(rows); i += 2 {
		s, p := rows[i], rows[i+1]
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %s |\n", s.n, ratio(float64(p.applyRPCs), float64(s.applyRPCs)),
			ratio(float64(p.readRPCs), float64(s.readRPCs)), ratio(p.apply.Seconds(), s.apply.Seconds()),
			ratio(p.destroy.Seconds(), s.destroy.Seconds()), ratio(float64(p.lagP50), float64(s.lagP50)),
			ratio(float64(p.lagP95), float64(s.lagP95)), ratio(float64(p.peakRSS), float64(s.peakRSS)))
	}
	fmt.Println()
}
