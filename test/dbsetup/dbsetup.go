// Package dbsetup prepares real MySQL/MariaDB databases for the demo, the
// integration tests and the benchmarks: it creates a database and applies
// plugin/dbrecords/schema/schema.sql to it.
package dbsetup

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/schema"

	"github.com/go-sql-driver/mysql"
)

// DefaultDSN is the server used when MYSQL_DSN is not set.
const DefaultDSN = "root@tcp(127.0.0.1:3306)/"

// ServerDSN returns MYSQL_DSN or DefaultDSN.
func ServerDSN() string {
	if dsn := os.Getenv("MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// WithDB returns dsn pointing at database name.
func WithDB(dsn, name string) (string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("parsing MYSQL_DSN: %w", err)
	}
	cfg.DBName = name
	return cfg.FormatDSN(), nil
}

// Ping checks that the server at dsn answers.
func Ping(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// Create drops and creates database name on the server at serverDSN, applies
// schema.sql, and returns an open handle and the DSN for it.
func Create(ctx context.Context, serverDSN, name string) (*sql.DB, string, error) {
	root, err := sql.Open("mysql", serverDSN)
	if err != nil {
		return nil, "", err
	}
	defer root.Close()
	for _, q := range []string{"DROP DATABASE IF EXISTS `" + name + "`", "CREATE DATABASE `" + name + "`"} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			return nil, "", fmt.Errorf("%s: %w", q, err)
		}
	}
	dsn, err := WithDB(serverDSN, name)
	if err != nil {
		return nil, "", err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, "", err
	}
	if err := ApplySchema(ctx, db, "dns_records"); err != nil {
		db.Close()
		return nil, "", err
	}
	return db, dsn, nil
}

// Drop removes database name.
func Drop(serverDSN, name string) error {
	root, err := sql.Open("mysql", serverDSN)
	if err != nil {
		return err
	}
	defer root.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = root.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
	return err
}

// ApplySchema runs schema.sql statement by statement, for a records table
// named table (schema.sql's own name is dns_records).
func ApplySchema(ctx context.Context, db *sql.DB, table string) error {
	for _, stmt := range schema.For(table) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("schema.sql: %w in %q", err, stmt)
		}
	}
	return nil
}

// Statements splits an SQL script into statements (see schema.Statements).
func Statements(script string) []string { return schema.Statements(script) }

// LoadApps inserts the benchmark data set into dns_records: app-<i>.<zone>
// for i < n with an A row each (10.x.y.z from i) and an AAAA row for every
// 4th (2001:db8::hi:lo from i). It generates the rows in SQL, so a million
// takes seconds, on MySQL 8 and MariaDB alike.
func LoadApps(ctx context.Context, db *sql.DB, zone string, n int) error {
	nums := numbers(n)
	for _, q := range []string{
		"INSERT INTO dns_records (name, type, content) SELECT CONCAT('app-', n, '.', ?), 'A', " +
			"CONCAT('10.', (n DIV 65536) % 256, '.', (n DIV 256) % 256, '.', n % 256) FROM " + nums,
		"INSERT INTO dns_records (name, type, content) SELECT CONCAT('app-', n, '.', ?), 'AAAA', " +
			"CONCAT('2001:db8::', HEX(n DIV 65536), ':', HEX(n % 65536)) FROM " + nums + " AND n % 4 = 0",
	} {
		if _, err := db.ExecContext(ctx, q, strings.TrimSuffix(zone, ".")); err != nil {
			return fmt.Errorf("loading %d names: %w", n, err)
		}
	}
	return nil
}

// numbers is a FROM clause whose rows are n = 0 .. n-1, for INSERT ... SELECT.
func numbers(n int) string {
	digits := "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
	var from, expr []string
	for i, mul := 0, 1; mul < n; i, mul = i+1, mul*10 {
		from = append(from, fmt.Sprintf("%s d%d", digits, i))
		expr = append(expr, fmt.Sprintf("%d*d%d.d", mul, i))
	}
	return fmt.Sprintf("(SELECT %s AS n FROM %s) nums WHERE n < %d", strings.Join(expr, "+"), strings.Join(from, ", "), n)
}

// LoadMixed adds other types to what LoadApps loaded: for every 10th app
// (i % 10 == 0) a name alias-<i> with a CNAME to app-<i>, and for every
// 20th (i % 20 == 1) a TXT at app-<i> ("text <i>").
func LoadMixed(ctx context.Context, db *sql.DB, zone string, n int) error {
	nums := numbers(n)
	zone = strings.TrimSuffix(zone, ".")
	for _, q := range []string{
		"INSERT INTO dns_records (name, type, content) SELECT CONCAT('alias-', n, '.', ?), 'CNAME', CONCAT('app-', n, '.', ?) FROM " + nums + " AND n % 10 = 0",
		"INSERT INTO dns_records (name, type, content) SELECT CONCAT('app-', n, '.', ?), 'TXT', CONCAT('\"text ', n, '\"') FROM " + nums + " AND n % 20 = 1",
	} {
		args := []any{zone, zone}
		if strings.Contains(q, "'TXT'") {
			args = args[:1]
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("loading the other types of %d names: %w", n, err)
		}
	}
	return nil
}

// AppA and AppAAAA are the addresses LoadApps gives app-<i>.
func AppA(i int) string { return fmt.Sprintf("10.%d.%d.%d", (i>>16)%256, (i>>8)%256, i%256) }

// AppAAAA is the AAAA address of app-<i> (i a multiple of 4).
func AppAAAA(i int) string { return fmt.Sprintf("2001:db8::%x:%x", i>>16, i%65536) }

// ForTest creates a database for tb, named prefix plus the process and test,
// with schema.sql applied, and drops it when tb ends.
func ForTest(tb testing.TB, prefix string) (*sql.DB, string) {
	tb.Helper()
	name := fmt.Sprintf("%s_%d_%s", prefix, os.Getpid(), strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())))
	name = name[:min(len(name), 64)]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, dsn, err := Create(ctx, ServerDSN(), name)
	if err != nil {
		tb.Fatalf("Expected a database at MYSQL_DSN (run `make mysql`), got %v", err)
	}
	tb.Cleanup(func() {
		db.Close()
		if err := Drop(ServerDSN(), name); err != nil {
			tb.Errorf("Dropping %s: %v", name, err)
		}
	})
	return db, dsn
}
