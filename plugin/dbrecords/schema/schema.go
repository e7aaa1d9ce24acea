// Package schema holds the dbrecords schema (schema.sql): the records table,
// its change log with the triggers that fill it, the prune floor and the
// prune procedure. The admin command and the tests apply it from here.
package schema

import (
	_ "embed"
	"strings"
)

//go:embed schema.sql
var script string

// DefaultTable is the records table schema.sql names.
const DefaultTable = "dns_records"

// For returns the statements of schema.sql for a records table named table
// (its change log is table_changes, and so on). Applying them again
// upgrades an older schema of dbrecords in place.
func For(table string) []string {
	return Statements(strings.ReplaceAll(script, DefaultTable, table))
}

// Statements splits an SQL script into statements the way the mysql client
// does for such files: a statement ends with the delimiter (';', or what a
// DELIMITER line sets) at the end of a line; lines starting with "--" are
// comments.
func Statements(script string) []string {
	var (
		out   []string
		cur   strings.Builder
		delim = ";"
	)
	for line := range strings.SplitSeq(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		if d, ok := strings.CutPrefix(trimmed, "DELIMITER "); ok {
			delim = strings.TrimSpace(d)
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, delim) {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), delim))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
