//go:build externaldns

package test

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// The run of `make test-external-dns`: external-dns (built by the Makefile
// at the version it pins) with its fake source, which needs no Kubernetes
// API: every run it wants ten random names below apps.example.org, each
// with an A record, and it writes them, with its TXT ownership records,
// through the rfc2136 provider; it reads the zone by AXFR first.

// TestExternalDNS: two runs of external-dns --once; the second replaces
// the first's names with its own, since it owns them.
func TestExternalDNS(t *testing.T) {
	bin := os.Getenv("EXTERNAL_DNS_BINARY")
	if bin == "" {
		t.Fatal("Expected EXTERNAL_DNS_BINARY (make test-external-dns builds it)")
	}
	db, dsn := newDB(t)
	corefile := strings.Replace(updateBlock(dsn, dsn), "\tprometheus {METRICS}", "\ttransfer {\n\t\tto 127.0.0.1\n\t}\n\tprometheus {METRICS}", 1)
	s := startCorefile(t, corefile)
	s.waitReady(t)
	host, port, _ := strings.Cut(s.dns, ":")
	run := func() []string {
		t.Helper()
		cmd := exec.Command(bin, "--source=fake", "--fqdn-template=apps.example.org", "--provider=rfc2136",
			"--rfc2136-host="+host, "--rfc2136-port="+port, "--rfc2136-zone=example.org",
			"--rfc2136-tsig-keyname="+appsKey, "--rfc2136-tsig-secret="+appsSecret, "--rfc2136-tsig-secret-alg=hmac-sha256",
			"--rfc2136-tsig-axfr", "--domain-filter=apps.example.org", "--registry=txt", "--txt-owner-id=dbrecords-test", "--once")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("Expected external-dns to sync, got %v:\n%s", err, out.String())
		}
		names := column(t, db, "SELECT name FROM dns_records WHERE type = 'A' ORDER BY name")
		if len(names) != 10 {
			t.Fatalf("Expected the ten A records of the fake source, got %q:\n%s", names, out.String())
		}
		for _, n := range names { // served at once by the replica that took the update
			if r := query(t, s.dns, "udp", n+".", dns.TypeA); len(r.Answer) != 1 {
				t.Errorf("Expected %s served, got %v", n, r)
			}
		}
		return names
	}
	first := run()
	second := run()
	for _, n := range first {
		if slices.Contains(second, n) {
			continue // the same random name twice
		}
		if r := query(t, s.dns, "udp", n+".", dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("Expected %s, owned by external-dns and no longer wanted, deleted, got %v", n, r)
		}
	}
	var txt int
	if err := db.QueryRow("SELECT COUNT(*) FROM dns_records WHERE type = 'TXT'").Scan(&txt); err != nil || txt != 20 {
		t.Errorf("Expected external-dns's 20 TXT ownership records for its 10 names, got %d, %v", txt, err)
	}
	if got := s.metricLines(t, `coredns_dbrecords_updates_total{key="apps-key.",result="noerror",zone="example.org."}`); len(got) != 1 {
		t.Errorf("Expected external-dns's updates counted, got %q", s.metricLines(t, "coredns_dbrecords_updates_total"))
	}
}
