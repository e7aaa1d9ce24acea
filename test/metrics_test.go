package test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMetrics scrapes the prometheus plugin for every dbrecords metric.
func TestMetrics(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{
		{"a.example.org", "A", "192.0.2.1", nil},
		{"a.example.org", "AAAA", "2001:db8::1", nil},
		{"b.example.net", "A", "192.0.2.2", nil},
		{"c.example.org", "A", "not-an-address", nil},
	})
	before := time.Now().Unix()
	s := start(t, dsn)
	labels := `{zones="example.org. example.net."}`

	want := map[string]string{
		"coredns_dbrecords_records" + labels:                                               "3",
		"coredns_dbrecords_invalid_rows" + labels:                                          "1",
		`coredns_dbrecords_records_by_type{type="A",zones="example.org. example.net."}`:    "2",
		`coredns_dbrecords_records_by_type{type="AAAA",zones="example.org. example.net."}`: "1",
		`coredns_dbrecords_records_by_type{type="TXT",zones="example.org. example.net."}`:  "0",
		"coredns_dbrecords_sync_errors_total" + labels:                                     "0",
	}
	for metric, value := range want {
		lines := s.metricLines(t, metric+" ")
		if len(lines) != 1 || lines[0] != metric+" "+value {
			t.Errorf("Expected %s %s, got %v", metric, value, lines)
		}
	}
	lines := s.metricLines(t, "coredns_dbrecords_last_sync_timestamp_seconds"+labels+" ")
	if len(lines) != 1 {
		t.Fatalf("Expected one last_sync_timestamp_seconds line, got %v", lines)
	}
	f := strings.Fields(lines[0])
	ts, err := strconv.ParseFloat(f[len(f)-1], 64)
	if err != nil || int64(ts) < before {
		t.Errorf("Expected a last sync time after %d, got %v", before, lines)
	}
	for _, kind := range []string{"full", "incremental"} {
		count := fmt.Sprintf(`coredns_dbrecords_sync_duration_seconds_count{kind="%s",zones="example.org. example.net."}`, kind)
		waitFor(t, 5*time.Second, "a "+kind+" sync in the histogram", func() bool {
			l := s.metricLines(t, count+" ")
			return len(l) == 1 && !strings.HasSuffix(l[0], " 0")
		})
	}

	// The gauges follow changes.
	exec1(t, db, "DELETE FROM dns_records WHERE name = 'c.example.org'")
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('d.example.org', 'A', '192.0.2.4')")
	waitFor(t, 5*time.Second, "records 4 and invalid_rows 0", func() bool {
		r := s.metricLines(t, "coredns_dbrecords_records"+labels+" ")
		i := s.metricLines(t, "coredns_dbrecords_invalid_rows"+labels+" ")
		return len(r) == 1 && strings.HasSuffix(r[0], " 4") && len(i) == 1 && strings.HasSuffix(i[0], " 0")
	})
	if resp := query(t, s.dns, "udp", "d.example.org.", dns.TypeA); len(resp.Answer) != 1 {
		t.Errorf("Expected d.example.org to be served, got %v", resp.Answer)
	}
}
