package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"
	"github.com/dbrecords/dbrecords/test/dnskey"

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

// docSecret stands for the TSIG secrets of the documented examples.
const docSecret = "ZG9jcy1leGFtcGxlLXNlY3JldC1mb3ItdGhlLXRlc3Rz"

// runnable turns a documented Corefile into one the tests can start: the DSN
// files (the reader's and an update block's writer's) and key paths are the
// test's, the TSIG keys the allow rules name are defined (in the secrets
// file, or for the secret lines, with docSecret), every server block listens
// on a free port, and the metrics, ready and health plugins on free
// loopback ports.
func runnable(t *testing.T, block, dsnFile, keyBase string) string {
	t.Helper()
	corefile := strings.ReplaceAll(block, "/var/run/secrets/dbrecords/writer-dsn", dsnFile)
	corefile = strings.ReplaceAll(corefile, "/var/run/secrets/dbrecords/dsn", dsnFile)
	corefile = regexp.MustCompile(`(?m)^(\s*secret \S+) BASE64\b`).ReplaceAllString(corefile, "${1} "+docSecret)
	if m := regexp.MustCompile(`(?m)^\s*secrets (\S+)`).FindStringSubmatch(corefile); m != nil {
		var conf strings.Builder
		for _, k := range regexp.MustCompile(`(?m)^\s*allow\s+(\S+)`).FindAllStringSubmatch(corefile, -1) {
			fmt.Fprintf(&conf, "key %q {\n\talgorithm hmac-sha256;\n\tsecret %q;\n};\n", k[1], docSecret)
		}
		path := filepath.Join(t.TempDir(), "keys.conf")
		if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		corefile = strings.ReplaceAll(corefile, m[1], path)
	}
	if keyBase != "" {
		corefile = regexp.MustCompile(`/etc/coredns/keys/K\S+`).ReplaceAllString(corefile, keyBase)
	}
	corefile = regexp.MustCompile(`(?m)^(\S[^{]*)\{`).ReplaceAllStringFunc(corefile, func(keys string) string {
		var out []string
		for k := range strings.FieldsSeq(strings.TrimSuffix(keys, "{")) {
			out = append(out, k+":{DNS}")
		}
		return strings.Join(out, " ") + " {"
	})
	// Documented NOTIFY targets are TEST-NET addresses; the test keeps to loopback.
	corefile = regexp.MustCompile(`\b192\.0\.2\.\d+\b`).ReplaceAllString(corefile, "127.0.0.1")
	corefile = regexp.MustCompile(`(?m)^(\s*)prometheus( :\d+)?$`).ReplaceAllString(corefile, "${1}prometheus {METRICS}")
	corefile = regexp.MustCompile(`(?m)^(\s*)ready( :\d+)?$`).ReplaceAllString(corefile, "${1}ready {READY}")
	return regexp.MustCompile(`(?m)^(\s*)health( :\d+)?( \{)?$`).ReplaceAllString(corefile, "${1}health 127.0.0.1:0$3")
}

// exampleDB returns a DSN file for a database whose table has one row,
// a.example.org A 192.0.2.1, as the documented examples are asked for.
func exampleDB(t *testing.T, table string) string {
	t.Helper()
	db, dsn := newDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dbsetup.ApplySchema(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	exec1(t, db, "INSERT INTO "+table+" (name, type, content) VALUES ('a.example.org', 'A', '192.0.2.1')")
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dsnFile
}

// askA waits until s answers a.example.org A in a way ok accepts.
func askA(t *testing.T, s *server, what string, ok func(*dns.Msg) bool) *dns.Msg {
	t.Helper()
	var resp *dns.Msg
	waitFor(t, 15*time.Second, what+" to answer", func() bool {
		m := new(dns.Msg)
		m.SetQuestion("a.example.org.", dns.TypeA)
		var err error
		resp, err = dns.Exchange(m, s.dns)
		return err == nil && ok(resp)
	})
	return resp
}

// TestDocsExamples starts every Corefile example of the README and the guides
// in docs/ with the real binary, against a table with one row, and asks each
// for that row: an example that no longer starts, or no longer serves, fails
// here.
func TestDocsExamples(t *testing.T) {
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../README.md"}, files...)
	dsnFile := exampleDB(t, "dns_records")
	keyBase, _, err := dnskey.Write(t.TempDir(), "example.org.", dns.ED25519, 257)
	if err != nil {
		t.Fatal(err)
	}

	started, updates := 0, 0
	for _, f := range files {
		for i, block := range corefileBlocks(t, f) {
			started++
			name := filepath.Base(f) + " example " + strconv.Itoa(i+1)
			s := startCorefile(t, runnable(t, block, dsnFile, keyBase))
			resp := askA(t, s, name, func(m *dns.Msg) bool { return m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 })
			if a, ok := resp.Answer[0].(*dns.A); !ok || a.A.String() != "192.0.2.1" {
				t.Errorf("Expected %s to answer a.example.org A 192.0.2.1, got %v", name, resp.Answer)
			}
			updates += docUpdates(t, s, name, block)
			s.stop()
		}
	}
	if started < 3 || updates < 3 {
		t.Errorf("Expected at least the 3 Corefile examples of the README and docs/ and 3 allow rules, found %d and %d", started, updates)
	}
}

// docUpdates sends, for each allow rule of a documented Corefile, an
// update that the rule permits (a TXT or an A at its first name), and
// checks that it is taken and served.
func docUpdates(t *testing.T, s *server, name, block string) int {
	t.Helper()
	rules := regexp.MustCompile(`(?m)^\s*allow\s+(\S+)\s+(\S+)((?:[ \t]+[^\s#]+)+)`).FindAllStringSubmatch(block, -1)
	for _, m := range rules {
		key, owner, types := m[1], strings.Replace(m[2], "*", "docs", 1), strings.Fields(m[3])
		data := "TXT docs-example"
		if !slices.Contains(types, "TXT") {
			data = "A 192.0.2.9"
		}
		if rcode, out := nsupdate(t, s, key, docSecret, "zone example.org\nupdate add "+owner+" 60 "+data); rcode != "NOERROR" {
			t.Errorf("Expected %s to take an update by %s of %s %s, got %s:\n%s", name, key, owner, data, rcode, out)
			continue
		}
		if r := query(t, s.dns, "udp", owner+".", dns.StringToType[strings.Fields(data)[0]]); len(r.Answer) != 1 {
			t.Errorf("Expected %s to serve the update at %s, got %v", name, owner, r)
		}
	}
	return len(rules)
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
	dsnFile := exampleDB(t, "hosts_v2")
	t.Setenv("DBRECORDS_PASSWORD", "not-the-password")
	for i, block := range blocks {
		s := startCorefile(t, runnable(t, block, dsnFile, ""))
		resp := askA(t, s, "example "+strconv.Itoa(i+1), func(m *dns.Msg) bool { return i == 0 || m.Rcode == dns.RcodeSuccess })
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
