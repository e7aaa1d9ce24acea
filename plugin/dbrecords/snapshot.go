package dbrecords

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/source"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
)

const (
	defaultSnapshotEvery = 30 * time.Second
	// maxSignedAge is the oldest snapshot file with signatures that is
	// served: signatures are renewed when less than dnssec.Refresh (7 days)
	// of their validity is left (within a day's sweep), so those in a
	// younger file are valid for at least another day, and the first
	// renewal sweep after the start renews what is due.
	maxSignedAge = dnssec.Refresh - 2*24*time.Hour
)

// snapshotContent versions what the entries hold (how rows are parsed and
// packed), beside store.FileFormat, the file's layout: a file of other
// contents is read again from the table.
const snapshotContent = 1

// snapshotMeta is the loader's state in a snapshot file, beside the data:
// what the data was read for (a file for other settings is not served), and
// where the change log was.
type snapshotMeta struct {
	Content     int                 `json:"content"`
	Source      string              `json:"source"` // the database (address and name, or the dsn_file), without credentials
	Table       string              `json:"table"`
	Zones       []string            `json:"zones"`
	TTL         uint32              `json:"ttl"`
	NS          []string            `json:"ns"`
	NegativeTTL uint32              `json:"negative_ttl"`
	Keys        string              `json:"keys"` // SHA-256 of the keys text; "" unsigned
	SavedAt     time.Time           `json:"saved_at"`
	Tracker     source.TrackerState `json:"tracker"`
	Serials     []uint64            `json:"serials"`
	Pending     [][2]uint64         `json:"pending"` // sequence number, zone index
	Invalid     map[string]int      `json:"invalid"`
}

// snapshotPath is the file of this loader in its snapshot directory: one
// per database, table and zone set.
func (l *loader) snapshotPath() string {
	sum := crc32.ChecksumIEEE([]byte(l.source + "\x00" + strings.Join(l.zoneNames(), " ")))
	return filepath.Join(l.snapDir, fmt.Sprintf("%s-%08x.snapshot", l.table, sum))
}

// zoneNames returns the names of the loader's zones, in order.
func (l *loader) zoneNames() []string {
	names := make([]string, len(l.zones.List))
	for i, z := range l.zones.List {
		names[i] = z.Name
	}
	return names
}

func keysDigest(keys string) string {
	if keys == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(keys))
	return hex.EncodeToString(sum[:])
}

// meta returns the loader's state for a snapshot file.
func (l *loader) meta(now time.Time) snapshotMeta {
	m := snapshotMeta{Content: snapshotContent, Source: l.source, Table: l.table, TTL: l.ttl, NS: l.ns, NegativeTTL: l.negativeTTL, Keys: keysDigest(l.keys),
		Zones: l.zoneNames(), SavedAt: now, Tracker: l.track.State(), Serials: slices.Clone(l.serial.last), Invalid: maps.Clone(l.invalid)}
	for _, p := range l.serial.pending {
		m.Pending = append(m.Pending, [2]uint64{p.seq, uint64(p.zone)}) //nolint:gosec // a zone index
	}
	return m
}

// check says why m cannot be served by this loader; "" when it can.
func (l *loader) check(m *snapshotMeta, now time.Time) string {
	zones := l.zoneNames()
	switch {
	case m.Content != snapshotContent:
		return fmt.Sprintf("it holds entries of version %d, not %d", m.Content, snapshotContent)
	case m.Source != l.source || m.Table != l.table || !slices.Equal(m.Zones, zones):
		return "it was saved for another database, table or zone set"
	case m.TTL != l.ttl || !slices.Equal(m.NS, l.ns) || m.NegativeTTL != l.negativeTTL:
		return "it was saved with another ttl, ns or negative_ttl"
	case m.Keys != keysDigest(l.keys):
		return "it was signed with other keys (or signed when these zones are not, or not when they are)"
	case l.keys != "" && now.Sub(m.SavedAt) > maxSignedAge:
		return fmt.Sprintf("its signatures were made more than %.0f days ago", maxSignedAge.Hours()/24)
	case len(m.Serials) != len(zones):
		return "its serials do not match the zones"
	}
	for _, p := range m.Pending {
		if p[1] >= uint64(len(zones)) {
			return "its pending changes do not match the zones"
		}
	}
	return ""
}

