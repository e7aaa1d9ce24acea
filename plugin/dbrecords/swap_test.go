package dbrecords

import (
	"fmt"
	"sync"
	"testing"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

// TestSnapshotSwapRace has one writer publishing snapshots while readers look
// names up; run with -race.
func TestSnapshotSwapRace(t *testing.T) {
	d := newTestPlugin(fixtureRows())
	stop := readers(4, func() bool {
		s := d.snapshot()
		if e, ok := s.Find("app-7.example.org.", "example.org."); ok {
			if rrs := e.RRs("app-7.example.org.", dns.TypeA); len(rrs) > 1 {
				t.Errorf("Expected at most one A record, got %d", len(rrs))
				return false
			}
		}
		if e, ok := s.Get("www.example.org."); !ok || e.Count() != 3 {
			t.Errorf("Expected www to keep its 3 records in every snapshot, got %v", e)
			return false
		}
		return true
	})
	for i := range 2000 {
		b := store.NewBuilder(d.snapshot())
		name := fmt.Sprintf("app-%d.example.org.", i%10)
		var recs []records.Record
		if i%3 != 0 {
			recs = []records.Record{v4(i)}
		}
		b.Set(name, "example.org.", recs)
		d.data.Load().Store(b.Finish())
	}
	stop()
}

// readers runs read in n goroutines until it returns false or stop is called;
// stop waits for them.
func readers(n int, read func() bool) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if !read() {
					return
				}
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}
