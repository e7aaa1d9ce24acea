package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxTrackedFile is the size above which a tracked file is build output or
// data that belongs elsewhere; the largest source file is a go.sum of 47 KB.
const maxTrackedFile = 512 << 10

// TestNothingBuiltInGit fails when a binary or an oversized file is tracked:
// a compiled test binary, the coredns or dbrecords binary, an image tarball.
// It reads the index (git ls-files), so a file staged but not yet committed
// fails too.
func TestNothingBuiltInGit(t *testing.T) {
	out, err := exec.Command("git", "-C", "..", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("Expected git ls-files to list the repository's files: %v", err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(files) < 50 {
		t.Fatalf("Expected the repository's files from git ls-files, got %d", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet in the index
			}
			t.Fatal(err)
		}
		head := b[:min(len(b), 8000)]
		switch {
		case len(b) > maxTrackedFile:
			t.Errorf("Expected no tracked file over %d KiB, got %s (%d KiB)", maxTrackedFile>>10, f, len(b)>>10)
		case bytes.HasPrefix(b, []byte("\x7fELF")), bytes.IndexByte(head, 0) >= 0:
			t.Errorf("Expected no binary tracked in git, got %s: remove it with git rm --cached and add it to .gitignore", f)
		}
	}
}
