package dbrecords

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// TestSnapshotResume: a loader restarted from the file of another goes on
// where it was: the same data and serials, the change log followed from
// the saved cursor (a change committed while it was down arrives with the
// first poll, one the file holds is not news), gaps included. Files are
// written in the background while changes go on (run with -race).
func TestSnapshotResume(t *testing.T) {
	dir := t.TempDir()
	src, tl := loaded(t)
	tl.snapDir = dir // snapEvery 0: every save that finds none under way writes
	for i := range 20 {
		src.commitOne(fmt.Sprintf("app-%d.example.org", i), fmt.Sprintf("192.0.2.%d", i+1))
		tl.step(t)
		tl.saveSnapshot(false)
	}
	open := holdOpen(src, "held.example.org", "after.example.org") // a gap below the cursor
	tl.step(t)
	tl.saveSnapshot(true)
	serial := tl.serial(0)

	src.commitOne("down.example.org", "192.0.2.99") // while the replica is down
	again := newTestLoader(src)
	again.snapDir, again.clock = dir, tl.clock.Add(time.Minute)
	if !again.resume() {
		t.Fatal("Expected the loader to resume from the file")
	}
	if got := again.answer("app-7.example.org"); got != "192.0.2.8" {
		t.Errorf("Expected app-7 from the file, got %s", got)
	}
	if again.serial(0) != serial || again.track.Cursor != tl.track.Cursor || again.track.Lowest() != tl.track.Lowest() {
		t.Errorf("Expected serial %d, cursor %d and lowest %d back, got %d, %d and %d",
			serial, tl.track.Cursor, tl.track.Lowest(), again.serial(0), again.track.Cursor, again.track.Lowest())
	}
	again.step(t)
	if got := again.answer("down.example.org"); got != "192.0.2.99" {
		t.Errorf("Expected the change made while down after the first poll, got %s", got)
	}
	open.commit() // the gap fills: its names arrive
	again.step(t)
	if got := again.answer("held.example.org"); got == "NXDOMAIN" {
		t.Errorf("Expected the transaction that was open at the save to arrive, got %s", got)
	}

	// Another ttl: the file is not served.
	other := newTestLoader(src)
	other.snapDir, other.ttl = dir, 300
	if other.resume() {
		t.Error("Expected a file read with another ttl to be ignored")
	}
	if err := os.WriteFile(tl.snapshotPath(), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := newTestLoader(src)
	damaged.snapDir = dir
	if damaged.resume() {
		t.Error("Expected a damaged file to be ignored")
	}
}
