package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dnskey"
	"github.com/miekg/dns"
)

// snapshotFile is the snapshot file a replica of serverBlock wrote in dir
// (its name holds a hash of the database and zones).
func snapshotFile(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "dns_records-*.snapshot"))
	if len(files) != 1 {
		t.Fatalf("Expected one snapshot file in %s, got %v", dir, files)
	}
	return files[0]
}

// TestWarmRestartDatabaseDown: a replica with a snapshot file, restarted
// while the database is unreachable, is ready at once and serves what it
// had; when the database returns it catches up from the change log with
// what was written meanwhile.
func TestWarmRestartDatabaseDown(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{
		{"www.example.org", "A", "192.0.2.1", nil},
		{"old.example.org", "A", "192.0.2.2", nil},
		{"example.org", "TXT", "v=spf1 -all", nil},
	})
	p := newProxy(t)
	p.up(t)
	dir := t.TempDir()
	first := start(t, p.dsn(t, dsn), "snapshot "+dir+" 1s")
	insertRows(t, db, [][4]any{{"new.example.org", "A", "192.0.2.3", nil}})
	waitFor(t, 5*time.Second, "new.example.org served", func() bool { return answerA(t, first, "new.example.org.") == "192.0.2.3" })
	first.stop()         // writes the file at shutdown
	snapshotFile(t, dir) // written at shutdown

	p.down()
	started := time.Now()
	s := startCorefile(t, serverBlock(p.dsn(t, dsn), "snapshot "+dir+" 1s"))
	s.waitReady(t)
	t.Logf("ready from the snapshot file %s after the start, the database down", time.Since(started).Round(time.Millisecond))
	for name, want := range map[string]string{"www.example.org.": "192.0.2.1", "old.example.org.": "192.0.2.2", "new.example.org.": "192.0.2.3"} {
		if got := answerA(t, s, name); got != want {
			t.Errorf("Expected %s %s from the snapshot file, got %s", name, want, got)
		}
	}
	if got := answers(t, s, "example.org.", dns.TypeTXT); len(got) != 1 {
		t.Errorf("Expected the apex TXT from the snapshot file, got %q", got)
	}
	if !strings.Contains(s.out.String(), "from snapshot file") {
		t.Errorf("Expected the start from the file logged, got:\n%s", s.out.String())
	}
	// The outage is reported while the file is served.
	waitFor(t, 10*time.Second, "sync errors counted", func() bool {
		return len(s.metricLines(t, `coredns_dbrecords_sync_errors_total{zones="example.org. example.net."} 0`)) == 0
	})

	exec1(t, db, "DELETE FROM dns_records WHERE name = 'old.example.org'")
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.9' WHERE name = 'www.example.org'")
	insertRows(t, db, [][4]any{{"later.example.org", "A", "192.0.2.4", nil}})
	p.up(t)
	waitFor(t, 20*time.Second, "the changes made during the outage", func() bool {
		return answerA(t, s, "www.example.org.") == "192.0.2.9" && answerA(t, s, "later.example.org.") == "192.0.2.4" &&
			query(t, s.dns, "udp", "old.example.org.", dns.TypeA).Rcode == dns.RcodeNameError
	})
	if got := s.metricLines(t, `coredns_dbrecords_full_reads_total{reason="startup"`); len(got) != 0 {
		t.Errorf("Expected no full read after a start from the file, got %q", got)
	}
}

// TestSnapshotFileNeverServedDamaged: a damaged, truncated or foreign
// snapshot file is ignored with a log line: with the database down the
// replica is not ready and answers SERVFAIL, never the file's data; with it
// up the replica reads the table.
func TestSnapshotFileNeverServedDamaged(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	dir := t.TempDir()
	p := newProxy(t) // the file is for this address: up for the first start, then down
	p.up(t)
	first := start(t, p.dsn(t, dsn), "snapshot "+dir+" 1s")
	first.stop()
	p.down()
	path := snapshotFile(t, dir)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := []byte(strings.Clone(string(good)))
	damaged[len(damaged)/2] ^= 0x40
	for _, c := range []struct {
		name  string
		file  []byte
		extra []string
		why   string
	}{
		{"damaged", damaged, nil, "damaged"},
		{"truncated", good[:len(good)*2/3], nil, "damaged or truncated"},
		{"other ttl", good, []string{"ttl 300"}, "another ttl"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, c.file, 0o600); err != nil {
				t.Fatal(err)
			}
			s := startCorefile(t, serverBlock(p.dsn(t, dsn), append([]string{"snapshot " + dir + " 1s"}, c.extra...)...))
			waitFor(t, 10*time.Second, "the file ignored", func() bool { return strings.Contains(s.out.String(), "Ignoring snapshot file") })
			if !strings.Contains(s.out.String(), c.why) {
				t.Errorf("Expected the log to say %q, got:\n%s", c.why, s.out.String())
			}
			var r *dns.Msg
			waitFor(t, 15*time.Second, "the replica listening", func() bool {
				m := new(dns.Msg)
				m.SetQuestion("www.example.org.", dns.TypeA)
				var err error
				r, err = dns.Exchange(m, s.dns)
				return err == nil
			})
			if r.Rcode != dns.RcodeServerFailure {
				t.Errorf("Expected SERVFAIL, not the file's data, got %v", r)
			}
			if st := s.readyStatus(); st == 200 {
				t.Errorf("Expected the replica not ready without data, got %d", st)
			}
			s.stop()
		})
	}
	// With the database up, a damaged file costs nothing but the read.
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	p.up(t)
	s := start(t, p.dsn(t, dsn), "snapshot "+dir+" 1s")
	if got := answerA(t, s, "www.example.org."); got != "192.0.2.1" {
		t.Errorf("Expected the table's data, got %s", got)
	}
}

// TestWarmRestartSigned: a signed replica restarted from its snapshot file
// with the database down serves answers that validate (delv, with the key
// as the trust anchor), without signing anything again; and it catches up,
// signing what changed, when the database returns.
func TestWarmRestartSigned(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}, {"*.wild.example.org", "A", "192.0.2.5", nil}})
	dir := t.TempDir()
	base, key := writeKey(t, dir, "example.org.", dns.ED25519)
	anchors := filepath.Join(dir, "anchors.conf")
	if err := os.WriteFile(anchors, []byte(dnskey.Anchor(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newProxy(t)
	p.up(t)
	extra := []string{"key file " + base, "snapshot " + dir + " 1s"}
	first := start(t, p.dsn(t, dsn), extra...)
	first.stop()
	p.down()
	s := start(t, p.dsn(t, dsn), extra...)
	for _, q := range []struct{ name, qtype, want string }{
		{"www.example.org", "A", "192.0.2.1"},
		{"host.wild.example.org", "A", "192.0.2.5"},
		{"nope.example.org", "A", "negative response, fully validated"},
		{"example.org", "DNSKEY", key.PublicKey[:20]},
	} {
		checkDelv(t, s, anchors, q.name, q.qtype, q.want)
	}
	insertRows(t, db, [][4]any{{"new.example.org", "A", "192.0.2.7", nil}})
	p.up(t)
	waitFor(t, 20*time.Second, "the new name after the outage", func() bool { return answerA(t, s, "new.example.org.") == "192.0.2.7" })
	checkDelv(t, s, anchors, "new.example.org", "A", "192.0.2.7")
}
