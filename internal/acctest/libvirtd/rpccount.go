package libvirtd

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// RemoteProgram is libvirt's remote program number (the calls RPCCounter counts).
const RemoteProgram = 0x20008086

// Procedures of libvirt's remote program that tests and benchmarks count.
const (
	ProcDomainGetXMLDesc          = 14
	ProcDomainLookupByName        = 23
	ProcDomainLookupByUUID        = 24
	ProcDomainIsActive            = 150
	ProcStorageVolDownload        = 209
	ProcDomainGetState            = 212
	ProcDomainGetMetadata         = 265
	ProcConnectListAllDomains     = 273
	ProcDomainEventCallbackRegAny = 316
	ProcConnectGetDomainCaps      = 342
)

// RPCCounter is a TCP proxy on 127.0.0.1 in front of the daemon's unix socket that counts the
// calls clients send, per procedure of libvirt's remote program, by reading the packets on the
// wire (length, program, version, procedure, type, serial, status). Clients reach it as
// "qemu+tcp://<Addr>/system" or "test+tcp://<Addr>/default". It is closed when the test ends.
type RPCCounter struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	calls map[uint32]int
	conns []net.Conn
	wg    sync.WaitGroup
}

// NewRPCCounter starts a counting proxy in front of the unix socket (a Daemon's Socket).
func NewRPCCounter(t testing.TB, socket string) *RPCCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &RPCCounter{ln: ln, target: socket, calls: map[uint32]int{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's address.
func (p *RPCCounter) Addr() string { return p.ln.Addr().String() }

// Calls returns how many calls of procedure proc the proxy saw.
func (p *RPCCounter) Calls(proc uint32) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[proc]
}

// Snapshot returns a copy of the counts per procedure.
func (p *RPCCounter) Snapshot() map[uint32]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[uint32]int, len(p.calls))
	for k, v := range p.calls {
		m[k] = v
	}
	return m
}

// Since returns the counts per procedure since snapshot s.
func (p *RPCCounter) Since(s map[uint32]int) map[uint32]int {
	now := p.Snapshot()
	for k, v := range s {
		now[k] -= v
		if now[k] == 0 {
			delete(now, k)
		}
	}
	return now
}

func (p *RPCCounter) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *RPCCounter) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("unix", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(c, up)
			_ = c.Close()
		}()
		go func() {
			defer p.wg.Done()
			_ = p.pump(up, c)
			_ = up.Close()
		}()
	}
}

// pump forwards the client's packets to the daemon, counting the calls.
func (p *RPCCounter) pump(dst io.Writer, src io.Reader) error {
	var hdr [28]byte
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[0:4])
		if n < 28 {
			return errors.New("short packet")
		}
		prog, proc, typ := binary.BigEndian.Uint32(hdr[4:8]), binary.BigEndian.Uint32(hdr[12:16]), binary.BigEndian.Uint32(hdr[16:20])
		if prog == RemoteProgram && typ == 0 {
			p.mu.Lock()
			p.calls[proc]++
			p.mu.Unlock()
		}
		if _, err := dst.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(dst, src, int64(n-28)); err != nil {
			return err
		}
	}
}
