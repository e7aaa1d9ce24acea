package test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"

	"github.com/miekg/dns"
)

// binary is the coredns under test: COREDNS_BINARY, or one built for this
// run; admin is the dbrecords admin command: ADMIN_BINARY, or one built.
var binary, admin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dbsetup.Ping(ctx, dbsetup.ServerDSN()); err != nil {
		fmt.Fprintf(os.Stderr, "No MySQL server answers at MYSQL_DSN (%v); run `make mysql` or `make test`.\n", err)
		return 1
	}
	var cleanup func()
	var err error
	if admin, cleanup, err = buildUnlessGiven("ADMIN_BINARY", "dbrecords", "../cmd/dbrecords"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	if binary, cleanup, err = buildUnlessGiven("COREDNS_BINARY", "coredns", "../build/coredns"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	return m.Run()
}

// buildUnlessGiven returns the binary named by the environment variable env,
// or builds pkg as name into a temporary directory that cleanup removes.
func buildUnlessGiven(env, name, pkg string) (path string, cleanup func(), err error) {
	if path = os.Getenv(env); path != "" {
		return path, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "dbrecords-"+name)
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", path, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("building %s: %w", pkg, err)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

// newDB creates a fresh database with schema.sql for t and drops it afterwards.
func newDB(t *testing.T) (*sql.DB, string) {
	t.Helper()
	return dbsetup.ForTest(t, "dbrecords_it")
}

func exec1(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("Expected %q to succeed, got %v", query, err)
	}
}

// server is a running ./coredns.
type server struct {
	dns, metrics, ready string
	cmd                 *exec.Cmd
	out                 *syncBuffer
	done                chan struct{}
}

// handedOut holds every port freePort gave in this run: a server that
// reloads binds its ports again (CoreDNS with SO_REUSEPORT), so a port must
// never go to a second test.
var handedOut sync.Map

// freePort returns a port free for both UDP and TCP on 127.0.0.1, never one
// given before in this run. It picks below Linux's ephemeral range (32768 and
// up), so that outgoing connections of other processes, database clients
// included, cannot take it between this check and the server's bind.
func freePort(t *testing.T) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.Intn(12000) //nolint:gosec // not for security
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("Expected a free port, got none")
	return 0
}

// startCorefile starts coredns with corefile, in which {DNS}, {METRICS} and
// {READY} are replaced by free ports.
func startCorefile(t *testing.T, corefile string) *server {
	t.Helper()
	s := &server{out: &syncBuffer{}, done: make(chan struct{})}
	dnsPort, metricsPort, readyPort := freePort(t), freePort(t), freePort(t)
	s.dns = fmt.Sprintf("127.0.0.1:%d", dnsPort)
	s.metrics = fmt.Sprintf("127.0.0.1:%d", metricsPort)
	s.ready = fmt.Sprintf("127.0.0.1:%d", readyPort)
	corefile = strings.NewReplacer("{DNS}", fmt.Sprint(dnsPort), "{METRICS}", s.metrics, "{READY}", s.ready).Replace(corefile)
	path := filepath.Join(t.TempDir(), "Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(binary, "-conf", path)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("Expected coredns to start, got %v", err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("coredns output:\n%s", s.out.String())
		}
	})
	return s
}

// start runs coredns serving example.org and example.net from dsn with extra
// dbrecords properties, and waits until it is ready.
func start(t *testing.T, dsn string, extra ...string) *server {
	t.Helper()
	s := startCorefile(t, serverBlock(dsn, extra...))
	s.waitReady(t)
	return s
}

func serverBlock(dsn string, extra ...string) string {
	return `example.org:{DNS} example.net:{DNS} {
	dbrecords {
		dsn ` + dsn + `
		refresh 1s
		ns ns1.example.org ns2.example.org
		` + strings.Join(extra, "\n\t\t") + `
	}
	prometheus {METRICS}
	ready {READY}
}
`
}

func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// readyStatus returns the HTTP status of /ready, or 0 when it does not answer.
func (s *server) readyStatus() int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + s.ready + "/ready")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (s *server) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s.readyStatus() == http.StatusOK {
			return
		}
		select {
		case <-s.done:
			t.Fatalf("Expected coredns to become ready, but it exited:\n%s", s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("Expected coredns to become ready within 30s, got status %d", s.readyStatus())
}

// metric returns the scraped lines of /metrics that start with name.
func (s *server) metricLines(t *testing.T, name string) []string {
	t.Helper()
	resp, err := http.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		t.Fatalf("Expected /metrics to answer, got %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var lines []string
	for l := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(l, name) {
			lines = append(lines, l)
		}
	}
	return lines
}

// query asks s over proto ("udp" or "tcp").
func query(t *testing.T, addr, proto, qname string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.RecursionDesired = false
	c := dns.Client{Net: proto, Timeout: 2 * time.Second}
	var lastErr error
	for range 3 {
		r, _, err := c.Exchange(m, addr)
		if err == nil {
			return r
		}
		lastErr = err
	}
	t.Fatalf("Expected an answer for %s over %s, got %v", qname, proto, lastErr)
	return nil
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