// resume serves the loader's snapshot file, if there is one that it may serve, and positions the loader on the change log where the
// file's was; it reports whether it did. A file it cannot serve is ignored
// with a log line, and the loader reads the table as if there were none.
func (l *loader) resume() bool {
	path := l.snapshotPath()
	// What a write cut short (a kill, a crash) left behind.
	tmps, _ := filepath.Glob(path + ".*.tmp")
	for _, t := range tmps {
		os.Remove(t)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		log.Infof("No snapshot file %q yet: reading table %q", path, l.table)
		return false
	}
	ignore := func(why string) bool {
		log.Warningf("Ignoring snapshot file %q: %s; reading table %q", path, why, l.table)
		return false
	}
	if err != nil {
		return ignore(err.Error())
	}
	defer f.Close()
	start := time.Now()
	fi, err := f.Stat()
	if err != nil {
		return ignore(err.Error())
	}
	snap, raw, err := store.Load(f, fi.Size(), l.zones)
	if err != nil {
		return ignore(err.Error())
	}
	var m snapshotMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return ignore("its state does not parse: " + err.Error())
	}
	now := l.clock()
	if why := l.check(&m, now); why != "" {
		return ignore(why)
	}
	track, ok := source.RestoreTracker(m.Tracker)
	if !ok {
		return ignore("its change-log position is not valid")
	}
	l.track = track
	l.serial = serialRule{last: m.Serials}
	for _, p := range m.Pending {
		l.serial.pending = append(l.serial.pending, zoneChange{seq: p[0], zone: int(p[1])}) //nolint:gosec // checked above
	}
	l.invalid, l.invalidN = m.Invalid, 0
	if l.invalid == nil {
		l.invalid = map[string]int{}
	}
	for _, n := range l.invalid {
		l.invalidN += n
	}
	snap.Signers = l.signers
	l.commit(snap)
	l.saved, l.savedAt = snap, now
	l.probe, l.resumed = true, true
	if l.signers != nil {
		l.renewedAt = now.Add(-renewSweep) // the first renewal looks at every entry
	}
	log.Infof("Serving %d records for %d names of table %q from snapshot file %q, saved %s ago (read in %s); following the change log from %d",
		snap.Records, snap.Names, l.table, path, now.Sub(m.SavedAt).Round(time.Second), time.Since(start).Round(time.Millisecond), track.Cursor)
	return true
}

// checkResumed is the first contact with the database after a start from
// a snapshot file: it sets the source up as positioning would have (a
// Galera node, a replica) and checks that the change log is the one the
// file followed: the same increment, and not behind the saved cursor (a
// database restored from a backup, or replaced). Otherwise the loader reads
// the whole table and starts on the log afresh.
func (l *loader) checkResumed(ctx context.Context) error {
	inc, err := l.src.Increment(ctx)
	if err != nil {
		return err
	}
	top, err := l.src.Top(ctx)
	if err != nil {
		return err
	}
	l.probe = false
	if inc != l.track.Inc() || top < l.track.Cursor {
		log.Warningf("The change log of table %q is not the one the snapshot file followed (increment %d, newest entry %d; the file: %d, %d); reading the whole table",
			l.table, inc, top, l.track.Inc(), l.track.Cursor)
		l.track = nil
		l.requestFull(reasonStartup)
	}
	return nil
}

// saveSnapshot writes the served snapshot to the snapshot directory when it
// changed since the last file and snapEvery is up, in the background (one
// write at a time), so that syncs go on meanwhile; final (at shutdown) waits
// for a write under way and writes what is served now. The file is written beside its place
// and renamed into it, so a crash leaves the old file or the new one, whole.
func (l *loader) saveSnapshot(final bool) {
	if l.snapBusy != nil {
		if final {
			<-l.snapBusy
		} else {
			select {
			case <-l.snapBusy:
			default:
				return
			}
		}
		l.snapBusy = nil
	}
	if l.snapFailed.Swap(false) {
		l.saved = nil // write it again
	}
	now := l.clock()
	if l.snapDir == "" || l.cur == nil || l.track == nil || l.cur == l.saved || !final && now.Sub(l.savedAt) < l.snapEvery {
		return
	}
	// The file says what the data was made with: none is written while the
	// data waits to be made with other settings (a full read for a reload,
	// a gap or a pruned log; new keys), nor while a start from a file has not
	// reached the database yet.
	if l.pendingFull != "" || l.resign || !sameSigners(l.cur, l.signers) || l.probe {
		return
	}
	// The snapshot is immutable, and the state that goes with it is taken now.
	snap, meta, path, label, table := l.cur, l.meta(now), l.snapshotPath(), l.label, l.table
	l.saved, l.savedAt = snap, now
	write := func() {
		start := time.Now()
		if err := writeSnapshot(path, snap, meta); err != nil {
			l.snapFailed.Store(true)
			snapshotErrors.WithLabelValues(label).Inc()
			log.Errorf("Writing the snapshot file of table %q failed: %v", table, err)
			return
		}
		snapshotSaved.WithLabelValues(label).Set(float64(now.UnixNano()) / 1e9)
		log.Debugf("Wrote snapshot file %q (%d names) in %s", path, snap.Names, time.Since(start).Round(time.Millisecond))
	}
	if final {
		write()
		return
	}
	busy := make(chan struct{})
	l.snapBusy = busy
	go func() {
		defer close(busy)
		write()
	}()
}

func writeSnapshot(path string, snap *store.Snapshot, meta snapshotMeta) error {
	raw, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing
	err = snap.Save(tmp, raw)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		if d, derr := os.Open(filepath.Dir(path)); derr == nil {
			d.Sync()
			d.Close()
		}
	}
	return err
}
