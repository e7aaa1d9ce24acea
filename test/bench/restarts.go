package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"

	"github.com/dbrecords/dbrecords/test/dnskey"

	"github.com/miekg/dns"
)

// restarts measures start to ready and RSS from the database (a cold
// start) and from the snapshot file that start wrote at shutdown, with the
// database unreachable (a warm start), unsigned and signed with Ed25519.
func restarts(opt options, d *dataset) (string, error) {
	ed, _, err := dnskey.Write(opt.work, zone+".", dns.ED25519, 257)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Restarts (`snapshot DIR`): start to ready, and RSS then, from the database and from the snapshot file with the database unreachable:\n\n")
	fmt.Fprintf(&b, "| zone | cold: ready s, RSS MiB | warm, database down: ready s, RSS MiB | file MiB | ready ×cold |\n|---|---|---|---|---|\n")
	for _, c := range []struct{ name, key string }{{"unsigned", ""}, {"signed Ed25519", "\t\tkey file " + ed + "\n"}} {
		dir, err := os.MkdirTemp(opt.work, "snapshot-")
		if err != nil {
			return "", err
		}
		sys := func(dsn string) system {
			block := "\tdbrecords {\n\t\tdsn " + dsn + "\n" + c.key + "\t\tsnapshot " + dir + "\n\t}"
			return system{name: "dbrecords " + c.name, config: func(opt options, d *dataset, port int) ([]string, error) {
				path := filepath.Join(opt.work, "Corefile")
				body := fmt.Sprintf("%s:%d {\n%s\n}\n", zone, port, block)
				return []string{opt.binary, "-conf", path, "-quiet"}, os.WriteFile(path, []byte(body), 0o600)
			}}
		}
		// The replica reaches the database through a proxy, which goes
		// away for the warm start: the file is for the address the replica
		// knows the database by.
		proxy, dsn, err := newProxy(d.dsn)
		if err != nil {
			return "", err
		}
		cold, err := start(opt, d, sys(dsn))
		if err != nil {
			proxy.Close()
			return "", err
		}
		coldRSS := cold.rss()
		cold.stop() // writes the file
		proxy.Close()
		files, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
		var size int64
		if len(files) == 1 {
			if fi, err := os.Stat(files[0]); err == nil {
				size = fi.Size()
			}
		}
		warm, err := start(opt, d, sys(dsn)) // the proxy is gone: the database is down
		if err != nil {
			return "", err
		}
		warmRSS := warm.rss()
		warm.stop()
		fmt.Fprintf(&b, "| %s | %.2f, %.0f | %.2f, %.0f | %d | %.3f× |\n", c.name, cold.readyIn.Seconds(), coldRSS,
			warm.readyIn.Seconds(), warmRSS, size>>20, warm.readyIn.Seconds()/cold.readyIn.Seconds())
	}
	return b.String(), nil
}

// newProxy forwards a local port to the database of dsn, and returns the
// listener (Close stops it and every connection) and dsn with that port.
func newProxy(dsn string) (io.Closer, string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	p := &proxy{ln: ln}
	target := cfg.Addr
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	cfg.Addr = ln.Addr().String()
	return p, cfg.FormatDSN(), nil
}

type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (p *proxy) Close() error {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	return nil
}
