package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"

	"github.com/go-sql-driver/mysql"
	"github.com/miekg/dns"
)

// system is one DNS server under test.
type system struct {
	name string
	// config writes the system's configuration for port and returns its command line.
	config func(opt options, d *dataset, port int) ([]string, error)
}

// running is a started system.
type running struct {
	cmd     *exec.Cmd
	port    int
	readyIn time.Duration
	log     *os.File
}

func systems(d *dataset) []system {
	coredns := func(block string) func(opt options, d *dataset, port int) ([]string, error) {
		return func(opt options, d *dataset, port int) ([]string, error) {
			block := strings.NewReplacer("{DSN}", d.dsn, "{ZONEFILE}", d.zoneFile).Replace(block)
			path := filepath.Join(opt.work, "Corefile")
			body := fmt.Sprintf("%s:%d {\n%s\n}\n", zone, port, block)
			return []string{opt.binary, "-conf", path, "-quiet"}, os.WriteFile(path, []byte(body), 0o600)
		}
	}
	all := []system{
		{name: "dbrecords", config: coredns("\tdbrecords {\n\t\tdsn {DSN}\n\t}")},
		{name: "dbrecords+cache", config: coredns("\tcache\n\tdbrecords {\n\t\tdsn {DSN}\n\t}")},
		{name: "file", config: coredns("\tfile {ZONEFILE}")},
		{name: "whoami", config: coredns("\twhoami")},
	}
	if d.pdns {
		all = append(all, system{name: "pdns-gmysql", config: pdnsConfig})
	}
	return all
}

// pdnsConfig writes a PowerDNS configuration with the gmysql backend.
func pdnsConfig(opt options, _ *dataset, port int) ([]string, error) {
	cfg, err := mysql.ParseDSN(dbsetup.ServerDSN())
	if err != nil {
		return nil, err
	}
	host, p, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(opt.work, "pdns")
	os.MkdirAll(dir, 0o755)
	conf := fmt.Sprintf(`launch=gmysql
gmysql-host=%s
gmysql-port=%s
gmysql-user=%s
gmysql-password=%s
gmysql-dbname=%s
local-address=127.0.0.1
local-port=%d
socket-dir=%s
daemon=no
guardian=no
disable-syslog=yes
loglevel=3
`, host, p, cfg.User, cfg.Passwd, pdnsDB, port, dir)
	if err := os.WriteFile(filepath.Join(dir, "pdns.conf"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	return []string{"pdns_server", "--config-dir=" + dir}, nil
}

// start runs s pinned to CPU 0 and waits until it answers the last name of the data set.
func start(opt options, d *dataset, s system) (*running, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args, err := s.config(opt, d, port)
	if err != nil {
		return nil, err
	}
	logf, err := os.CreateTemp(opt.work, s.name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("taskset", append([]string{"-c", "0"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &running{cmd: cmd, port: port, log: logf}
	probe := fmt.Sprintf("app-%d.%s.", d.n-1, zone)
	for time.Since(began) < 5*time.Minute {
		m := new(dns.Msg)
		m.SetQuestion(probe, dns.TypeA)
		c := dns.Client{Timeout: 200 * time.Millisecond}
		if resp, _, err := c.Exchange(m, "127.0.0.1:"+strconv.Itoa(port)); err == nil && resp.Rcode == dns.RcodeSuccess {
			r.readyIn = time.Since(began)
			return r, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.stop()
	return nil, fmt.Errorf("%s did not answer %s within 5 minutes (log %s)", s.name, probe, logf.Name())
}

// rss returns the server's resident memory in MiB.
func (r *running) rss() float64 {
	pid := r.cmd.Process.Pid
	// taskset execs the server, so the pid is the server's.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func (r *running) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-done
	}
	r.log.Close()
}

func freePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port")
}
