package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
)

// A snapshot file holds one snapshot: its buckets as they are in memory
// (names, records and signatures), its counts and zone serials, and the
// caller's state (meta, opaque here), so that a restarted replica answers
// from it at once. The layout:
//
//	magic, format version (uvarint)
//	meta length, meta
//	names, records, wildcards, cuts (uvarints)
//	types: count, then type and count pairs (uvarints)
//	zones: count, then name length, name, serial (uvarints)
//	suffixes: count, then length and name of each (the zones entries are stored below)
//	pages: count, then per page its length and bytes, as in memory (store.go)
//	CRC-32C of all of the above (4 bytes, big endian)
//
// The IXFR journal is not kept: a restarted replica's journal starts afresh.
const (
	fileMagic = "dbrecords snapshot\n"
	// FileFormat is the layout version; Load refuses a file of another.
	FileFormat = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Save writes s and meta to w.
func (s *Snapshot) Save(w io.Writer, meta []byte) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	h := crc32.New(castagnoli)
	out := io.MultiWriter(bw, h)
	var buf []byte
	uv := func(v uint64) { buf = binary.AppendUvarint(buf, v) }
	flush := func() error {
		_, err := out.Write(buf)
		buf = buf[:0]
		return err
	}
	buf = append(buf, fileMagic...)
	uv(FileFormat)
	uv(uint64(len(meta)))
	buf = append(buf, meta...)
	uv(uint64(s.Names))     //nolint:gosec // counts are not negative
	uv(uint64(s.Records))   //nolint:gosec // counts are not negative
	uv(uint64(s.wildcards)) //nolint:gosec // counts are not negative
	uv(uint64(s.cuts))      //nolint:gosec // counts are not negative
	types := slices.Sorted(func(yield func(uint16) bool) {
		for t := range s.ByType {
			if !yield(t) {
				return
			}
		}
	})
	uv(uint64(len(types)))
	for _, t := range types {
		uv(uint64(t))
		uv(uint64(s.ByType[t])) //nolint:gosec // counts are not negative
	}
	uv(uint64(len(s.Zones)))
	for _, z := range s.Zones {
		uv(uint64(len(z.Name)))
		buf = append(buf, z.Name...)
		uv(uint64(z.Serial))
	}
	uv(uint64(len(s.suffixes)))
	for _, z := range s.suffixes {
		uv(uint64(len(z)))
		buf = append(buf, z...)
	}
	uv(uint64(len(s.pages)))
	if err := flush(); err != nil {
		return err
	}
	chunk := make([]byte, 32<<10)
	for _, p := range s.pages {
		uv(uint64(len(p)))
		if err := flush(); err != nil {
			return err
		}
		// Through a buffer of our own: a string handed to the hash would be
		// copied whole first, a page's worth of garbage per page.
		for i := 0; i < len(p); {
			n := copy(chunk, p[i:])
			if _, err := out.Write(chunk[:n]); err != nil {
				return err
			}
			i += n
		}
	}
	if _, err := bw.Write(binary.BigEndian.AppendUint32(nil, h.Sum32())); err != nil {
		return err
	}
	return bw.Flush()
}

// errDamaged is what Load reports for a file that does not decode.
var errDamaged = errors.New("damaged or truncated")

// fileReader reads a snapshot file, checksumming what it reads and never
// reading (or allocating) past the file's size.
type fileReader struct {
	r    *bufio.Reader
	h    hashWriter
	left int64
	buf  []byte // what str copies through
}

type hashWriter interface {
	io.Writer
	Sum32() uint32
}

func (f *fileReader) ReadByte() (byte, error) {
	if f.left <= 4 { // the checksum is not data
		return 0, errDamaged
	}
	c, err := f.r.ReadByte()
	if err != nil {
		return 0, errDamaged
	}
	f.left--
	f.h.Write([]byte{c})
	return c, nil
}

func (f *fileReader) uvarint(limit uint64) (uint64, error) {
	v, err := binary.ReadUvarint(f)
	if err != nil || v > limit {
		return 0, errDamaged
	}
	return v, nil
}

