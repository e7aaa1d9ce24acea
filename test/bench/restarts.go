package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
		cold, err := start(opt, d, sys(d.dsn))
		if err != nil {
			return "", err
		}
		coldRSS := cold.rss()
		cold.stop() // writes the file
		files, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
		var size int64
		if len(files) == 1 {
			if fi, err := os.Stat(files[0]); err == nil {
				size = fi.Size()
			}
		}
		port, err := freePort() // nothing listens there: the database is down
		if err != nil {
			return "", err
		}
		warm, err := start(opt, d, sys(fmt.Sprintf("root@tcp(127.0.0.1:%d)/none", port)))
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
