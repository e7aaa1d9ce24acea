package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []directive
		wantErr string
	}{
		{
			name: "upstream and external packages",
			in:   "# comment\n\nlog:log\nprometheus:metrics\ndbrecords:github.com/dbrecords/dbrecords/plugin/dbrecords\n",
			want: []directive{
				{name: "log", pkg: "github.com/coredns/coredns/plugin/log"},
				{name: "prometheus", pkg: "github.com/coredns/coredns/plugin/metrics"},
				{name: "dbrecords", pkg: "github.com/dbrecords/dbrecords/plugin/dbrecords"},
			},
		},
		{name: "duplicate", in: "log:log\nlog:log\n", wantErr: `line 2: duplicate plugin "log"`},
		{name: "missing colon", in: "log\n", wantErr: `line 1: expected <plugin-name>:<package-name>`},
		{name: "empty package", in: "log:\n", wantErr: "line 1: expected"},
		{name: "empty file", in: "# nothing\n", wantErr: "no plugins listed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Expected error containing %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expected no error, got %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Expected %d directives, got %d", len(tc.want), len(got))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("Expected directive %d to be %+v, got %+v", i, tc.want[i], got[i])
				}
			}
		})
	}
}

// TestGeneratedMainIsCurrent fails when plugin.cfg changed but build/coredns/main.go
// was not regenerated (run `make build`).
func TestGeneratedMainIsCurrent(t *testing.T) {
	dirs := loadPluginCfg(t)
	want, err := generate(dirs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../coredns/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Expected build/coredns/main.go to match plugin.cfg; run `go run ./build/gen`")
	}
}

// TestDbrecordsOrder checks where dbrecords sits in the chain: after cache (so a
// cache in front can serve its answers) and before file and forward.
func TestDbrecordsOrder(t *testing.T) {
	dirs := loadPluginCfg(t)
	pos := map[string]int{}
	for i, d := range dirs {
		pos[d.name] = i
	}
	for _, name := range []string{"dbrecords", "cache", "file", "forward", "ready", "prometheus", "reload"} {
		if _, ok := pos[name]; !ok {
			t.Fatalf("Expected plugin.cfg to list %q", name)
		}
	}
	if pos["cache"] >= pos["dbrecords"] || pos["dbrecords"] >= pos["file"] || pos["file"] >= pos["forward"] {
		t.Errorf("Expected order cache < dbrecords < file < forward, got %v", pos)
	}
}

// loadPluginCfg parses the repository's plugin.cfg.
func loadPluginCfg(t *testing.T) []directive {
	t.Helper()
	f, err := os.Open("../../plugin.cfg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dirs, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}
