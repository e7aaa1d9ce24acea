// Package dbsetup prepares real MySQL/MariaDB databases for the demo, the
// integration tests and the benchmarks: it creates a database and applies
// plugin/dbrecords/schema.sql to it.
package dbsetup

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

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

// SchemaPath is the path of plugin/dbrecords/schema.sql in this checkout.
func SchemaPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "plugin", "dbrecords", "schema.sql")
}

// ApplySchema runs schema.sql statement by statement, for a records table
// named table (schema.sql's own name is dns_records). Statements end with a
// ';' at the end of a line; lines starting with "--" are comments.
func ApplySchema(ctx context.Context, db *sql.DB, table string) error {
	b, err := os.ReadFile(SchemaPath())
	if err != nil {
		return err
	}
	script := strings.ReplaceAll(string(b), "dns_records", table)
	for _, stmt := range Statements(script) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("schema.sql: %w in %q", err, stmt)
		}
	}
	return nil
}

// Statements splits an SQL script into statements.
func Statements(script string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for _, line := range strings.Split(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
