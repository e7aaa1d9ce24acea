package test

import (
	"database/sql"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"

	"github.com/go-sql-driver/mysql"
)

// proxy forwards TCP connections from a local port to the MySQL server, so a
// test can take the database away from coredns and give it back.
type proxy struct {
	addr, target string

	sent  atomic.Int64 // bytes forwarded from coredns to the server
	delay atomic.Int64 // nanoseconds added before each reply chunk from the server
	hang  atomic.Bool  // hold every reply chunk, keeping connections open

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// newProxy reserves a port for a proxy to the server at MYSQL_DSN; it does not listen yet.
func newProxy(t *testing.T) *proxy {
	t.Helper()
	cfg, err := mysql.ParseDSN(dbsetup.ServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Net != "tcp" {
		t.Fatalf("Expected MYSQL_DSN to use tcp, got %q", cfg.Net)
	}
	p := &proxy{target: cfg.Addr, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	ln.Close()
	t.Cleanup(p.down)
	return p
}

// startBehindProxy creates a database holding rows and starts a ready
// coredns (with extra dbrecords properties) that reaches it through a proxy.
func startBehindProxy(t *testing.T, rows [][4]any, extra ...string) (*sql.DB, *server, *proxy) {
	t.Helper()
	db, dsn := newDB(t)
	insertRows(t, db, rows)
	p := newProxy(t)
	p.up(t)
	return db, start(t, p.dsn(t, dsn), extra...), p
}

// dsn returns dsn with its address replaced by the proxy's.
func (p *proxy) dsn(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = p.addr
	return cfg.FormatDSN()
}

// up starts accepting and forwarding connections.
func (p *proxy) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("Expected the proxy to listen on %s, got %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	})
}

func (p *proxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	p.wg.Add(2)
	go pipe(s, countingConn{c, &p.sent})
	go pipe(c, slowConn{s, p})
}

// down stops listening and cuts every forwarded connection.
func (p *proxy) down() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	p.wg.Wait()
}

// countingConn counts the bytes read from it as they arrive.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// slowConn applies the proxy's delay and hang to what the server sends.
type slowConn struct {
	net.Conn
	p *proxy
}

func (c slowConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	time.Sleep(time.Duration(c.p.delay.Load()))
	for c.p.hang.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	return n, err
}
