package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// acmeUpdates starts a replica that takes DNS UPDATE (acme-key. may change
// the TXT of _acme-challenge.example.org only) and pebble validating
// against it.
func acmeUpdates(t *testing.T) (s *server, dir, mgmt, caFile string) {
	t.Helper()
	pebble, _ := acmeTools(t)
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"example.org", "A", "192.0.2.6", nil}})
	s = startUpdates(t, dsn, dsn)
	dir, mgmt, caFile = startPebble(t, pebble, s.dns)
	t.Cleanup(func() {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM dns_records WHERE type = 'TXT'").Scan(&n); err != nil || n != 0 {
			t.Errorf("Expected the client's cleanup to delete its TXT records by UPDATE, got %d rows, %v", n, err)
		}
	})
	return s, dir, mgmt, caFile
}

// checkUpdatesCounted checks that the client's UPDATEs all succeeded: at
// least two (one TXT per name of the certificate) and none refused.
func checkUpdatesCounted(t *testing.T, s *server) {
	t.Helper()
	lines := s.metricLines(t, `coredns_dbrecords_updates_total{key="acme-key."`)
	ok := false
	for _, l := range lines {
		if !strings.Contains(l, `result="noerror"`) {
			t.Errorf("Expected every update of the ACME client to succeed, got %s", l)
		}
		var n float64
		fmt.Sscan(l[strings.LastIndex(l, " ")+1:], &n)
		ok = ok || strings.Contains(l, `result="noerror"`) && n >= 4
	}
	if !ok {
		t.Errorf("Expected at least 4 updates (two TXT added, two deleted) by acme-key., got %q", lines)
	}
}

// TestACMEWildcardLegoRFC2136: lego's rfc2136 provider, the one
// cert-manager's rfc2136 solver works like, obtains a certificate for
// *.example.org and example.org from pebble through DNS UPDATE alone.
func TestACMEWildcardLegoRFC2136(t *testing.T) {
	_, lego := acmeTools(t)
	s, dir, mgmt, caFile := acmeUpdates(t)
	work := t.TempDir()
	lg := exec.Command(lego, "--server", dir, "--accept-tos", "--email", "ops@example.org", "--key-type", "ec256",
		"--domains", "*.example.org", "--domains", "example.org", "--path", work,
		"--dns", "rfc2136", "--dns.resolvers", s.dns, "--dns.propagation-disable-ans", "run")
	lg.Env = append(os.Environ(),
		"LEGO_CA_CERTIFICATES="+caFile,
		"RFC2136_NAMESERVER="+s.dns,
		"RFC2136_TSIG_KEY="+acmeKey,
		"RFC2136_TSIG_SECRET="+acmeSecret,
		"RFC2136_TSIG_ALGORITHM=hmac-sha256.",
		"RFC2136_TTL=60",
		"RFC2136_POLLING_INTERVAL=1", "RFC2136_PROPAGATION_TIMEOUT=60", "RFC2136_SEQUENCE_INTERVAL=1")
	var out bytes.Buffer
	lg.Stdout, lg.Stderr = &out, &out
	start := time.Now()
	if err := lg.Run(); err != nil {
		t.Fatalf("Expected lego to obtain the certificate, got %v:\n%s", err, out.String())
	}
	t.Logf("lego (rfc2136) obtained the certificate in %s", time.Since(start).Round(time.Millisecond))
	if n := strings.Count(out.String(), "The server validated our request"); n != 2 {
		t.Errorf("Expected pebble to validate two DNS-01 challenges, got %d:\n%s", n, out.String())
	}
	checkWildcardCert(t, filepath.Join(work, "certificates", "_.example.org.crt"), mgmt, caFile)
	checkUpdatesCounted(t, s)
	if r := query(t, s.dns, "udp", "_acme-challenge.example.org.", dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Errorf("Expected the challenge gone once lego cleaned up, got %v", r)
	}
}

// TestACMEWildcardCertbotRFC2136: certbot with its dns-rfc2136 plugin
// (Debian's python3-certbot-dns-rfc2136) does the same.
func TestACMEWildcardCertbotRFC2136(t *testing.T) {
	if _, err := exec.LookPath("certbot"); err != nil {
		t.Fatalf("Expected certbot (make packages installs certbot and python3-certbot-dns-rfc2136), got %v", err)
	}
	s, dir, mgmt, caFile := acmeUpdates(t)
	work := t.TempDir()
	host, port, _ := strings.Cut(s.dns, ":")
	creds := filepath.Join(work, "rfc2136.ini")
	ini := fmt.Sprintf("dns_rfc2136_server = %s\ndns_rfc2136_port = %s\ndns_rfc2136_name = %s\ndns_rfc2136_secret = %s\ndns_rfc2136_algorithm = HMAC-SHA256\n",
		host, port, acmeKey, acmeSecret)
	if err := os.WriteFile(creds, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	cb := exec.Command("certbot", "certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
		"--server", dir, "--key-type", "ecdsa", "--cert-name", "example.org",
		"--dns-rfc2136", "--dns-rfc2136-credentials", creds, "--dns-rfc2136-propagation-seconds", "1",
		"-d", "*.example.org", "-d", "example.org",
		"--config-dir", filepath.Join(work, "config"), "--work-dir", filepath.Join(work, "work"), "--logs-dir", filepath.Join(work, "logs"))
	cb.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+caFile)
	var out bytes.Buffer
	cb.Stdout, cb.Stderr = &out, &out
	start := time.Now()
	if err := cb.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(work, "logs", "letsencrypt.log"))
		t.Fatalf("Expected certbot to obtain the certificate, got %v:\n%s\n%s", err, out.String(), log)
	}
	t.Logf("certbot (dns-rfc2136) obtained the certificate in %s", time.Since(start).Round(time.Millisecond))
	checkWildcardCert(t, filepath.Join(work, "config", "live", "example.org", "fullchain.pem"), mgmt, caFile)
	checkUpdatesCounted(t, s)
}
