package dbrecords

import (
	"context"
	"errors"
)

// change is one change-log entry: the rows of name changed, and the writer's
// statement took sequence number seq for it.
type change struct {
	seq  uint64
	name string
}

// seqRange is an inclusive run of sequence numbers.
type seqRange struct{ lo, hi uint64 }

// classRange is the numbers of one residue class (seq mod inc) in a range.
type classRange struct {
	seqRange
	inc, class uint64
}

// logState is what the change log looks like at one moment.
type logState struct {
	// prunedBelow: the prune may have deleted any entry below this number
	// (0 when it never ran).
	prunedBelow uint64
}

// writers identifies the write transactions open at one moment, and the
// allocation frontier: every change-log number below it had been taken (or
// passed over) by then.
type writers struct {
	ids      map[string]struct{}
	frontier uint64
}

// errNoProof means the server cannot show which write transactions are open,
// so a gap in the change log cannot be proven dead; why says what is missing.
type errNoProof struct{ why string }

func (e errNoProof) Error() string { return "gaps cannot be proven dead: " + e.why }

// source is where the loader reads the table and its change log: mysqlSource
// in production, an in-memory fake in tests. Only the loader's goroutine uses
// it. Every method returns entries in ascending sequence order.
type source interface {
	// increment returns the server's auto_increment_increment (sequence
	// numbers of one writer step by it), and learns how the server is
	// replicated, which decides how gaps can be proven dead.
	increment(ctx context.Context) (uint64, error)
	// logState returns the prune floor.
	logState(ctx context.Context) (logState, error)
	// top returns the highest number in the log, 0 when it is empty.
	top(ctx context.Context) (uint64, error)
	// changesAfter returns up to limit entries with a number above after.
	changesAfter(ctx context.Context, after uint64, limit int) ([]change, error)
	// changesIn returns up to limit entries whose numbers lie in ranges.
	changesIn(ctx context.Context, ranges []classRange, limit int) ([]change, error)
	// changesBefore returns up to limit entries with a number below before,
	// the highest first.
	changesBefore(ctx context.Context, before uint64, limit int) ([]change, error)
	// openWriters returns the write transactions open now, or an errNoProof.
	openWriters(ctx context.Context) (*writers, error)
	// olderWriter reports whether a write transaction that started before
	// entry seq was written is still open (false when it cannot tell).
	olderWriter(ctx context.Context, seq uint64) bool
	// rows calls fn for every row of the table, or only for the rows whose
	// names are keys (see nameKey) when keys is not nil.
	rows(ctx context.Context, keys []string, fn func(rawRow)) error
	// size estimates the number of rows in the table.
	size(ctx context.Context) int
	// close releases the source's connections.
	close()
}

// isNoProof reports whether err is an errNoProof.
func isNoProof(err error) bool {
	var np errNoProof
	return errors.As(err, &np)
}
