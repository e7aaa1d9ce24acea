package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// knot is a Knot DNS secondary (Debian package knot, which `make test`
// installs) for example.org, following a primary.
type knot struct {
	addr string
	out  *syncBuffer
}

// knotConfig is the Knot secondary of docs/secondaries.md for example.org (its "~~~ knot"
// block), pointed at primary, with the TSIG key when key, and allowed to be
// asked for AXFR by the test.
func knotConfig(t *testing.T, dir string, port int, primary string, key bool) string {
	t.Helper()
	b, err := os.ReadFile("../docs/secondaries.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)~~~ knot\n(.*?)~~~").FindSubmatch(b)
	if m == nil {
		t.Fatal("Expected a ~~~ knot example in docs/secondaries.md, got none")
	}
	example := string(m[1])
	if !strings.Contains(example, "secret: "+tsigSecret) || !strings.Contains(example, "192.0.2.10@53") {
		t.Fatalf("Expected the Knot example of docs/secondaries.md to use the test key and primary 192.0.2.10@53, got\n%s", example)
	}
	host, pport, _ := strings.Cut(primary, ":")
	example = strings.NewReplacer("192.0.2.10@53", host+"@"+pport, "192.0.2.10", host, "action: notify", "action: [notify, transfer]").Replace(example)
	if !key {
		example = regexp.MustCompile(`(?s)^key:.*?\nremote:`).ReplaceAllString(example, "remote:")
		example = strings.Replace(example, "    key: xfr-key\n", "", 1)
	}
	return fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: 127.0.0.1@%[2]d
database:
    storage: "%[1]s"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "%[1]s"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
`, dir, port) + example
}

func startKnot(t *testing.T, port int, primary string, key bool) *knot {
	t.Helper()
	bin := daemonPath(t, "knotd", "knot")
	dir := t.TempDir()
	conf := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(conf, []byte(knotConfig(t, dir, port, primary, key)), 0o600); err != nil {
		t.Fatal(err)
	}
	k := &knot{addr: fmt.Sprintf("127.0.0.1:%d", port), out: &syncBuffer{}}
	cmd := exec.Command(bin, "-c", conf)
	daemon(t, "knotd", cmd, k.out)
	return k
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// zoneContent returns the sorted RRs of an AXFR of example.org from addr,
// without the closing SOA.
func zoneContent(t *testing.T, addr, key string) []string {
	t.Helper()
	rrs, err := xfr(t, addr, "example.org.", 0, key)
	if err != nil || len(rrs) < 2 {
		t.Fatalf("Expected an AXFR of example.org from %s, got %v, %v", addr, texts(rrs), err)
	}
	out := texts(rrs[:len(rrs)-1])
	sort.Strings(out)
	return out
}

// TestKnotSecondary: Knot, as a secondary that follows NOTIFY and asks for
// IXFR, answers every change within 3 s of its commit, gets the changes as
// incremental transfers (never falling back to AXFR), and ends with exactly
// the primary's zone; with and without TSIG.
func TestKnotSecondary(t *testing.T) {
	for _, key := range []bool{false, true} {
		t.Run("tsig="+strconv.FormatBool(key), func(t *testing.T) {
			db, dsn := newDB(t)
			insertRows(t, db, [][4]any{
				{"www.example.org", "A", "192.0.2.1", nil},
				{"*.apps.example.org", "A", "192.0.2.7", nil},
			})
			knotPort := freePort(t)
			block := transferBlock(dsn, []string{fmt.Sprintf("127.0.0.1:%d", knotPort)})
			signer := ""
			if key {
				signer = tsigName
				block = strings.Replace(block, "\ttransfer example.org", "\ttsig {\n\t\tsecret "+tsigName+" "+tsigSecret+"\n\t\trequire AXFR IXFR\n\t}\n\ttransfer example.org", 1)
			}
			s := startCorefile(t, block)
			s.waitReady(t)
			k := startKnot(t, knotPort, s.dns, key)
			waitFor(t, 10*time.Second, "Knot to load the zone", func() bool {
				got, _ := lookupA(k.addr, "www.example.org.")
				return got == "192.0.2.1"
			})

			steps := []struct{ sql, name, want string }{
				{"INSERT INTO dns_records (name, type, content) VALUES ('new.example.org', 'A', '192.0.2.10')", "new.example.org.", "192.0.2.10"},
				{"UPDATE dns_records SET content = '192.0.2.2' WHERE name = 'www.example.org'", "www.example.org.", "192.0.2.2"},
				{"INSERT INTO dns_records (name, type, content) VALUES ('new.example.org', 'A', '192.0.2.11')", "new.example.org.", "192.0.2.10,192.0.2.11"},
				{"DELETE FROM dns_records WHERE name = 'www.example.org'", "www.example.org.", "NXDOMAIN"},
				{"UPDATE dns_records SET ttl = 30 WHERE name = 'new.example.org'", "", ""},
				{"INSERT INTO dns_records (name, type, content) VALUES ('x.apps.example.org', 'A', '192.0.2.12')", "x.apps.example.org.", "192.0.2.12"},
			}
			for _, st := range steps {
				exec1(t, db, st.sql)
				if st.name == "" {
					continue
				}
				d := waitFor(t, 3*time.Second, "Knot to answer "+st.want+" for "+st.name, func() bool {
					return answerAt(t, k.addr, st.name) == st.want
				})
				t.Logf("Knot answered %s for %s %s after the commit", st.want, st.name, d.Round(time.Millisecond))
			}
			want := zoneContent(t, s.dns, signer)
			waitFor(t, 3*time.Second, "Knot to hold the primary's zone", func() bool {
				return strings.Join(zoneContent(t, k.addr, ""), "\n") == strings.Join(want, "\n")
			})
			if out := k.out.String(); strings.Contains(out, "fallback to AXFR") || strings.Contains(out, "error: [example.org.] IXFR") {
				t.Errorf("Expected every IXFR to apply, Knot says:\n%s", out)
			}
			var ixfr float64
			for _, l := range s.metricLines(t, `coredns_dbrecords_transfers_total{kind="ixfr",zone="example.org."}`) {
				fmt.Sscan(strings.Fields(l)[1], &ixfr)
			}
			if ixfr < 3 {
				t.Errorf("Expected Knot's transfers to be incremental, got %v IXFRs (%v)", ixfr, s.metricLines(t, "coredns_dbrecords_transfers_total"))
			}
		})
	}
}

// TestCoreDNSSecondary: CoreDNS's own secondary plugin (AXFR) serves the zone.
func TestCoreDNSSecondary(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{
		{"www.example.org", "A", "192.0.2.1", nil},
		{"*.apps.example.org", "A", "192.0.2.7", nil},
	})
	s := startCorefile(t, transferBlock(dsn, nil))
	s.waitReady(t)
	sec := startCorefile(t, `example.org:{DNS} {
	secondary {
		transfer from `+s.dns+`
	}
	prometheus {METRICS}
	ready {READY}
}
`)
	waitFor(t, 10*time.Second, "the secondary to serve the zone", func() bool {
		got, _ := lookupA(sec.dns, "www.example.org.")
		return got == "192.0.2.1"
	})
	for name, want := range map[string]string{"www.example.org.": "192.0.2.1", "x.apps.example.org.": "192.0.2.7", "nope.example.org.": "NXDOMAIN"} {
		if got := answerAt(t, sec.dns, name); got != want {
			t.Errorf("Expected the secondary to answer %s for %s, got %s", want, name, got)
		}
	}
}

// daemon starts cmd, its output collected in out, and stops it by SIGTERM
// (SIGKILL after 10 s) when t ends, logging the output if t failed.
func daemon(t *testing.T, name string, cmd *exec.Cmd, out *syncBuffer) {
	t.Helper()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("Expected %s to start, got %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

// daemonPath returns the path of a daemon from a Debian package (in PATH or
// /usr/sbin), which `make test` installs.
func daemonPath(t *testing.T, name, pkg string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if bin = "/usr/sbin/" + name; !fileExists(bin) {
			t.Fatalf("Expected %s (Debian package %s, which `make test` installs), got %v", name, pkg, err)
		}
	}
	return bin
}

// TestKnotStaysOnIXFRAcrossReconciles: a reconcile that finds nothing new
// changes neither the serial nor the journal, so a Knot secondary keeps
// transferring incrementally; one that finds a change the log never told
// (a TRUNCATE) publishes it under a new serial as one IXFR step.
func TestKnotStaysOnIXFRAcrossReconciles(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	knotPort := freePort(t)
	s := startCorefile(t, transferBlock(dsn, []string{fmt.Sprintf("127.0.0.1:%d", knotPort)}, "reconcile 1s"))
	s.waitReady(t)
	k := startKnot(t, knotPort, s.dns, false)
	waitFor(t, 10*time.Second, "Knot to load the zone", func() bool {
		got, _ := lookupA(k.addr, "www.example.org.")
		return got == "192.0.2.1"
	})
	// The first change after a start is sent whole (the journal cannot
	// tell what else was served at the first serial); from then on, IXFR.
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('first.example.org', 'A', '192.0.2.9')")
	waitFor(t, 5*time.Second, "Knot to serve the first change", func() bool { return answerAt(t, k.addr, "first.example.org.") == "192.0.2.9" })
	transfers := func() (axfr, full, ixfr float64) {
		c := func(kind string) float64 {
			return s.counter(t, "coredns_dbrecords_transfers_total", `kind="`+kind+`"`, `zone="example.org."`)
		}
		return c("axfr"), c("ixfr_full"), c("ixfr")
	}
	axfr0, full0, ixfr0 := transfers()
	serial := func() uint32 { return query(t, s.dns, "udp", "example.org.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial }
	before := serial()
	reconciles := s.counter(t, "coredns_dbrecords_full_reads_total", `reason="reconcile"`)
	waitFor(t, 10*time.Second, "two reconciles", func() bool {
		return s.counter(t, "coredns_dbrecords_full_reads_total", `reason="reconcile"`) >= reconciles+2
	})
	if got := serial(); got != before {
		t.Errorf("Expected reconciles that find nothing to keep serial %d, got %d", before, got)
	}
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('new.example.org', 'A', '192.0.2.10')")
	waitFor(t, 5*time.Second, "Knot to serve the new name", func() bool { return answerAt(t, k.addr, "new.example.org.") == "192.0.2.10" })

	// Invisible to the change log: found by the next reconcile.
	exec1(t, db, "TRUNCATE TABLE dns_records")
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('www.example.org', 'A', '192.0.2.1')")
	waitFor(t, 10*time.Second, "Knot to lose new.example.org after a reconcile", func() bool {
		return answerAt(t, k.addr, "new.example.org.") == "NXDOMAIN" && answerAt(t, k.addr, "first.example.org.") == "NXDOMAIN"
	})
	axfr, full, ixfr := transfers()
	if axfr != axfr0 || full != full0 || ixfr < ixfr0+2 {
		t.Errorf("Expected only IXFRs after the reconciles, got %v more AXFRs, %v more IXFRs answered in full, %v more IXFRs", axfr-axfr0, full-full0, ixfr-ixfr0)
	}
}
