package dbrecords

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

func TestParseUpdate(t *testing.T) {
	dsnFile := filepath.Join(t.TempDir(), "writer")
	if err := os.WriteFile(dsnFile, []byte("w:hunter2@tcp(db:3306)/r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	block := func(lines ...string) string {
		return "dbrecords {\n dsn u:p@tcp(db)/r\n update {\n  " + strings.Join(lines, "\n  ") + "\n }\n}"
	}
	tests := []struct {
		name, input, wantErr string
	}{
		{"no allow", block("dsn w:p@tcp(db)/r"), "property 'update': no 'allow' rule"},
		{"no dsn", block("allow k. a.example.org A"), "property 'update dsn' or 'update dsn_file' is required"},
		{"both dsns", block("dsn w:p@tcp(db)/r", "dsn_file "+dsnFile, "allow k. a.example.org A"), "properties 'update dsn' and 'update dsn_file' are mutually exclusive"},
		{"bad dsn", block("dsn w:hunter2@tcp(db)/", "allow k. a.example.org A"), "property 'update dsn': the DSN names no database"},
		{"unreadable dsn_file", block("dsn_file /nonexistent/writer", "allow k. a.example.org A"), `property 'update dsn_file': cannot read "/nonexistent/writer"`},
		{"allow too short", block("dsn w:p@tcp(db)/r", "allow k. a.example.org"), "property 'allow' takes a TSIG key name, one or more names and one or more types"},
		{"allow without type", block("dsn w:p@tcp(db)/r", "allow k. a.example.org b.example.org"), "property 'allow': no type after the names"},
		{"allow type not served", block("dsn w:p@tcp(db)/r", "allow k. a.example.org HINFO"), `property 'allow': "HINFO" is not a type this plugin serves`},
		{"allow name after types", block("dsn w:p@tcp(db)/r", "allow k. a.example.org A b.example.org"), `property 'allow': "b.example.org" is not a type`},
		{"allow name outside", block("dsn w:p@tcp(db)/r", "allow k. a.example.net A"), `property 'allow': "a.example.net" is not a host name (or *.NAME) in a zone of this block`},
		{"allow bad wildcard", block("dsn w:p@tcp(db)/r", "allow k. *a.example.org A"), `property 'allow': "*a.example.org" is not a host name`},
		{"max_records zero", block("dsn w:p@tcp(db)/r", "allow k. a.example.org A", "max_records 0"), `property 'max_records': invalid number "0" (want 1 to 65535)`},
		{"rate word", block("dsn w:p@tcp(db)/r", "allow k. a.example.org A", "rate fast"), `property 'rate': invalid number "fast"`},
		{"unknown", block("dsn w:p@tcp(db)/r", "allow k. a.example.org A", "zone example.org"), "unknown property 'update zone'"},
		{"twice", "dbrecords {\n dsn u:p@tcp(db)/r\n update {\n dsn w:p@tcp(db)/r\n allow k. a.example.org A\n }\n update {\n }\n}", "property 'update' is given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.ServerBlockKeys = []string{"example.org."}
			_, err := parse(c)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Expected an error containing %q, got %v", tc.wantErr, err)
			}
			if !strings.Contains(err.Error(), "Testfile:") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Expected the error to name the Corefile line and no password, got %q", err)
			}
		})
	}

	c := caddy.NewTestController("dns", block("dsn_file "+dsnFile, "allow Acme-Key _acme-challenge.Example.org TXT", "allow ext. *.apps.example.org x.example.org A aaaa ANY", "max_records 10", "rate 3"))
	c.ServerBlockKeys = []string{"example.org."}
	cfg, err := parse(c)
	if err != nil {
		t.Fatalf("Expected the update block to parse, got %v", err)
	}
	u := cfg.update
	if u.dsnFile != dsnFile || u.dsn.User != "w" || u.maxRecords != 10 || u.rate != 3 || len(u.policy) != 2 {
		t.Fatalf("Expected the writer DSN from the file, max_records 10, rate 3 and two rules, got %+v", u)
	}
	if r := u.policy[0]; r.Key != "acme-key." || !slices.Equal(r.Names, []string{"_acme-challenge.example.org."}) || !slices.Equal(r.Types, []uint16{dns.TypeTXT}) {
		t.Errorf("Expected acme-key. to have TXT at _acme-challenge.example.org., got %+v", r)
	}
	if r := u.policy[1]; !slices.Equal(r.Names, []string{"*.apps.example.org.", "x.example.org."}) || !slices.Equal(r.Types, []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY}) {
		t.Errorf("Expected ext. to have two names and A, AAAA, ANY, got %+v", r)
	}
	if cfg.dsn.User != "u" {
		t.Errorf("Expected the reader's DSN unchanged, got user %q", cfg.dsn.User)
	}
}
