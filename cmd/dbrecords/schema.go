package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"regexp"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/schema"
)

// tableName is the plugin's rule for table names (property 'table').
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,44}$`)

// schemaApply creates the records table, its change log, triggers, prune
// floor and prune procedure, or upgrades an older schema of ours in place
// (schema.sql is written to be applied again), and prints the grants the
// replicas need.
func schemaApply(ctx context.Context, db *sql.DB, dbName, table, grantTo string, stdout, stderr io.Writer) error {
	if !tableName.MatchString(table) {
		return fmt.Errorf("--table: invalid table name %q (letters, digits and '_', at most 45)", table)
	}
	conn, err := db.Conn(ctx) // one session: DELIMITER-free statements in order
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, stmt := range schema.For(table) {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("applying the schema: %v (in: %.60s...)", err, stmt)
		}
	}
	fmt.Fprintf(stderr, "Schema for table %s applied in database %s.\n", table, dbName)
	var scheduler string
	if err := conn.QueryRowContext(ctx, "SELECT @@event_scheduler").Scan(&scheduler); err == nil && scheduler != "ON" {
		fmt.Fprintf(stderr, "The event scheduler is %s: the change log is not pruned. Set event_scheduler=ON, or run\n"+
			"  CALL %s_changes_prune();\nevery minute from cron.\n", scheduler, table)
	}
	fmt.Fprintf(stdout, "-- Grants for the dbrecords replicas (run as an administrator):\n")
	for _, t := range []string{table, table + "_changes", table + "_prune"} {
		fmt.Fprintf(stdout, "GRANT SELECT ON `%s`.`%s` TO %s;\n", dbName, t, grantTo)
	}
	fmt.Fprintf(stdout, "-- PROCESS lets a replica prove gaps in the change log dead (docs/operations.md, \"Change tracking\"):\n")
	fmt.Fprintf(stdout, "GRANT PROCESS ON *.* TO %s;\n", grantTo)
	fmt.Fprintf(stdout, "-- For the writer account of an update block (DNS UPDATE, docs/updates.md), another account:\n")
	fmt.Fprintf(stdout, "-- GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`%s` TO WRITER;\n", dbName, table)
	fmt.Fprintf(stdout, "-- GRANT SELECT, INSERT, UPDATE ON `%s`.`%s_update_locks` TO WRITER;\n", dbName, table)
	return nil
}
