package dbrecords

import "strings"

// builder derives a new snapshot from an old one. It copies a page and a
// bucket the first time it changes them, so applying a batch costs the size of
// the batch plus one copy of the page index (a pointer per 64 buckets), never
// a copy of every name. A builder is used by one goroutine; the old snapshot
// stays valid for readers throughout.
type builder struct {
	s            *snapshot
	ownedPages   map[uint64]bool // pages already copied into s
	ownedBuckets map[uint64]bool // buckets already copied into s
	ownAll       bool            // every page and bucket is private to s (fresh or rehashed)
	touched      []bool          // zones whose data changed
}

// newBuilder starts from old; old is not modified.
func newBuilder(old *snapshot) *builder {
	s := *old
	s.pages = append([]*page(nil), old.pages...)
	s.serials = append([]uint32(nil), old.serials...)
	return &builder{s: &s, ownedPages: map[uint64]bool{}, ownedBuckets: map[uint64]bool{}, touched: make([]bool, len(s.serials))}
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
		had = b.s.bucket(bi)[i].count()
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
		(*b.own(bi))[i].data = pack(name, nil)
		b.release(name)
		b.ancestors(name, zone, -1)
	default:
		(*b.own(bi))[i].data = pack(name, recs)
	}
}

// add adds one record to name, skipping an exact duplicate address.
func (b *builder) add(name, zone string, zi int, r record) {
	var recs []record
	if bi, i := b.locate(name); i >= 0 {
		recs = b.s.bucket(bi)[i].records()
	}
	for _, x := range recs {
		if x.v6 == r.v6 && x.ip == r.ip {
			return
		}
	}
	b.set(name, zone, zi, append(recs, r))
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
	bi = mix(hashName(fnvOffset, name)) & b.s.mask
	bk := b.s.bucket(bi)
	for j := range bk {
		if e := &bk[j]; int(e.nlen) == len(name) && e.name() == name {
			return bi, j
		}
	}
	return bi, -1
}

// own makes bucket bi, and its page, private to the new snapshot and returns
// the bucket's slot.
func (b *builder) own(bi uint64) *[]entry {
	pi := bi >> pageBits
	slot := &b.s.pages[pi][bi&(pageSize-1)]
	if b.ownAll {
		return slot
	}
	if !b.ownedPages[pi] {
		p := *b.s.pages[pi]
		b.s.pages[pi] = &p
		b.ownedPages[pi] = true
		slot = &p[bi&(pageSize-1)]
	}
	if !b.ownedBuckets[bi] {
		*slot = append(make([]entry, 0, len(*slot)+1), *slot...)
		b.ownedBuckets[bi] = true
	}
	return slot
}

// upsert sets the records of name, creating the entry if needed. The entry
// gets its own copy of name: callers pass substrings of longer names.
func (b *builder) upsert(name string, recs []record) {
	if bi, i := b.locate(name); i >= 0 {
		(*b.own(bi))[i].data = pack(name, recs)
		return
	}
	if b.s.names >= loadFactor*b.s.buckets() {
		b.grow()
	}
	slot := b.own(mix(hashName(fnvOffset, name)) & b.s.mask)
	*slot = append(*slot, entry{data: pack(name, recs), nlen: uint16(len(name))})
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
	if e := &b.s.bucket(bi)[i]; e.count() > 0 || e.below > 0 {
		return
	}
	slot := b.own(bi)
	bk := *slot
	last := len(bk) - 1
	bk[i] = bk[last]
	bk[last] = entry{}
	*slot = bk[:last]
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
		(*b.own(bi))[i].below += delta
		if delta < 0 {
			b.release(p)
		}
	}
}

// grow doubles the bucket count; every bucket of the result is private.
func (b *builder) grow() {
	n := newSnapshot(2*loadFactor*b.s.buckets(), 0)
	for _, p := range b.s.pages {
		for _, bk := range p {
			for _, e := range bk {
				bi := mix(hashName(fnvOffset, e.name())) & n.mask
				slot := &n.pages[bi>>pageBits][bi&(pageSize-1)]
				*slot = append(*slot, e)
			}
		}
	}
	b.s.pages, b.s.mask = n.pages, n.mask
	b.ownAll, b.ownedPages, b.ownedBuckets = true, nil, nil
}
