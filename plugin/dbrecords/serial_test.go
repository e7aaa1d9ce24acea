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
	r.add(3, 0, 9) // a late commit below the watermark
	if r.serial(0) != 9 {
		t.Errorf("Expected a late change to raise the serial to the watermark, got %d", r.serial(0))
	}
	r.add(2, 0, 9)
	if r.serial(0) != 10 {
		t.Errorf("Expected a second late change to raise the serial by one, got %d", r.serial(0))
	}
	// A zone quiet for 2^31 changes still moves on its next one.
	far := uint64(1)<<31 + 20
	r.add(far, 1, far)
	r.add(far+1, 1, far)
	r.advance(far + 1)
	if r.serial(1) != uint32(far+1) {
		t.Errorf("Expected serial %d after 2^31 quiet numbers, got %d", uint32(far+1), r.serial(1))
	}
	if !serialLess(0xfffffff0, 5) || serialLess(5, 0xfffffff0) {
		t.Errorf("Expected RFC 1982 order across the wrap")
	}
}
