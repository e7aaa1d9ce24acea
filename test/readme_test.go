package test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"

	"github.com/miekg/dns"
)

// corefileBlocks returns the "~~~ corefile" examples of a README.
func corefileBlocks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)~~~ corefile\n(.*?)~~~")
	matches := re.FindAllStringSubmatch(string(b), -1)
	blocks := make([]string, 0, len(matches))
	for _, m := range matches {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// TestReadmeExamples starts every Corefile example of the plugin README with
// the real binary. The DSN file the second example reads is written here and
// points at a database with its table, so that example is queried too.
func TestReadmeExamples(t *testing.T) {
	blocks := corefileBlocks(t, "../plugin/dbrecords/README.md")
	if len(blocks) != 2 {
		t.Fatalf("Expected 2 corefile examples in the plugin README, got %d", len(blocks))
	}

	// Example 2: table hosts_v2, DSN from a file, fallthrough example.net to whoami.
	db, dsn := newDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dbsetup.ApplySchema(ctx, db, "hosts_v2"); err != nil {
		t.Fatal(err)
	}
	exec1(t, db, "INSERT INTO hosts_v2 (name, type, content) VALUES ('a.example.org', 'A', '192.0.2.1')")
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for i, block := range blocks {
		corefile := strings.ReplaceAll(block, "/var/run/secrets/dbrecords/dsn", dsnFile)
		corefile = regexp.MustCompile(`(?m)^(\S[^{]*)\{`).ReplaceAllStringFunc(corefile, func(keys string) string {
			var out []string
			for k := range strings.FieldsSeq(strings.TrimSuffix(keys, "{")) {
				out = append(out, k+":{DNS}")
			}
			return strings.Join(out, " ") + " {"
		})
		corefile = strings.NewReplacer("prometheus\n", "prometheus {METRICS}\n", "ready\n", "ready {READY}\n", "health\n", "health 127.0.0.1:0\n").Replace(corefile)
		t.Setenv("DBRECORDS_PASSWORD", "not-the-password")
		s := startCorefile(t, corefile)

		var resp *dns.Msg
		waitFor(t, 15*time.Second, "example "+string(rune('1'+i))+" to answer", func() bool {
			m := new(dns.Msg)
			m.SetQuestion("a.example.org.", dns.TypeA)
			var err error
			resp, err = dns.Exchange(m, s.dns)
			return err == nil && (i == 0 || resp.Rcode == dns.RcodeSuccess)
		})
		if i == 1 {
			if len(resp.Answer) != 1 {
				t.Errorf("Expected example 2 to serve a.example.org from hosts_v2, got %v", resp.Answer)
			}
			if r := query(t, s.dns, "udp", "nope.example.net.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Extra) == 0 {
				t.Errorf("Expected example 2 to fall through to whoami for example.net, got %s", dns.RcodeToString[r.Rcode])
			}
		}
		s.stop()
	}
}
