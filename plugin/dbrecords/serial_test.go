package dbrecords

import "testing"

func TestSerialRule(t *testing.T) {
	r := serialRule{last: make([]uint64, 2)}
	r.add(7, 0, 5)
	r.add(6, 1, 5)
	r.advance(6)
	if r.serial(0) != 0 || r.serial(1) != 6 {
		t.Fatalf("Expected serials 0 and 6 at watermark 6, got %d and %d", r.serial(0), r.serial(1))
	}
	r.advance(9)
	if r.serial(0) != 7 {
		t.Fatalf("Expected zone 0 at 7, got %d", r.serial(0))
	}
	r.add(3, 0, 9) // a late commit below the watermark and the serial
	if r.serial(0) != 8 {
		t.Errorf("Expected a late change below the serial to raise it by one, got %d", r.serial(0))
	}
	r.add(8, 1, 9) // a late commit above the serial: its own number, as a replica started later finds
	if r.serial(1) != 8 {
		t.Errorf("Expected a late change above the serial to raise it to its number, got %d", r.serial(1))
	}
	// A change numbered as the serial already is (after a late change) still moves it.
	r.add(9, 0, 8)
	r.advance(9)
	if r.serial(0) != 9 {
		t.Errorf("Expected the change after a late one to raise the serial, got %d", r.serial(0))
	}
	r.add(10, 0, 9)
	r.advance(10)
	r.bump()
	if r.serial(0) != 11 || r.serial(1) != 9 {
		t.Errorf("Expected a bump to raise every serial by one, got %d and %d", r.serial(0), r.serial(1))
	}
	if !serialLess(0xfffffff0, 5) || serialLess(5, 0xfffffff0) {
		t.Errorf("Expected RFC 1982 order across the wrap")
	}
}

// TestQuietZoneSerialSteps: a zone quiet while the other zones take 2^33
// numbers of the log moves at every epoch mark, so each step a secondary
// sees is an increase in RFC 1982 terms; its next change moves it again.
func TestQuietZoneSerialSteps(t *testing.T) {
	r := serialRule{last: make([]uint64, 2)}
	r.add(1, 1, 0)
	r.advance(1)
	prev := r.serial(1)
	for w := uint64(1); w < 1<<33; w += 1 << 28 { // one poll per 2^28 numbers of the busy zone
		r.add(w+1, 0, w)
		r.advance(w + 1)
		if got := r.serial(1); got != prev {
			if !serialLess(prev, got) {
				t.Fatalf("Expected the quiet zone's serial to step forward, got %d after %d at watermark %d", got, prev, w+1)
			}
			prev = got
		}
	}
	if prev == 1 {
		t.Fatal("Expected the quiet zone's serial to move with the epoch marks")
	}
	w := uint64(1<<33 + 5)
	r.add(w, 1, w-1)
	r.advance(w)
	if got := r.serial(1); !serialLess(prev, got) || got != uint32(w) {
		t.Errorf("Expected the quiet zone's next change to move it forward to %d, got %d after %d", uint32(w), got, prev)
	}
}
