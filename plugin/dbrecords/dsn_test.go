package dbrecords

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDSNFileRotation: the DSN in force follows dsn_file, keeps the last good
// one when the new content does not parse, and scrub hides every password
// seen.
func TestDSNFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dsn")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a:first-pw@tcp(db:3306)/dns")
	first, err := parseDSN("a:first-pw@tcp(db:3306)/dns")
	if err != nil {
		t.Fatal(err)
	}
	s := newDSNSource(&config{dsn: first, dsnFile: path})
	if got := s.current(); got.User != "a" || got.Timeout != dialTimeout || !got.InterpolateParams {
		t.Fatalf("Expected user a with our defaults, got %q, %s, %v", got.User, got.Timeout, got.InterpolateParams)
	}
	write("b:second-pw@tcp(db:3306)/dns")
	if got := s.current(); got.User != "b" || got.Passwd != "second-pw" {
		t.Fatalf("Expected the rotated user b, got %q", got.User)
	}
	write("garbage-without-a-database")
	if got := s.current(); got.User != "b" {
		t.Fatalf("Expected the last good DSN to stay, got user %q", got.User)
	}
	msg := s.scrub("first-pw and second-pw")
	if strings.Contains(msg, "first-pw") || strings.Contains(msg, "second-pw") {
		t.Errorf("Expected both passwords scrubbed, got %q", msg)
	}
}
