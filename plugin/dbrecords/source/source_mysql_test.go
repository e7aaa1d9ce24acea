package source

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/test/dbsetup"
)

// testDB returns a fresh database with the schema, failing the test when
// DBRECORDS_REQUIRE_DB is set and no server answers, skipping it otherwise.
func testDB(t *testing.T, name string) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := dbsetup.Ping(ctx, dbsetup.ServerDSN()); err != nil {
		if os.Getenv("DBRECORDS_REQUIRE_DB") != "" {
			t.Fatalf("Expected a MySQL server at MYSQL_DSN, got %v", err)
		}
		t.Skipf("Skipping: no MySQL server at MYSQL_DSN (%v); `make test` starts one", err)
	}
	db, _ := dbsetup.ForTest(t, name)
	return db
}

// TestFullReadInPages: a full read by pages returns every row once, in
// primary-key order, across page boundaries and gaps in the ids.
func TestFullReadInPages(t *testing.T) {
	db := testDB(t, "dbrecords_src")
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

// TestReadByName: a read by name gives every row once, a name's rows
// together (spellings the column's collation finds equal included) across
// page boundaries, in name order; a name with more rows than a page comes
// cut to one page, and the read carries on after it.
func TestReadByName(t *testing.T) {
	db := testDB(t, "dbrecords_byname")
	want := map[string]int{} // lower-case name → rows
	insert := func(name string, n int) {
		for i := range n {
			if _, err := db.Exec("INSERT INTO dns_records (name, type, content) VALUES (?, 'A', ?)", name, fmt.Sprintf("192.0.2.%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Interleaved ids: names written round-robin, a row each at a time.
	for round := range 4 {
		for i := range 20 {
			name := fmt.Sprintf("app-%02d.example.org", i)
			if round%2 == 1 && i%3 == 0 {
				name = fmt.Sprintf("APP-%02d.example.org", i) // the same name to the collation
			}
			if round <= i%4 {
				insert(name, 1)
				want[fmt.Sprintf("app-%02d.example.org", i)]++
			}
		}
	}
	insert("big.example.org", 12) // more than a page
	old := pageRows
	pageRows = 7
	defer func() { pageRows = old }()
	src := NewMySQL(db, nil, "dns_records")
	got := map[string]int{}
	var order []string
	if err := src.ByName(context.Background(), func(rows []records.Row) {
		key := records.NameKey(rows[0].Name)
		for _, r := range rows {
			if records.NameKey(r.Name) != key {
				t.Errorf("Expected one name per call, got %q beside %q", r.Name, rows[0].Name)
			}
		}
		if got[key] > 0 {
			t.Errorf("Expected the rows of %s together, got them in two calls", key)
		}
		got[key] += len(rows)
		order = append(order, key)
		if cut := rows[len(rows)-1].Cut > 0; cut != (key == "big.example.org") {
			t.Errorf("Expected only big.example.org told cut short, got %s cut %v", key, cut)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if got["big.example.org"] != 7 {
		t.Errorf("Expected big.example.org cut to a page (7 rows), got %d", got["big.example.org"])
	}
	delete(got, "big.example.org")
	if !maps.Equal(got, want) || !slices.IsSorted(order) {
		t.Errorf("Expected every row once, by name in order:\n%v\ngot\n%v in order %v", want, got, order)
	}
}
