package test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// write runs one random writer transaction on db: a multi-row INSERT,
// INSERT ... SELECT, REPLACE, ON DUPLICATE KEY UPDATE, a rename, an UPDATE or
// a DELETE, sometimes several, sometimes held open, sometimes rolled back.
// Errors (deadlocks, Galera certification conflicts) are the writer's
// problem: the transaction is rolled back.
func write(ctx context.Context, db *sql.DB, r *rand.Rand, names int, hold time.Duration) {
	// READ COMMITTED, as platforms use: REPEATABLE READ's gap locks on a
	// small table would make the other writers wait for the held one.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return
	}
	name := func() string { return fmt.Sprintf("n%d.example.org", r.Intn(names)) }
	ip := func() string { return fmt.Sprintf("10.%d.%d.%d", r.Intn(256), r.Intn(256), 1+r.Intn(254)) }
	for range 1 + r.Intn(3) {
		var err error
		switch r.Intn(8) {
		case 0:
			_, err = tx.Exec("INSERT INTO dns_records (name, type, content) VALUES (?, 'A', ?), (?, 'A', ?)", name(), ip(), name(), ip())
		case 1:
			_, err = tx.Exec("INSERT INTO dns_records (name, type, content) SELECT ?, type, content FROM dns_records WHERE name = ? LIMIT 2", name(), name())
		case 2:
			_, err = tx.Exec("REPLACE INTO dns_records (id, name, type, content) SELECT id, name, 'A', ? FROM dns_records WHERE name = ? LIMIT 1", ip(), name())
		case 3:
			_, err = tx.Exec("INSERT INTO dns_records (id, name, type, content) SELECT id, name, 'A', ? FROM dns_records WHERE name = ? LIMIT 1 ON DUPLICATE KEY UPDATE content = VALUES(content)", ip(), name())
		case 4:
			_, err = tx.Exec("UPDATE dns_records SET name = ? WHERE name = ? LIMIT 1", name(), name())
		case 5:
			_, err = tx.Exec("UPDATE dns_records SET content = ? WHERE name = ? LIMIT 2", ip(), name())
		case 6:
			_, err = tx.Exec("DELETE FROM dns_records WHERE name = ?", name())
		default:
			_, err = tx.Exec("INSERT INTO dns_records (name, type, content) VALUES (?, 'A', ?)", name(), ip())
		}
		if err != nil {
			tx.Rollback()
			return
		}
	}
	if hold > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(hold):
		}
	}
	if r.Intn(10) == 0 {
		tx.Rollback()
		return
	}
	tx.Commit()
}

// loggedNames returns every name the change log mentions: each name any
// writer touched.
func loggedNames(t *testing.T, db *sql.DB) []string {
	t.Helper()
	return column(t, db, "SELECT DISTINCT name FROM dns_records_changes")
}

// column returns the one column query (with args) selects, as strings.
func column(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
