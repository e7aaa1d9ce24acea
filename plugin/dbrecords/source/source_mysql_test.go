package source

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/test/dbsetup"
)

// TestFullReadInPages: a full read by pages returns every row once, in
// primary-key order, across page boundaries and gaps in the ids.
func TestFullReadInPages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := dbsetup.Ping(ctx, dbsetup.ServerDSN()); err != nil {
		if os.Getenv("DBRECORDS_REQUIRE_DB") != "" {
			t.Fatalf("Expected a MySQL server at MYSQL_DSN, got %v", err)
		}
		t.Skipf("Skipping: no MySQL server at MYSQL_DSN (%v); `make test` starts one", err)
	}
	db, _ := dbsetup.ForTest(t, "dbrecords_src")
	var want []string
	for i := range 103 {
		name := fmt.Sprintf("app-%d.example.org", i)
		if _, err := db.Exec("INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.1')", name); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	// Gaps in the ids.
	if _, err := db.Exec("DELETE FROM dns_records WHERE id % 10 = 3"); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(n string) bool {
		var i int
		fmt.Sscanf(n, "app-%d.", &i)
		return (i+1)%10 == 3
	})
	old := pageRows
	pageRows = 7
	defer func() { pageRows = old }()
	src := NewMySQL(db, nil, "dns_records")
	var got []string
	if err := src.Rows(context.Background(), nil, func(r records.Row) { got = append(got, r.Name) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Expected %d rows in id order, got %d: %v", len(want), len(got), got)
	}
}
