package dnssec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestReadKeyErrorsKeepKeysSecret: a damaged .private file (a line-wrapped
// key, as an editor or a copy from a terminal leaves it) fails with the
// file, the line and the field, and no part of the key material.
func TestReadKeyErrorsKeepKeysSecret(t *testing.T) {
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "example.org.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600}, Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "Kexample.org.+013+00001")
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := k.PrivateKeyString(priv)
	var secret string
	var wrapped []string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "PrivateKey: "); ok {
			secret = v
			line = "PrivateKey: " + v[:20] + "\n" + v[20:]
		}
		wrapped = append(wrapped, line)
	}
	if secret == "" {
		t.Fatalf("Expected a PrivateKey field, got %q", text)
	}
	if err := os.WriteFile(base+".private", []byte(strings.Join(wrapped, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadKey(base)
	if err == nil {
		t.Fatal("Expected a wrapped private key refused")
	}
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(err.Error(), secret[i:i+8]) {
			t.Fatalf("Expected no key material in the error, got %q", err)
		}
	}
	if !strings.Contains(err.Error(), base+".private") || !strings.Contains(err.Error(), "line ") {
		t.Errorf("Expected the file and the line in the error, got %q", err)
	}
}
