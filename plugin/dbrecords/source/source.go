package source

import (
	"context"
	"errors"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
)

// Change is one change-log entry: the rows of name changed, and the writer's
// statement took sequence number seq for it.
type Change struct {
	Seq  uint64
	Name string
	At   time.Time // when the writer's statement ran, by the database's clock; zero when unknown
}

// seqRange is an inclusive run of sequence numbers.
type seqRange struct{ Lo, Hi uint64 }

// ClassRange is the numbers of one residue class (seq mod inc) in a range.
type ClassRange struct {
	seqRange
	Inc, Class uint64
}

// LogState is what the change log looks like at one moment.
type LogState struct {
	// PrunedBelow: the prune may have deleted any entry below this number
	// (0 when it never ran).
	PrunedBelow uint64
}

// Writers identifies the write transactions open at one moment, and the
// allocation frontier: every change-log number below it had been taken (or
// passed over) by then.
type Writers struct {
	IDs      map[string]struct{}
	Frontier uint64
}

// ErrNoProof means the server cannot show which write transactions are open,
// so a gap in the change log cannot be proven dead; why says what is missing.
type ErrNoProof struct{ Why string }

// Error implements error.
func (e ErrNoProof) Error() string { return "gaps cannot be proven dead: " + e.Why }

// Source is where the loader reads the table and its change log: NewMySQL
// in production, an in-memory fake in tests. Only the loader's goroutine uses
// it. Every method returns entries in ascending sequence order.
type Source interface {
	// Increment returns the server's auto_increment_increment (sequence
	// numbers of one writer step by it), and learns how the server is
	// replicated, which decides how gaps can be proven dead.
	Increment(ctx context.Context) (uint64, error)
	// LogState returns the prune floor.
	LogState(ctx context.Context) (LogState, error)
	// Top returns the highest number in the log, 0 when it is empty.
	Top(ctx context.Context) (uint64, error)
	// ChangesAfter returns up to limit entries with a number above after.
	ChangesAfter(ctx context.Context, after uint64, limit int) ([]Change, error)
	// Now is the database's clock, which Change.At is read by; zero when
	// unknown.
	Now(ctx context.Context) (time.Time, error)
	// ChangesIn returns up to limit entries whose numbers lie in ranges.
	ChangesIn(ctx context.Context, ranges []ClassRange, limit int) ([]Change, error)
	// ChangesBefore returns up to limit entries with a number below before,
	// the highest first.
	ChangesBefore(ctx context.Context, before uint64, limit int) ([]Change, error)
	// OpenWriters returns the write transactions open now, or an errNoProof.
	OpenWriters(ctx context.Context) (*Writers, error)
	// OlderWriter reports whether a write transaction that started before
	// entry seq was written is still open (false when it cannot tell).
	OlderWriter(ctx context.Context, seq uint64) bool
	// Rows calls fn for every row of the table, or only for the rows whose
	// names are keys (see nameKey) when keys is not nil.
	// For keys, a name's rows are capped at records.MaxRecords, the first by
	// id, and Row.Cut tells how many were left out; the whole table
	// (keys nil) is not capped; its rows' strings may share memory with
	// the rest of their page, so what fn keeps of them it copies.
	Rows(ctx context.Context, keys []string, fn func(records.Row)) error
	// ByName calls fn for every row of the table too, with the rows of
	// one name at a time, in the table's name order (its collation's
	// idea of one name). A name with more rows than a page holds comes
	// cut short, with Row.Cut set on its last row. fn must not keep the
	// slice (its rows it may).
	ByName(ctx context.Context, fn func([]records.Row)) error
	// Size estimates the number of rows in the table.
	Size(ctx context.Context) int
	// Close releases the source's connections.
	Close()
}

// IsNoProof reports whether err is an errNoProof.
func IsNoProof(err error) bool {
	var np ErrNoProof
	return errors.As(err, &np)
}
