package test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/schema"
	"github.com/dbrecords/dbrecords/test/dbsetup"

	"github.com/go-sql-driver/mysql"
	"github.com/miekg/dns"
)

// runAdmin runs the admin command with DBRECORDS_DSN=dsn and returns its
// output and exit code.
func runAdmin(t *testing.T, dsn string, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(admin, args...)
	cmd.Env = append(os.Environ(), "DBRECORDS_DSN="+dsn)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("Expected the admin command to run, got %v", err)
	}
	return o.String(), e.String(), code
}

// emptyDB creates a database without the schema, and an account with a
// password that may use it; it returns a handle and the account's DSN.
func emptyDB(t *testing.T, password string) (*sql.DB, string) {
	t.Helper()
	db, _ := newDB(t) // a database of its own, with a name unique to the test
	var name string
	if err := db.QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	empty := name + "_e"
	exec1(t, db, "CREATE DATABASE "+empty)
	t.Cleanup(func() { db.Exec("DROP DATABASE " + empty) })
	user := fmt.Sprintf("adm%d", len(t.Name())+os.Getpid()%10000)
	exec1(t, db, "CREATE USER IF NOT EXISTS '"+user+"'@'%' IDENTIFIED BY '"+password+"'")
	exec1(t, db, "GRANT ALL ON "+empty+".* TO '"+user+"'@'%'")
	t.Cleanup(func() { db.Exec("DROP USER '" + user + "'@'%'") })
	dsn, err := dbsetup.WithDB(dbsetup.ServerDSN(), empty)
	if err != nil {
		t.Fatal(err)
	}
	dsn = strings.Replace(dsn, "root@", user+":"+password+"@", 1)
	edb, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { edb.Close() })
	return edb, dsn
}

// TestAdminSchemaApply: schema apply creates a working schema for any
// table name, can run again, upgrades the first schema of dbrecords in
// place keeping its rows, prints the grants, and never prints the password.
func TestAdminSchemaApply(t *testing.T) {
	const password = "S3cret-Adm1n-pw"
	db, dsn := emptyDB(t, password)
	for range 2 {
		out, errOut, code := runAdmin(t, dsn, nil, "schema", "apply", "--table", "hosts_x")
		if code != 0 || !strings.Contains(out, "GRANT SELECT ON") || !strings.Contains(out, "`hosts_x_changes`") || !strings.Contains(out, "GRANT PROCESS ON *.*") || !strings.Contains(out, "`hosts_x_update_locks` TO WRITER") {
			t.Fatalf("Expected schema apply to succeed and print the grants, got %d:\n%s%s", code, out, errOut)
		}
		if strings.Contains(out+errOut, password) {
			t.Errorf("Expected no password in the output, got:\n%s%s", out, errOut)
		}
	}
	exec1(t, db, "INSERT INTO hosts_x (name, type, content) VALUES ('a.example.org', 'A', '192.0.2.1')")
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM hosts_x_changes WHERE name = 'a.example.org'").Scan(&n); err != nil || n != 1 {
		t.Errorf("Expected the trigger to log the insert, got %d, %v", n, err)
	}

	// The first schema, with a row, upgraded in place.
	for _, stmt := range schema.Statements(schemaV1(t)) {
		exec1(t, db, stmt)
	}
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('old.example.org', 'A', '192.0.2.2')")
	if out, errOut, code := runAdmin(t, dsn, nil, "schema", "apply"); code != 0 {
		t.Fatalf("Expected the upgrade to succeed, got %d:\n%s%s", code, out, errOut)
	}
	var floor int
	if err := db.QueryRow("SELECT pruned_below FROM dns_records_prune WHERE id = 1").Scan(&floor); err != nil {
		t.Errorf("Expected the upgrade to add the prune floor, got %v", err)
	}
	if _, err := db.Exec("CALL dns_records_changes_prune()"); err != nil {
		t.Errorf("Expected the upgrade to add the prune procedure, got %v", err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM dns_records WHERE name = 'old.example.org'").Scan(&n); err != nil || n != 1 {
		t.Errorf("Expected the upgrade to keep the rows, got %d, %v", n, err)
	}
	// content, once VARCHAR(45) for addresses, is wide enough for every type.
	var width int
	if err := db.QueryRow("SELECT CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dns_records' AND COLUMN_NAME = 'content'").Scan(&width); err != nil || width != 4096 {
		t.Errorf("Expected the upgrade to widen content to 4096 characters, got %d, %v", width, err)
	}
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('long.example.org', 'TXT', ?)", strings.Repeat("k", 4000))

	// Errors are clear and keep the password out.
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName += "_nope"
	out, errOut, code := runAdmin(t, cfg.FormatDSN(), nil, "schema", "apply")
	if code != 2 || strings.Contains(out+errOut, password) || !strings.Contains(errOut, "dbrecords: ") {
		t.Errorf("Expected a failure without the password, got %d:\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runAdmin(t, dsn, nil, "schema", "apply", "--table", "bad-name"); code != 2 || !strings.Contains(errOut, `invalid table name "bad-name"`) {
		t.Errorf("Expected a bad table name refused, got %d: %s", code, errOut)
	}
	if _, errOut, code := runAdmin(t, "", nil, "export"); code != 2 || !strings.Contains(errOut, "no DSN") {
		t.Errorf("Expected a missing DSN reported, got %d: %s", code, errOut)
	}
}

// zoneRRs returns the RRs of a zone file that dbrecords serves from rows
// (all but the SOA and types it does not serve), as sorted text.
func zoneRRs(t *testing.T, text string) []string {
	t.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), "", "")
	var out []string
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if t := rr.Header().Rrtype; t != dns.TypeSOA && t != dns.TypeHINFO {
			out = append(out, strings.ToLower(strings.Join(strings.Fields(rr.String()), " ")))
		}
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("Expected a zone file, got %v in:\n%s", err, text)
	}
	sort.Strings(out)
	return out
}

