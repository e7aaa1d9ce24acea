package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/miekg/dns"
)

// row is one records-table row; ttl < 0 is NULL.
type row struct {
	name, typ, content string
	ttl                int64
}

// importBatch is how many names, and about how many rows, one transaction
// replaces.
const importBatch = 1000

// importFile loads the records of a zone file or a CSV file (name,type,
// content[,ttl], an optional header line) into table. Every name it loads
// gets exactly the rows the file gives it: its rows already in the table are
// replaced, a batch of names per transaction. What the plugin makes itself
// (SOA, DNSSEC records) and types it does not serve are counted and
// reported, not loaded.
func importFile(ctx context.Context, db *sql.DB, table, path, format, origin string, zones []string, stdin io.Reader, stderr io.Writer) error {
	if !tableName.MatchString(table) {
		return fmt.Errorf("--table: invalid table name %q", table)
	}
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	if format == "" {
		format = "zone"
		if strings.HasSuffix(strings.ToLower(path), ".csv") {
			format = "csv"
		}
	}
	byName := map[string][]row{}
	var order []string
	skipped := map[string]int{}
	add := func(rw row) {
		if _, ok := byName[rw.name]; !ok {
			order = append(order, rw.name)
		}
		byName[rw.name] = append(byName[rw.name], rw)
	}
	var err error
	switch format {
	case "zone":
		err = readZone(r, path, origin, add, skipped)
	case "csv":
		err = readCSV(r, add, skipped)
	default:
		return fmt.Errorf("--format: want zone or csv, got %q", format)
	}
	if err != nil {
		return err
	}
	if err := insideZones(order, zones, stderr); err != nil {
		return err
	}
	progress := isTerminal(stderr)
	rows := 0
	for i := 0; i < len(order); {
		// A batch: up to importBatch names and about importBatch rows.
		j, batchRows := i, 0
		for j < len(order) && j-i < importBatch && (j == i || batchRows+len(byName[order[j]]) <= importBatch) {
			batchRows += len(byName[order[j]])
			j++
		}
		n, err := replaceNames(ctx, db, table, order[i:j], byName)
		if err != nil {
			return fmt.Errorf("after %d rows: %w", rows, err)
		}
		rows, i = rows+n, j
		if progress {
			fmt.Fprintf(stderr, "\rimported %d rows for %d of %d names", rows, i, len(order))
		}
	}
	if progress {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stderr, "Imported %d rows for %d names into %s.\n", rows, len(order), table)
	if len(skipped) > 0 {
		var parts []string
		for t, n := range skipped {
			parts = append(parts, fmt.Sprintf("%d %s", n, t))
		}
		sort.Strings(parts)
		fmt.Fprintf(stderr, "Skipped %s: the SOA comes from the Corefile, DNSSEC records are made by the plugin, other types are not served (docs/records.md).\n", strings.Join(parts, ", "))
	}
	return nil
}

// insideZones refuses, before anything is written, names outside zones (the
// import's --zone, or its --origin): a zone file for one zone that also
// names another would otherwise replace that zone's records. It lists the
// first ten. No zones: every name is allowed.
func insideZones(names, zones []string, stderr io.Writer) error {
	if len(zones) == 0 {
		return nil
	}
	fqdns := make([]string, len(zones))
	for i, z := range zones {
		fqdns[i] = strings.ToLower(dns.Fqdn(z))
	}
	set := records.NewZoneSet(fqdns, nil)
	var out []string
	for _, n := range names {
		if set.Match(n+".") < 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil
	}
	for i, n := range out {
		if i == 10 {
			fmt.Fprintf(stderr, "  ... and %d more\n", len(out)-10)
			break
		}
		fmt.Fprintf(stderr, "  %s\n", n)
	}
	return fmt.Errorf("%d names lie outside %s (listed above); nothing was imported (--allow-outside loads them)", len(out), strings.Join(zones, ", "))
}

// replaceNames replaces the rows of names with byName's in one transaction.
func replaceNames(ctx context.Context, db *sql.DB, table string, names []string, byName map[string][]row) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	// The plugin reads "www.example.org" and "www.example.org." as one name.
	args := make([]any, 0, 2*len(names))
	for _, n := range names {
		args = append(args, n, n+".")
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE name IN (?"+strings.Repeat(",?", len(args)-1)+")", args...); err != nil {
		return 0, err
	}
	var vals []string
	var vargs []any
	for _, n := range names {
		for _, rw := range byName[n] {
			vals = append(vals, "(?,?,?,?)")
			var ttl any
			if rw.ttl >= 0 {
				ttl = rw.ttl
			}
			vargs = append(vargs, rw.name, rw.typ, rw.content, ttl)
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (name, type, content, ttl) VALUES "+strings.Join(vals, ","), vargs...); err != nil {
		return 0, err
	}
	return len(vals), tx.Commit()
}

