package dbrecords

import "strings"

// builder derives a new snapshot from an old one. It copies a bucket the first
// time it changes it, so applying a batch costs the size of the batch plus one
// copy of the bucket index, never a copy of every name. A builder is used by
// one goroutine; the old snapshot stays valid for readers throughout.
type builder struct {
	s       *snapshot
	owned   []bool // buckets already copied into s
	ownAll  bool   // every bucket is private to s (fresh or rehashed)
	touched []bool // zones whose data changed
}

// newBuilder starts from old; old is not modified.
func newBuilder(old *snapshot) *builder {
	s := *old
	s.buckets = make([][]entry, len(old.buckets))
	copy(s.buckets, old.buckets)
	s.serials = append([]uint32(nil), old.serials...)
	return &builder{s: &s, owned: make([]bool, len(s.buckets)), touched: make([]bool, len(s.serials))}
}

// newFullBuilder starts from nothing, for a full load of about sizeHint names.
func newFullBuilder(sizeHint, zones int) *builder {
	return &builder{s: newSnapshot(sizeHint, zones), ownAll: true, touched: make([]bool, zones)}
}

// set replaces the records of name (a lower-case FQDN in zones[zi] = zone).
// An empty recs deletes the name's records.
func (b *builder) set(name, zone string, zi int, recs []record) {
	bi, i := b.locate(name)
	had := 0
	if i >= 0 {
		had = len(b.s.buckets[bi][i].recs)
	}
	if had == 0 && len(recs) == 0 {
		return
	}
	b.touched[zi] = true
	b.s.records += len(recs) - had
	switch {
	case had == 0:
		b.upsert(name, recs)
		b.ancestors(name, zone, 1)
	case len(recs) == 0:
		b.s.buckets[b.own(bi)][i].recs = nil
		b.release(name)
		b.ancestors(name, zone, -1)
	default:
		b.s.buckets[b.own(bi)][i].recs = recs
	}
}

// add adds one record to name, skipping an exact duplicate address.
func (b *builder) add(name, zone string, zi int, r record) {
	var recs []record
	if bi, i := b.locate(name); i >= 0 {
		recs = b.s.buckets[bi][i].recs
	}
	for _, x := range recs {
		if x.v6 == r.v6 && x.ip == r.ip {
			return
		}
	}
	// A new backing array every time: recs may be shared with an older snapshot.
	b.set(name, zone, zi, append(recs[:len(recs):len(recs)], r))
}

// finish returns the new snapshot; zones that changed get serial, or their old
// serial plus one if that is not larger.
func (b *builder) finish(serial uint32) *snapshot {
	for zi, t := range b.touched {
		if !t {
			continue
		}
		if serial > b.s.serials[zi] {
			b.s.serials[zi] = serial
		} else {
			b.s.serials[zi]++
		}
	}
	return b.s
}

func (b *builder) locate(name string) (bi uint64, i int) {
	h := mix(hashName(fnvOffset, name))
	bi = h & b.s.mask
	for j := range b.s.buckets[bi] {
		if e := &b.s.buckets[bi][j]; e.hash == h && e.name == name {
			return bi, j
		}
	}
	return bi, -1
}

// own makes bucket bi private to the new snapshot and returns bi.
func (b *builder) own(bi uint64) uint64 {
	if b.ownAll || b.owned[bi] {
		return bi
	}
	old := b.s.buckets[bi]
	b.s.buckets[bi] = append(make([]entry, 0, len(old)+1), old...)
	b.owned[bi] = true
	return bi
}

// upsert sets the records of name, creating the entry if needed.
func (b *builder) upsert(name string, recs []record) {
	if bi, i := b.locate(name); i >= 0 {
		b.s.buckets[b.own(bi)][i].recs = recs
		return
	}
	if b.s.names >= 2*len(b.s.buckets) {
		b.grow()
	}
	h := mix(hashName(fnvOffset, name))
	bi := b.own(h & b.s.mask)
	b.s.buckets[bi] = append(b.s.buckets[bi], entry{name: name, hash: h, recs: recs})
	b.s.names++
	if strings.HasPrefix(name, "*.") {
		b.s.wildcards++
	}
}

// release removes name if it has no records and nothing below it.
func (b *builder) release(name string) {
	bi, i := b.locate(name)
	if i < 0 {
		return
	}
	if e := &b.s.buckets[bi][i]; len(e.recs) > 0 || e.below > 0 {
		return
	}
	bk := b.s.buckets[b.own(bi)]
	last := len(bk) - 1
	bk[i] = bk[last]
	bk[last] = entry{}
	b.s.buckets[bi] = bk[:last]
	b.s.names--
	if strings.HasPrefix(name, "*.") {
		b.s.wildcards--
	}
}

// ancestors adds delta to the below count of every name between name and zone,
// creating and removing empty non-terminals as needed.
func (b *builder) ancestors(name, zone string, delta int32) {
	for p := parent(name); p != zone && len(p) > len(zone); p = parent(p) {
		bi, i := b.locate(p)
		if i < 0 {
			b.upsert(p, nil)
			bi, i = b.locate(p)
		}
		b.s.buckets[b.own(bi)][i].below += delta
		if delta < 0 {
			b.release(p)
		}
	}
}

// grow doubles the bucket count; every bucket of the result is private.
func (b *builder) grow() {
	n := newSnapshot(4*len(b.s.buckets), 0)
	for _, bk := range b.s.buckets {
		for _, e := range bk {
			bi := e.hash & n.mask
			n.buckets[bi] = append(n.buckets[bi], e)
		}
	}
	b.s.buckets, b.s.mask = n.buckets, n.mask
	b.ownAll, b.owned = true, nil
}
