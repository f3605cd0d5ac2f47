package libvirt_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// libvirt's remote protocol: procedures counted by rpcCounter.
const (
	remoteProgram                 = 0x20008086
	procDomainGetXMLDesc          = 14
	procDomainLookupByName        = 23
	procDomainLookupByUUID        = 24
	procDomainGetState            = 212
	procDomainGetMetadata         = 265
	procConnectListAllDomains     = 273
	procConnectGetDomainCaps      = 342
	procDomainEventCallbackRegAny = 316
	procStorageVolDownload        = 209
)

// rpcCounter is a TCP proxy on 127.0.0.1 in front of the daemon's unix socket that counts the
// calls clients send, per procedure of libvirt's remote program, by reading the packets on the
// wire (length, program, version, procedure, type, serial, status). It is closed when the
// test ends.
type rpcCounter struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	calls map[uint32]int
	conns []net.Conn
	wg    sync.WaitGroup
}

func newRPCCounter(t *testing.T, socket string) *rpcCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rpcCounter{ln: ln, target: socket, calls: map[uint32]int{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's address.
func (p *rpcCounter) Addr() string { return p.ln.Addr().String() }

// Calls returns how many calls of procedure proc the proxy saw.
func (p *rpcCounter) Calls(proc uint32) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[proc]
}

// Snapshot returns a copy of the counts per procedure.
func (p *rpcCounter) Snapshot() map[uint32]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[uint32]int, len(p.calls))
	for k, v := range p.calls {
		m[k] = v
	}
	return m
}

// Since returns the counts per procedure since snapshot s.
func (p *rpcCounter) Since(s map[uint32]int) map[uint32]int {
	now := p.Snapshot()
	for k, v := range s {
		now[k] -= v
		if now[k] == 0 {
			delete(now, k)
		}
	}
	return now
}

func (p *rpcCounter) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *rpcCounter) serve() {
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
func (p *rpcCounter) pump(dst io.Writer, src io.Reader) error {
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
		if prog == remoteProgram && typ == 0 {
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