// TestAdminImportExport: import loads a zone file's records of every served
// type and reports the rest; export gives back the same records, and exporting what
// it exported and imported again gives the same file; a CSV loads too.
func TestAdminImportExport(t *testing.T) {
	_, dsn := newDB(t)
	zone, err := os.ReadFile("testdata/import.zone")
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runAdmin(t, dsn, nil, "import", "testdata/import.zone")
	if code != 0 || !strings.Contains(errOut, "Imported 18 rows for 13 names") || !strings.Contains(errOut, "Skipped 1 HINFO, 1 SOA:") {
		t.Fatalf("Expected 18 rows imported and HINFO and SOA reported, got %d:\n%s", code, errOut)
	}
	exported, errOut, code := runAdmin(t, dsn, nil, "export", "--zone", "example.org")
	if code != 0 {
		t.Fatalf("Expected export to succeed, got %d: %s", code, errOut)
	}
	if got, want := zoneRRs(t, exported), zoneRRs(t, string(zone)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Expected export to give back the zone's records\n%s\ngot\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	// Importing again replaces each name's rows rather than adding to them.
	if _, errOut, code := runAdmin(t, dsn, []byte(exported), "import", "-"); code != 0 {
		t.Fatalf("Expected the export to import, got %d: %s", code, errOut)
	}
	if again, _, _ := runAdmin(t, dsn, nil, "export", "--zone", "example.org"); again != exported {
		t.Errorf("Expected import of an export to change nothing, got\n%s\nafter\n%s", again, exported)
	}

	csvFile := filepath.Join(t.TempDir(), "records.csv")
	csv := "name,type,content,ttl\nc1.example.org,A,192.0.2.31,\nc1.example.org,aaaa,2001:DB8::31,600\nc2.example.org,MX,10 x.example.org,\nc3.example.org,HINFO,cpu os,\n"
	if err := os.WriteFile(csvFile, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runAdmin(t, dsn, nil, "import", csvFile); code != 0 || !strings.Contains(errOut, "Imported 3 rows for 2 names") || !strings.Contains(errOut, "Skipped 1 HINFO") {
		t.Fatalf("Expected the CSV imported, got %d: %s", code, errOut)
	}
	out, _, _ := runAdmin(t, dsn, nil, "export")
	for _, want := range []string{"c1.example.org.\t\tIN\tA\t192.0.2.31", "c1.example.org.\t600\tIN\tAAAA\t2001:db8::31", "c2.example.org.\t\tIN\tMX\t10 x.example.org."} {
		if !strings.Contains(out, want) {
			t.Errorf("Expected the export to hold %q (a NULL ttl without one), got:\n%s", want, out)
		}
	}
	// CSV export keeps NULL ttls, IPv4-mapped AAAA survive a zone file, and
	// an import replaces rows stored with a trailing dot too.
	db, _ := sql.Open("mysql", dsn)
	defer db.Close()
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('dot.example.org.', 'A', '192.0.2.41')")
	zoneIn := "dot.example.org. 300 IN A 192.0.2.42\nmapped.example.org. 300 IN AAAA ::ffff:192.0.2.43\n"
	if _, errOut, code := runAdmin(t, dsn, []byte(zoneIn), "import", "-"); code != 0 {
		t.Fatalf("Expected the zone to import, got %d: %s", code, errOut)
	}
	csvOut, _, _ := runAdmin(t, dsn, nil, "export", "--format", "csv")
	for _, want := range []string{"c1.example.org.,A,192.0.2.31,\n", "dot.example.org.,A,192.0.2.42,300\n", "mapped.example.org.,AAAA,::ffff:192.0.2.43,300\n"} {
		if !strings.Contains(csvOut, want) {
			t.Errorf("Expected the CSV export to hold %q, got:\n%s", want, csvOut)
		}
	}
	if strings.Contains(csvOut, "192.0.2.41") {
		t.Errorf("Expected the import to replace the row stored with a trailing dot, got:\n%s", csvOut)
	}
	if _, errOut, code := runAdmin(t, dsn, []byte("name,type,content\nx.example.org,A,2001:db8::1\n"), "import", "--format", "csv", "-"); code != 2 || !strings.Contains(errOut, "is not an A address") {
		t.Errorf("Expected a bad CSV row refused with its line, got %d: %s", code, errOut)
	}
	if _, errOut, code := runAdmin(t, dsn, []byte("name,type,content\nx.example.org,MX,mail.example.org\n"), "import", "--format", "csv", "-"); code != 2 || !strings.Contains(errOut, "CSV line 2: MX content") {
		t.Errorf("Expected an MX without a preference refused with its line, got %d: %s", code, errOut)
	}
	// A zone file for customer.net that also names another zone changes
	// nothing, lists the stray name and fails; --allow-outside loads it.
	stray := "$ORIGIN customer.net.\nwww 300 IN A 203.0.113.1\nwww.example.org. 300 IN A 203.0.113.66\n"
	_, errOut, code = runAdmin(t, dsn, []byte(stray), "import", "--origin", "customer.net", "-")
	if code == 0 || !strings.Contains(errOut, "www.example.org") || !strings.Contains(errOut, "nothing was imported") {
		t.Errorf("Expected names outside --origin refused, got %d: %s", code, errOut)
	}
	if out, _, _ := runAdmin(t, dsn, nil, "export", "--format", "csv"); strings.Contains(out, "203.0.113.") {
		t.Errorf("Expected nothing imported from the refused file, got:\n%s", out)
	}
	if _, errOut, code := runAdmin(t, dsn, []byte(stray), "import", "--origin", "customer.net", "--allow-outside", "-"); code != 0 {
		t.Errorf("Expected --allow-outside to load both names, got %d: %s", code, errOut)
	}
	if out, _, _ := runAdmin(t, dsn, nil, "export", "--format", "csv"); !strings.Contains(out, "www.example.org.,A,203.0.113.66,300") {
		t.Errorf("Expected the stray name loaded with --allow-outside, got:\n%s", out)
	}
}

// TestAdminCheck: check finds nothing wrong with a replica that follows the
// table, and reports the name a row changed behind the triggers' back, on a
// replica started before.
func TestAdminCheck(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{
		{"www.example.org", "A", "192.0.2.1", nil},
		{"www.example.org", "AAAA", "2001:db8::1", 300},
		{"*.apps.example.org", "A", "192.0.2.7", nil},
		{"a.example.net", "A", "198.51.100.1", 120},
		// Other types, and a delegation: its glue and the address at the
		// cut are the child's, not expected in answers.
		{"example.org", "TXT", `"v=spf1 -all"`, nil},
		{"alias.example.org", "CNAME", "www.example.org", nil},
		{"team.example.org", "NS", "ns1.team.example.org", nil},
		{"team.example.org", "DS", "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118B8A2B0D9B1CA9B7A32C5C5A8", nil},
		{"team.example.org", "A", "192.0.2.101", nil},
		{"ns1.team.example.org", "A", "192.0.2.100", nil},
	})
	s := start(t, dsn)
	xs := startCorefile(t, strings.Replace(transferBlock(dsn, nil), "to 192.0.2.53", "to *", 1)) // another replica, that allows transfers
	xs.waitReady(t)
	out, errOut, code := runAdmin(t, dsn, nil, "check", "--zone", "example.org", "--zone", "example.net", s.dns)
	if code != 0 || !strings.Contains(out, "Checked 6 names and 2 zones on 1 replicas: 0 differences.") {
		t.Fatalf("Expected no differences, got %d:\n%s%s", code, out, errOut)
	}
	out, errOut, code = runAdmin(t, dsn, nil, "check", "--axfr", "--zone", "example.org", "--zone", "example.net", xs.dns)
	if code != 0 || !strings.Contains(out, "0 differences.") {
		t.Fatalf("Expected no differences with --axfr (glue is in the table), got %d:\n%s%s", code, out, errOut)
	}

	// Behind the triggers' back: no change-log entry, so the replica keeps
	// the old address until its next full read.
	exec1(t, db, "DROP TRIGGER dns_records_after_update")
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.9' WHERE name = 'www.example.org' AND type = 'A'")
	for _, stmt := range schema.For("dns_records") {
		if strings.HasPrefix(stmt, "CREATE TRIGGER dns_records_after_update") {
			exec1(t, db, stmt)
		}
	}
	out, _, code = runAdmin(t, dsn, nil, "check", "--zone", "example.org", "--zone", "example.net", s.dns)
	if code != 1 || !strings.Contains(out, "www.example.org. A: table has 192.0.2.9 (ttl 60), replica serves 192.0.2.1 (ttl 60)") {
		t.Errorf("Expected check to report www.example.org's A, got %d:\n%s", code, out)
	}
	// A row deleted behind the triggers' back: only the replica's zone
	// (AXFR) shows the name it still serves.
	exec1(t, db, "DROP TRIGGER dns_records_after_delete")
	exec1(t, db, "DELETE FROM dns_records WHERE name = 'a.example.net'")
	for _, stmt := range schema.For("dns_records") {
		if strings.HasPrefix(stmt, "CREATE TRIGGER dns_records_after_delete") {
			exec1(t, db, stmt)
		}
	}
	if out, _, code := runAdmin(t, dsn, nil, "check", "--zone", "example.net", s.dns); code != 0 {
		t.Errorf("Expected check without --axfr to see nothing of a deleted name, got %d:\n%s", code, out)
	}
	out, _, code = runAdmin(t, dsn, nil, "check", "--axfr", "--zone", "example.org", "--zone", "example.net", xs.dns)
	if code != 1 || !strings.Contains(out, "a.example.net.: served, but the table has no row for it") {
		t.Errorf("Expected check --axfr to report the deleted name, got %d:\n%s", code, out)
	}
	if _, errOut, code := runAdmin(t, dsn, nil, "check", "--zone", "example.org", s.dns, "--sample", "2"); code != 2 || !strings.Contains(errOut, "flags go before the arguments") {
		t.Errorf("Expected a flag after the replicas refused as usage, got %d: %s", code, errOut)
	}
	// A sampled name below the delegation is the child's and not checked.
	if out, _, code := runAdmin(t, dsn, nil, "check", "--zone", "example.org", "--zone", "example.net", "--sample", "2", s.dns); code > 1 || !regexp.MustCompile(`Checked [12] names`).MatchString(out) {
		t.Errorf("Expected a sample of 2 names checked, got %d:\n%s", code, out)
	}
}

// schemaV1 is the first schema of dbrecords (commit 6637e4c), to test that
// `dbrecords schema apply` upgrades it in place: today's table, change log
// and triggers, without the prune floor and procedure, and with the event
// that pruned by a plain DELETE.
func schemaV1(t *testing.T) string {
	t.Helper()
	const v1Prune = `DROP EVENT IF EXISTS dns_records_changes_prune;
CREATE EVENT dns_records_changes_prune ON SCHEDULE EVERY 1 MINUTE DO
  DELETE FROM dns_records_changes
  WHERE changed_at < NOW(6) - INTERVAL 1 DAY
    AND seq < (SELECT top FROM (SELECT MAX(seq) AS top FROM dns_records_changes) AS newest)
  ORDER BY seq LIMIT 100000;
`
	b, err := os.ReadFile("../plugin/dbrecords/schema/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	today := string(b)
	i := strings.Index(today, "-- The prune floor")
	j, k := strings.Index(today, "-- Upgrade: content"), strings.Index(today, "DROP PROCEDURE dns_records_widen_content;\n")
	if i < 0 || j < 0 || k < j {
		t.Fatal("Expected the schema to have a prune floor section and the widening of content")
	}
	v1 := today[:j] + today[k+len("DROP PROCEDURE dns_records_widen_content;\n"):i]
	v1 = strings.Replace(v1, "content VARCHAR(4096) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL", "content VARCHAR(45)  CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL", 1)
	if !strings.Contains(v1, "VARCHAR(45)") {
		t.Fatal("Expected the v1 schema to have the narrow content column")
	}
	return v1 + v1Prune
}
