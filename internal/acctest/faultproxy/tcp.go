package faultproxy

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"time"
)

// TCPMode is what a TCP proxy does with the traffic of its connections.
type TCPMode int

const (
	// TCPPass forwards both ways.
	TCPPass TCPMode = iota
	// TCPBlackhole forwards nothing either way and keeps the connections open, as a network
	// that drops every packet: data already read is held and delivered once the mode is
	// TCPPass again (as TCP would retransmit it), new connections are accepted and held too.
	TCPBlackhole
	// TCPReset closes every connection with a TCP reset (RST) and resets new ones at once.
	TCPReset
)

func (m TCPMode) String() string {
	switch m {
	case TCPPass:
		return "pass"
	case TCPBlackhole:
		return "blackhole"
	case TCPReset:
		return "reset"
	}
	return fmt.Sprintf("TCPMode(%d)", int(m))
}

// TCP is a TCP proxy on 127.0.0.1 in front of a TCP or unix socket target, whose behaviour a
// test switches while it runs: pass, black-hole, reset, delay, or black-hole as soon as the
// client sends a given byte sequence (a precise point of a protocol exchange).
type TCP struct {
	ln      net.Listener
	network string
	target  string

	mu       sync.Mutex
	changed  *sync.Cond
	mode     TCPMode
	delay    time.Duration
	trigger  []byte
	fired    chan struct{}
	conns    map[*tcpPair]struct{}
	accepted int
	closed   bool
	wg       sync.WaitGroup
}

// tcpPair is one proxied connection: the client's and the target's side.
type tcpPair struct {
	client, target net.Conn
	// tail is the end of the client's data already scanned for the trigger.
	tail []byte
}

// NewTCP starts a proxy on 127.0.0.1:0 that forwards each connection to target on network
// ("tcp" with host:port, or "unix" with a socket path), in mode TCPPass.
func NewTCP(network, target string) (*TCP, error) {
	if network != "tcp" && network != "unix" {
		return nil, fmt.Errorf("faultproxy: network %q (want tcp or unix)", network)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &TCP{ln: ln, network: network, target: target, conns: map[*tcpPair]struct{}{}}
	p.changed = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's address, 127.0.0.1:port.
func (p *TCP) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's port.
func (p *TCP) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Mode returns the current mode.
func (p *TCP) Mode() TCPMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Accepted returns how many connections the proxy accepted so far.
func (p *TCP) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Open returns how many proxied connections are open.
func (p *TCP) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Pass forwards both ways again (held data is delivered) and drops a pending trigger.
func (p *TCP) Pass() { p.setMode(TCPPass) }

// Blackhole stops forwarding both ways and keeps the connections open.
func (p *TCP) Blackhole() { p.setMode(TCPBlackhole) }

// Reset closes every connection with a reset, and resets new ones until the mode changes.
func (p *TCP) Reset() {
	p.setMode(TCPReset)
	p.mu.Lock()
	pairs := make([]*tcpPair, 0, len(p.conns))
	for c := range p.conns {
		pairs = append(pairs, c)
	}
	p.mu.Unlock()
	for _, c := range pairs {
		c.reset()
	}
}

// Delay holds each chunk of data for d before forwarding it, both ways (0: no delay).
func (p *TCP) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// BlackholeOn forwards as in TCPPass until a client sends pattern (also across reads); the
// chunk that completes it is forwarded, then the proxy turns to TCPBlackhole. The returned
// channel is closed at that moment.
func (p *TCP) BlackholeOn(pattern []byte) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = TCPPass
	p.trigger = bytes.Clone(pattern)
	p.fired = make(chan struct{})
	for c := range p.conns {
		c.tail = nil
	}
	p.changed.Broadcast()
	return p.fired
}

func (p *TCP) setMode(m TCPMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	p.trigger = nil
	p.changed.Broadcast()
}

// Close stops the proxy: the listener and every connection are closed, and Close returns
// once all its goroutines have ended.
func (p *TCP) Close() error {
	p.mu.Lock()
	p.closed = true
	pairs := make([]*tcpPair, 0, len(p.conns))
	for c := range p.conns {
		pairs = append(pairs, c)
	}
	p.changed.Broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range pairs {
		c.close()
	}
	p.wg.Wait()
	return err
}

func (p *TCP) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted++
		mode, closed := p.mode, p.closed
		p.mu.Unlock()
		if closed || mode == TCPReset {
			resetConn(c)
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// handle connects to the target and pipes both ways until either side ends.
func (p *TCP) handle(c net.Conn) {
	defer p.wg.Done()
	t, err := net.DialTimeout(p.network, p.target, 10*time.Second)
	if err != nil {
		resetConn(c)
		return
	}
	pair := &tcpPair{client: c, target: t}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pair.close()
		return
	}
	p.conns[pair] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pump(pair, c, t, true); done <- struct{}{} }()
	go func() { p.pump(pair, t, c, false); done <- struct{}{} }()
	<-done
	pair.close()
	<-done
	p.mu.Lock()
	delete(p.conns, pair)
	p.mu.Unlock()
}

// pump copies src to dst chunk by chunk, each chunk forwarded only in TCPPass (waiting while
// black-holed); fromClient marks the client-to-target direction, the one the trigger watches.
func (p *TCP) pump(pair *tcpPair, src, dst net.Conn, fromClient bool) {
	buf := make([]byte, 32*1024)
	for {
		if !p.waitPass() {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if fromClient && p.scan(pair, chunk) {
				// Black-holed from now on (the answer to this chunk included); the chunk
				// itself still goes through.
				p.fire()
			} else if !p.waitPass() {
				return
			}
			if d := p.currentDelay(); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// waitPass waits while the proxy black-holes; false when the proxy is closing or resetting.
func (p *TCP) waitPass() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == TCPBlackhole && !p.closed {
		p.changed.Wait()
	}
	return !p.closed && p.mode != TCPReset
}

// scan reports whether chunk completes the trigger pattern on this connection.
func (p *TCP) scan(pair *tcpPair, chunk []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.trigger) == 0 {
		return false
	}
	data := append(pair.tail, chunk...)
	if bytes.Contains(data, p.trigger) {
		pair.tail = nil
		return true
	}
	keep := min(len(data), len(p.trigger)-1)
	pair.tail = bytes.Clone(data[len(data)-keep:])
	return false
}

// fire turns the proxy to TCPBlackhole for a trigger that matched.
func (p *TCP) fire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.trigger == nil {
		return
	}
	p.trigger = nil
	p.mode = TCPBlackhole
	close(p.fired)
	p.changed.Broadcast()
}

func (p *TCP) currentDelay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay
}

func (c *tcpPair) close() {
	_ = c.client.Close()
	_ = c.target.Close()
}

// reset closes the client side with a TCP reset and the target side at once.
func (c *tcpPair) reset() {
	resetConn(c.client)
	_ = c.target.Close()
}

// resetConn closes a TCP connection with a reset (SO_LINGER 0).
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