// readZone parses a zone file with miekg/dns.
func readZone(r io.Reader, path, origin string, add func(row), skipped map[string]int) error {
	zp := dns.NewZoneParser(bufio.NewReader(r), dns.Fqdn(origin), path)
	if origin == "" {
		zp = dns.NewZoneParser(bufio.NewReader(r), "", path)
	}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		name := strings.TrimSuffix(strings.ToLower(h.Name), ".")
		switch v := rr.(type) {
		case *dns.A:
			add(row{name: name, typ: "A", content: v.A.String(), ttl: int64(h.Ttl)})
		case *dns.AAAA:
			addr, _ := netip.AddrFromSlice(v.AAAA) // keeps an IPv4-mapped address in IPv6 form
			add(row{name: name, typ: "AAAA", content: addr.String(), ttl: int64(h.Ttl)})
		default:
			if !records.ServedType(h.Rrtype) {
				skipped[dns.TypeToString[h.Rrtype]]++
				continue
			}
			// The RDATA as the zone file has it, names made absolute by the parser.
			add(row{name: name, typ: dns.TypeToString[h.Rrtype], content: records.Presentation(rr), ttl: int64(h.Ttl)})
		}
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("reading the zone file: %w", err)
	}
	return nil
}

// csvRules judge a CSV line's content alone; the plugin judges the rest
// (zones, apex, CNAME beside other data) when it reads the row.
var csvRules = records.NewRules([]string{"."}, 60)

// readCSV reads name,type,content[,ttl] lines; an empty ttl is NULL.
func readCSV(r io.Reader, add func(row), skipped map[string]int) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the CSV: %w", err)
		}
		if line == 1 && strings.EqualFold(strings.TrimSpace(rec[0]), "name") {
			continue // a header
		}
		if len(rec) < 3 || len(rec) > 4 {
			return fmt.Errorf("CSV line %d: want name,type,content[,ttl], got %d fields", line, len(rec))
		}
		rw := row{name: strings.TrimSuffix(strings.ToLower(strings.TrimSpace(rec[0])), "."), typ: strings.ToUpper(strings.TrimSpace(rec[1])),
			content: strings.TrimSpace(rec[2]), ttl: -1}
		t := dns.StringToType[rw.typ]
		if !records.ServedType(t) {
			skipped[rw.typ]++
			continue
		}
		if t == dns.TypeA || t == dns.TypeAAAA {
			addr, err := netip.ParseAddr(rw.content)
			if err != nil || addr.Is4() != (rw.typ == "A") {
				return fmt.Errorf("CSV line %d: %q is not an %s address", line, rw.content, rw.typ)
			}
			rw.content = addr.String()
		} else if _, _, why := csvRules.Valid(rw.name+".", rw.typ, rw.content, 0, true); why != "" {
			return fmt.Errorf("CSV line %d: %s content %q: %s", line, rw.typ, rw.content, why)
		}
		if len(rec) == 4 && strings.TrimSpace(rec[3]) != "" {
			if rw.ttl, err = strconv.ParseInt(strings.TrimSpace(rec[3]), 10, 64); err != nil || rw.ttl < 0 || rw.ttl > 2147483647 {
				return fmt.Errorf("CSV line %d: invalid TTL %q", line, rec[3])
			}
		}
		add(rw)
	}
}

// export writes table as a zone file (absolute names, rows without a TTL
// under $TTL defTTL) or, with format csv, as the CSV import reads (an empty
// ttl for NULL, so it round-trips exactly). Rows the plugin does not serve
// are left out and counted on stderr.
func export(ctx context.Context, db *sql.DB, table string, zones []string, defTTL uint32, format string, w, stderr io.Writer) error {
	if !tableName.MatchString(table) {
		return fmt.Errorf("--table: invalid table name %q", table)
	}
	if format != "zone" && format != "csv" {
		return fmt.Errorf("--format: want zone or csv, got %q", format)
	}
	if len(zones) == 0 {
		zones = []string{"."}
	}
	rules := records.NewRules(zones, defTTL)
	rows, err := db.QueryContext(ctx, "SELECT name, type, content, ttl FROM "+table+" ORDER BY name, type, content")
	if err != nil {
		return err
	}
	defer rows.Close()
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	if format == "zone" {
		fmt.Fprintf(bw, "; table %s, exported by dbrecords\n$TTL %d\n", table, defTTL)
	} else {
		cw.Write([]string{"name", "type", "content", "ttl"}) //nolint:errcheck // checked at Flush
	}
	skipped := map[string]int{}
	for rows.Next() {
		var rw row
		var ttl sql.NullInt64
		if err := rows.Scan(&rw.name, &rw.typ, &rw.content, &ttl); err != nil {
			return err
		}
		fqdn, normal, why := rules.Valid(rw.name, rw.typ, rw.content, ttl.Int64, !ttl.Valid)
		if why != "" {
			skipped[why]++
			continue
		}
		typ, content := strings.ToUpper(strings.TrimSpace(rw.typ)), strings.TrimSpace(rw.content)
		if format == "zone" {
			content = normal // an unquoted TXT, say, is one string, which a zone file quotes
		}
		switch {
		case format == "csv" && ttl.Valid:
			cw.Write([]string{fqdn, typ, content, strconv.FormatInt(ttl.Int64, 10)}) //nolint:errcheck // checked at Flush
		case format == "csv":
			cw.Write([]string{fqdn, typ, content, ""}) //nolint:errcheck // checked at Flush
		case ttl.Valid:
			fmt.Fprintf(bw, "%s\t%d\tIN\t%s\t%s\n", fqdn, ttl.Int64, typ, content)
		default:
			fmt.Fprintf(bw, "%s\t\tIN\t%s\t%s\n", fqdn, typ, content)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	for why, n := range skipped {
		fmt.Fprintf(stderr, "Left out %d rows the plugin does not serve (%s).\n", n, why)
	}
	return bw.Flush()
}

// isTerminal reports whether w is a terminal, for progress lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
