package dbrecords

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	goodFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(goodFile, []byte("u:secretfile@tcp(db:3306)/records\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		input   string
		wantErr string // substring; empty for success
		check   func(t *testing.T, cfg *config)
	}{
		{
			name:  "defaults",
			input: "dbrecords {\n dsn u:p@tcp(db:3306)/records\n}",
			check: func(t *testing.T, cfg *config) {
				t.Helper()
				if cfg.table != "dns_records" || cfg.refresh != time.Second || cfg.ttl != 60 || cfg.negativeTTL != 30 || cfg.reconcile != 6*time.Hour || cfg.journal != 8<<20 {
					t.Errorf("Expected defaults dns_records/1s/60/30/6h, got %s/%s/%d/%d/%s", cfg.table, cfg.refresh, cfg.ttl, cfg.negativeTTL, cfg.reconcile)
				}
				if len(cfg.zones) != 1 || cfg.zones[0] != "example.org." {
					t.Errorf("Expected zones [example.org.], got %v", cfg.zones)
				}
				if cfg.dsn.User != "u" || cfg.dsn.Passwd != "p" || cfg.dsn.DBName != "records" {
					t.Errorf("Expected DSN user u, database records, got %q, %q", cfg.dsn.User, cfg.dsn.DBName)
				}
				if len(cfg.ns) != 0 || len(cfg.fall.Zones) != 0 {
					t.Errorf("Expected no ns and no fallthrough, got %v and %v", cfg.ns, cfg.fall.Zones)
				}
			},
		},
		{
			name: "every property",
			input: `dbrecords Example.COM example.net {
				dsn u:p@tcp(db:3306)/records
				table hosts_v2
				refresh 250ms
				reconcile 30m
				ttl 300
				negative_ttl 5
				ns NS1.example.com ns2.example.net.
				fallthrough example.net
			}`,
			check: func(t *testing.T, cfg *config) {
				t.Helper()
				if strings.Join(cfg.zones, ",") != "example.com.,example.net." {
					t.Errorf("Expected zones example.com.,example.net., got %v", cfg.zones)
				}
				if cfg.table != "hosts_v2" || cfg.refresh != 250*time.Millisecond || cfg.ttl != 300 || cfg.negativeTTL != 5 || cfg.reconcile != 30*time.Minute {
					t.Errorf("Expected hosts_v2/250ms/300/5/30m, got %s/%s/%d/%d/%s", cfg.table, cfg.refresh, cfg.ttl, cfg.negativeTTL, cfg.reconcile)
				}
				if strings.Join(cfg.ns, ",") != "ns1.example.com.,ns2.example.net." {
					t.Errorf("Expected ns ns1.example.com.,ns2.example.net., got %v", cfg.ns)
				}
				if !cfg.fall.Through("a.example.net.") || cfg.fall.Through("a.example.com.") {
					t.Errorf("Expected fallthrough for example.net only, got %v", cfg.fall.Zones)
				}
			},
		},
		{
			name:  "dsn_file",
			input: "dbrecords {\n dsn_file " + goodFile + "\n}",
			check: func(t *testing.T, cfg *config) {
				t.Helper()
				if cfg.dsn.Addr != "db:3306" || cfg.dsn.DBName != "records" {
					t.Errorf("Expected the DSN from the file, got addr %q database %q", cfg.dsn.Addr, cfg.dsn.DBName)
				}
			},
		},
		{name: "no dsn", input: "dbrecords", wantErr: "property 'dsn' or 'dsn_file' is required"},
		{name: "tls with two files", input: "dbrecords {\n dsn u:p@tcp(db)/r\n tls a.pem b.pem\n}", wantErr: "property 'tls' takes CACERT or CERT KEY CACERT, got 2 arguments"},
		{name: "tls with a missing CA", input: "dbrecords {\n dsn u:p@tcp(db)/r\n tls /nonexistent/ca.pem\n}", wantErr: "property 'tls': "},
		{name: "dsn with an unknown protocol", input: "dbrecords {\n dsn dbrecords:pw-tcp(127.0.0.1:3306)/dns\n}", wantErr: "property 'dsn': the DSN's protocol is not tcp or unix"},
		{name: "both dsn and dsn_file", input: "dbrecords {\n dsn u:p@tcp(db)/r\n dsn_file " + goodFile + "\n}", wantErr: "mutually exclusive"},
		{name: "empty dsn from unset env", input: "dbrecords {\n dsn\n}", wantErr: "property 'dsn' takes exactly one argument"},
		{name: "dsn without database", input: "dbrecords {\n dsn u:p@tcp(db:3306)/\n}", wantErr: "property 'dsn': the DSN names no database"},
		{name: "unparsable dsn", input: "dbrecords {\n dsn u:p@tcp(db:3306)\n}", wantErr: "property 'dsn': cannot parse the DSN"},
		{name: "missing dsn_file", input: "dbrecords {\n dsn_file " + filepath.Join(dir, "nope") + "\n}", wantErr: "property 'dsn_file': cannot read"},
		{name: "empty dsn_file", input: "dbrecords {\n dsn_file " + emptyFile + "\n}", wantErr: "property 'dsn_file': " + `"` + emptyFile + `" is empty`},
		{name: "dsn_file without path", input: "dbrecords {\n dsn_file\n}", wantErr: "property 'dsn_file' takes exactly one argument"},
		{name: "bad table", input: "dbrecords {\n dsn u:p@tcp(db)/r\n table dns-records\n}", wantErr: `property 'table': invalid table name "dns-records"`},
		{name: "bad refresh", input: "dbrecords {\n dsn u:p@tcp(db)/r\n refresh soon\n}", wantErr: `property 'refresh': invalid duration "soon"`},
		{name: "refresh too small", input: "dbrecords {\n dsn u:p@tcp(db)/r\n refresh 1ms\n}", wantErr: `property 'refresh': invalid duration "1ms"`},
		{name: "refresh two args", input: "dbrecords {\n dsn u:p@tcp(db)/r\n refresh 1s 2s\n}", wantErr: "property 'refresh' takes exactly one argument, got 2"},
		{
			name:  "reconcile off",
			input: "dbrecords {\n dsn u:p@tcp(db)/r\n reconcile 0\n}",
			check: func(t *testing.T, cfg *config) {
				t.Helper()
				if cfg.reconcile != 0 {
					t.Errorf("Expected reconcile 0 (never), got %s", cfg.reconcile)
				}
			},
		},
		{name: "reconcile too small", input: "dbrecords {\n dsn u:p@tcp(db)/r\n reconcile 10ms\n}", wantErr: `property 'reconcile': invalid duration "10ms" (want e.g. 1s, at least 1s, or 0 for never)`},
		{name: "reconcile without value", input: "dbrecords {\n dsn u:p@tcp(db)/r\n reconcile\n}", wantErr: "property 'reconcile' takes exactly one argument, got 0"},
		{name: "bad ttl", input: "dbrecords {\n dsn u:p@tcp(db)/r\n ttl -1\n}", wantErr: `property 'ttl': invalid TTL "-1"`},
		{name: "ttl too large", input: "dbrecords {\n dsn u:p@tcp(db)/r\n ttl 2147483648\n}", wantErr: `property 'ttl': invalid TTL "2147483648"`},
		{name: "bad negative_ttl", input: "dbrecords {\n dsn u:p@tcp(db)/r\n negative_ttl 1h\n}", wantErr: `property 'negative_ttl': invalid TTL "1h"`},
		{name: "ns without names", input: "dbrecords {\n dsn u:p@tcp(db)/r\n ns\n}", wantErr: "property 'ns' takes at least one name server name"},
		{name: "bad ns", input: "dbrecords {\n dsn u:p@tcp(db)/r\n ns bad!name\n}", wantErr: `property 'ns': invalid name server name "bad!name"`},
		{
			name:  "galera_nodes",
			input: "dbrecords {\n dsn u:p@tcp(db)/r\n galera_nodes 10.0.0.1:3306 [2001:db8::1]:3306\n}",
			check: func(t *testing.T, cfg *config) {
				if strings.Join(cfg.galeraNodes, " ") != "10.0.0.1:3306 [2001:db8::1]:3306" {
					t.Errorf("Expected the two nodes, got %v", cfg.galeraNodes)
				}
			},
		},
		{name: "bad galera_nodes", input: "dbrecords {\n dsn u:p@tcp(db)/r\n galera_nodes 10.0.0.1\n}", wantErr: `property 'galera_nodes': "10.0.0.1" is not HOST:PORT`},
		{name: "empty galera_nodes", input: "dbrecords {\n dsn u:p@tcp(db)/r\n galera_nodes\n}", wantErr: `property 'galera_nodes' takes one or more HOST:PORT`},
		{
			name:  "ixfr_journal",
			input: "dbrecords {\n dsn u:p@tcp(db)/r\n ixfr_journal 32MiB\n}",
			check: func(t *testing.T, cfg *config) {
				t.Helper()
				if cfg.journal != 32<<20 {
					t.Errorf("Expected a journal of 32 MiB, got %d bytes", cfg.journal)
				}
			},
		},
		{name: "ixfr_journal too small", input: "dbrecords {\n dsn u:p@tcp(db)/r\n ixfr_journal 1KiB\n}", wantErr: `property 'ixfr_journal': invalid size "1KiB" (want bytes, or e.g. 8MiB; at least 64KiB)`},
		{name: "ixfr_journal unit", input: "dbrecords {\n dsn u:p@tcp(db)/r\n ixfr_journal 8MB\n}", wantErr: `property 'ixfr_journal': invalid size "8MB"`},
		{name: "snapshot not a directory", input: "dbrecords {\n dsn u:p@tcp(db)/r\n snapshot /nonexistent/dir\n}", wantErr: `property 'snapshot': "/nonexistent/dir" is not a directory`},
		{name: "snapshot bad interval", input: "dbrecords {\n dsn u:p@tcp(db)/r\n snapshot / 10ms\n}", wantErr: `property 'snapshot': invalid interval "10ms" (want e.g. 30s, at least 1s)`},
		{name: "snapshot without dir", input: "dbrecords {\n dsn u:p@tcp(db)/r\n snapshot\n}", wantErr: "property 'snapshot' takes a directory and optionally an interval, got 0 arguments"},
		{
			name:  "snapshot",
			input: "dbrecords {\n dsn u:p@tcp(db)/r\n snapshot / 2m\n}",
			check: func(t *testing.T, cfg *config) {
				t.Helper()
				if cfg.snapshotDir != "/" || cfg.snapshotEvery != 2*time.Minute {
					t.Errorf("Expected snapshot / every 2m, got %q every %s", cfg.snapshotDir, cfg.snapshotEvery)
				}
			},
		},
		{name: "unknown property", input: "dbrecords {\n dsn u:p@tcp(db)/r\n refresh_interval 1s\n}", wantErr: "unknown property 'refresh_interval'"},
		{name: "twice", input: "dbrecords {\n dsn u:p@tcp(db)/r\n}\ndbrecords {\n dsn u:p@tcp(db)/r\n}", wantErr: "this plugin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.ServerBlockKeys = []string{"example.org."}
			cfg, err := parse(c)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Expected error containing %q, got none", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Expected error containing %q, got %q", tc.wantErr, err)
				}
				if tc.name != "twice" && !strings.Contains(err.Error(), "Testfile:") {
					t.Errorf("Expected the error to name the Corefile line, got %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expected no error, got %v", err)
			}
			tc.check(t, cfg)
		})
	}
}

// TestParseHidesPassword checks that no parse error repeats the DSN's password.
func TestParseHidesPassword(t *testing.T) {
	inputs := []string{
		"dbrecords {\n dsn u:hunter2@tcp(db:3306)\n}",
		"dbrecords {\n dsn u:hunter2@tcp(db:3306)/r?timeout=soon\n}",
		"dbrecords {\n dsn u:hunter2@tcp(db:3306)/r extra\n}",
		"dbrecords {\n dsn u:hunter2@tcp(db:3306)/\n}",
		"dbrecords {\n dsn u:hunter2@tcp(db:3306)/r\n dsn_file /nonexistent\n}",
		"dbrecords {\n dsn dbrecords:hunter2/dns\n}",
		"dbrecords {\n dsn dbrecords:hunter2-tcp(127.0.0.1:3306)/dns\n}",
		"dbrecords {\n dsn hunter2\n}",
	}
	for _, in := range inputs {
		c := caddy.NewTestController("dns", in)
		c.ServerBlockKeys = []string{"example.org."}
		_, err := parse(c)
		if err == nil {
			t.Fatalf("Expected an error for %q, got none", in)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Expected the password to be absent from the error, got %q", err)
		}
	}
}