// bytes reads n bytes into new memory.
func (f *fileReader) bytes(n uint64) ([]byte, error) {
	s, err := f.str(n)
	return []byte(s), err
}

// str reads n bytes into a new string, copying them once.
func (f *fileReader) str(n uint64) (string, error) {
	if n > uint64(max(f.left-4, 0)) { //nolint:gosec // left is positive here
		return "", errDamaged
	}
	var sb strings.Builder
	sb.Grow(int(n)) //nolint:gosec // at most the file's size
	if f.buf == nil {
		f.buf = make([]byte, 32<<10)
	}
	if _, err := io.CopyBuffer(io.MultiWriter(&sb, f.h), io.LimitReader(f.r, int64(n)), f.buf); err != nil || sb.Len() != int(n) { //nolint:gosec // as above
		return "", errDamaged
	}
	f.left -= int64(n) //nolint:gosec // at most left
	return sb.String(), nil
}

// Load reads a snapshot that Save wrote, of size bytes, for the zones of
// zones (the same, in the same order, or the file is refused), and returns
// it with its meta. Nothing of a file that is damaged, truncated or of
// another format is returned.
func Load(r io.Reader, size int64, zones records.ZoneSet) (*Snapshot, []byte, error) {
	f := &fileReader{r: bufio.NewReaderSize(r, 1<<20), h: crc32.New(castagnoli), left: size}
	magic, err := f.bytes(uint64(len(fileMagic)))
	if err != nil || string(magic) != fileMagic {
		return nil, nil, errors.New("not a dbrecords snapshot file")
	}
	if v, err := f.uvarint(1 << 20); err != nil || v != FileFormat {
		return nil, nil, fmt.Errorf("a snapshot of format %d, not %d", v, FileFormat)
	}
	n, err := f.uvarint(1 << 30)
	if err != nil {
		return nil, nil, err
	}
	meta, err := f.bytes(n)
	if err != nil {
		return nil, nil, err
	}
	var counts [4]uint64
	for i := range counts {
		if counts[i], err = f.uvarint(1 << 40); err != nil {
			return nil, nil, err
		}
	}
	s := &Snapshot{Names: int(counts[0]), Records: int(counts[1]), wildcards: int(counts[2]), cuts: int(counts[3]), ByType: map[uint16]int{}} //nolint:gosec // bounded above
	nt, err := f.uvarint(1 << 16)
	if err != nil {
		return nil, nil, err
	}
	for range nt {
		t, err1 := f.uvarint(1<<16 - 1)
		c, err2 := f.uvarint(1 << 40)
		if err := errors.Join(err1, err2); err != nil {
			return nil, nil, errDamaged
		}
		if c > 0 { // a type whose records all went may stay with 0
			s.ByType[uint16(t)] = int(c) //nolint:gosec // bounded above
		}
	}
	// A file for other zones is read to its end all the same: a damaged
	// one is reported as damaged.
	foreign, err := s.readZones(f, zones)
	if err != nil {
		return nil, nil, err
	}
	if err := s.readPages(f); err != nil {
		return nil, nil, err
	}
	sum := f.h.Sum32()
	tail := make([]byte, 4)
	if f.left != 4 || func() bool { _, err := io.ReadFull(f.r, tail); return err != nil }() || binary.BigEndian.Uint32(tail) != sum {
		return nil, nil, errors.New("checksum mismatch: damaged or truncated")
	}
	if foreign {
		return nil, nil, errors.New("saved for another zone set")
	}
	return s, meta, nil
}

// readZones reads the zones and their serials, and reports whether they
// are not those of zones.
func (s *Snapshot) readZones(f *fileReader, zones records.ZoneSet) (foreign bool, err error) {
	nz, err := f.uvarint(1 << 16)
	if err != nil {
		return false, err
	}
	foreign = int(nz) != len(zones.List) //nolint:gosec // bounded above
	s.Hist = make([]history, len(zones.List))
	for i := range nz {
		l, err := f.uvarint(255)
		if err != nil {
			return false, err
		}
		name, err := f.bytes(l)
		if err != nil {
			return false, err
		}
		serial, err := f.uvarint(1<<32 - 1)
		if err != nil {
			return false, err
		}
		if foreign = foreign || string(name) != zones.List[i].Name; !foreign {
			s.Zones = append(s.Zones, Version{Zone: zones.List[i], Serial: uint32(serial)}) //nolint:gosec // bounded above
			s.Hist[i].dirtyBase = true
		}
	}
	return foreign, nil
}

