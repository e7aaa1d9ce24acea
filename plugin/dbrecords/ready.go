package dbrecords

// Ready implements the ready.Readiness interface. It turns true once the first
// full load of the table has been published, and stays true afterwards, also
// while the database is unreachable: the data in memory keeps being served.
func (d *DBRecords) Ready() bool { return d.snapshot() != nil }
