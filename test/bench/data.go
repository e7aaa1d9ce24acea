package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"
)

const (
	zone     = "example.org"
	benchDB  = "dbrecords_bench"
	pdnsDB   = "dbrecords_bench_pdns"
	pdnsSQL  = "/usr/share/doc/pdns-backend-mysql/schema.mysql.sql"
	queryLen = 500000 // lines per dnsperf query file
)

// dataset is one size of the benchmark data, in every system's format.
type dataset struct {
	n        int
	db       *sql.DB
	dsn      string
	zoneFile string
	pdns     bool              // PowerDNS's database is loaded
	queries  map[string]string // mix → dnsperf query file
}

// prepare loads n names into dns_records, a zone file and PowerDNS's schema,
// and writes the query files.
func prepare(ctx context.Context, opt options, n int) (*dataset, error) {
	d := &dataset{n: n, queries: map[string]string{}}
	var err error
	d.db, d.dsn, err = dbsetup.Create(ctx, dbsetup.ServerDSN(), benchDB)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	if err := dbsetup.LoadApps(ctx, d.db, zone, n); err != nil {
		return nil, err
	}
	if err := dbsetup.LoadMixed(ctx, d.db, zone, n); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "bench: loaded %d names into MySQL in %s\n", n, time.Since(began).Round(time.Millisecond))
	if d.zoneFile, err = writeZone(opt.work, n); err != nil {
		return nil, err
	}
	if d.pdns, err = loadPDNS(ctx, d.db); err != nil {
		return nil, err
	}
	for mix, gen := range map[string]func(r *rand.Rand, i int) string{
		"hits": func(r *rand.Rand, _ int) string {
			i := r.Intn(n)
			if r.Intn(5) == 0 {
				return fmt.Sprintf("app-%d.%s AAAA", i-i%4, zone)
			}
			return fmt.Sprintf("app-%d.%s A", i, zone)
		},
		"flood": func(r *rand.Rand, i int) string { return fmt.Sprintf("rnd-%d-%08x.%s A", i, r.Uint32(), zone) },
		"nodata": func(r *rand.Rand, _ int) string {
			i := r.Intn(n)
			if i%20 == 1 { // has a TXT (LoadMixed)
				i--
			}
			return fmt.Sprintf("app-%d.%s %s", i, zone, []string{"TXT", "MX"}[r.Intn(2)])
		},
		// The whole zone: 10% CNAME (followed to its A), 5% TXT, the rest
		// as hits.
		"mixed": func(r *rand.Rand, _ int) string {
			i := r.Intn(n)
			switch k := r.Intn(100); {
			case k < 10:
				return fmt.Sprintf("alias-%d.%s A", i-i%10, zone)
			case k < 15 && n > 20:
				return fmt.Sprintf("app-%d.%s TXT", min(i-i%20+1, n-19), zone)
			case k < 30:
				return fmt.Sprintf("app-%d.%s AAAA", i-i%4, zone)
			}
			return fmt.Sprintf("app-%d.%s A", i, zone)
		},
	} {
		if d.queries[mix], err = writeQueries(opt.work, mix, gen); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *dataset) close() {
	d.db.Close()
	dbsetup.Drop(dbsetup.ServerDSN(), benchDB)
	dbsetup.Drop(dbsetup.ServerDSN(), pdnsDB)
}

// writeZone writes the data set as a zone file for CoreDNS's file plugin.
func writeZone(dir string, n int) (string, error) {
	path := filepath.Join(dir, "db."+zone)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "$ORIGIN %s.\n$TTL 60\n@ IN SOA ns1 hostmaster 1 7200 1800 1209600 30\n@ IN NS ns1\n@ IN NS ns2\n", zone)
	for i := range n {
		fmt.Fprintf(w, "app-%d IN A %s\n", i, dbsetup.AppA(i))
		if i%4 == 0 {
			fmt.Fprintf(w, "app-%d IN AAAA %s\n", i, dbsetup.AppAAAA(i))
		}
		if i%10 == 0 { // as dbsetup.LoadMixed
			fmt.Fprintf(w, "alias-%d IN CNAME app-%d\n", i, i)
		}
		if i%20 == 1 {
			fmt.Fprintf(w, "app-%d IN TXT \"text %d\"\n", i, i)
		}
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return path, f.Close()
}

// writeQueries writes queryLen dnsperf lines made by gen.
func writeQueries(dir, mix string, gen func(r *rand.Rand, i int) string) (string, error) {
	path := filepath.Join(dir, "queries-"+mix)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewSource(int64(len(mix))))
	for i := range queryLen {
		fmt.Fprintln(w, gen(r, i))
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return path, f.Close()
}

// loadPDNS creates PowerDNS's gmysql schema and copies the data set into it.
// It reports false when PowerDNS's schema file is not installed.
func loadPDNS(ctx context.Context, src *sql.DB) (bool, error) {
	schema, err := os.ReadFile(pdnsSQL)
	if err != nil {
		return false, nil
	}
	dbsetup.Drop(dbsetup.ServerDSN(), pdnsDB)
	conn, err := src.Conn(ctx) // USE applies to one connection
	if err != nil {
		return false, err
	}
	defer conn.Close()
	stmts := append([]string{"CREATE DATABASE " + pdnsDB, "USE " + pdnsDB}, dbsetup.Statements(string(schema))...)
	for _, q := range append(stmts,
		"INSERT INTO domains (id, name, type) VALUES (1, '"+zone+"', 'NATIVE')",
		"INSERT INTO records (domain_id, name, type, content, ttl, auth) VALUES "+
			"(1, '"+zone+"', 'SOA', 'ns1."+zone+" hostmaster."+zone+" 1 7200 1800 1209600 30', 60, 1),"+
			"(1, '"+zone+"', 'NS', 'ns1."+zone+"', 60, 1), (1, '"+zone+"', 'NS', 'ns2."+zone+"', 60, 1)",
		"INSERT INTO records (domain_id, name, type, content, ttl, auth) SELECT 1, name, type, content, 60, 1 FROM "+benchDB+".dns_records",
		"USE "+benchDB,
	) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return false, fmt.Errorf("loading PowerDNS data: %w", err)
		}
	}
	return true, nil
}