func (s *Snapshot) readPages(f *fileReader) error {
	ns, err := f.uvarint(1 << 16)
	if err != nil {
		return err
	}
	for range ns {
		l, err := f.uvarint(255)
		if err != nil {
			return err
		}
		z, err := f.str(l)
		if err != nil {
			return err
		}
		s.suffixes = append(s.suffixes, z)
	}
	np, err := f.uvarint(1 << 40)
	if err != nil {
		return err
	}
	if np == 0 || np&(np-1) != 0 || np > uint64(f.left) { //nolint:gosec // left is positive here
		return errDamaged
	}
	s.pages = make([]string, np)
	s.mask = np*pageSize - 1
	c := counts{byType: map[uint16]int{}}
	for pi := range s.pages {
		l, err := f.uvarint(1 << 32)
		if err != nil {
			return err
		}
		if l == 0 {
			continue
		}
		if s.pages[pi], err = f.str(l); err != nil {
			return err
		}
		if !s.checkPage(uint64(pi), &c) { //nolint:gosec // an index
			return errDamaged
		}
	}
	// The counts the file states are the ones its entries give: answers
	// rely on them (no wildcard or cut is looked for when they say none).
	if c.names != s.Names || c.records != s.Records || c.wildcards != s.wildcards || c.cuts != s.cuts || !maps.Equal(c.byType, s.ByType) {
		return errDamaged
	}
	return nil
}

// counts is what the entries of a file hold.
type counts struct {
	names, records, wildcards, cuts int
	byType                          map[uint16]int
}

// checkPage walks page pi as Bucket, headAt and the record decoders would,
// with every bound checked, so that a served snapshot can never make them
// read past their data; every name must hash to its bucket. It adds what
// the page holds to c.
func (s *Snapshot) checkPage(pi uint64, c *counts) bool {
	p := s.pages[pi]
	if len(p) < pageHead {
		return false
	}
	start := 0
	for k := range uint64(pageSize) {
		end := bucketEnd(p, k)
		if end < start || end > len(p)-pageHead {
			return false
		}
		if !s.checkBucket(p[pageHead+start:pageHead+end], pi<<pageBits|k, c) {
			return false
		}
		start = end
	}
	return start == len(p)-pageHead
}

// checkBucket checks the entries of bucket b, number bi, for checkPage.
func (s *Snapshot) checkBucket(b string, bi uint64, c *counts) bool {
	for i := 0; i < len(b); {
		rel := int(b[i])
		var v [4]uint64
		j := i + 1
		for k := range v {
			var ok bool
			if v[k], j, ok = uvarint(b, j); !ok {
				return false
			}
		}
		zi, r, below, g := v[0], v[1], v[2], v[3]
		if zi >= uint64(len(s.suffixes)) || below > 1<<31-1 || r > uint64(len(b)) || g > uint64(len(b)) || j+rel+int(r)+int(g) > len(b) { //nolint:gosec // bounded
			return false
		}
		name, recs := b[j:j+rel], b[j+rel:j+rel+int(r)] //nolint:gosec // bounded above
		zone := s.suffixes[zi]
		if mix(hashName(hashName(fnvOffset, name), zone))&s.mask != bi {
			return false
		}
		n, ns, ok := checkRecords(recs, c.byType)
		if !ok {
			return false
		}
		c.records += n
		c.names++
		if strings.HasPrefix(name, "*.") {
			c.wildcards++
		}
		if ns && name != "" {
			c.cuts++
		}
		i = j + rel + int(r) + int(g) //nolint:gosec // bounded above
	}
	return true
}
