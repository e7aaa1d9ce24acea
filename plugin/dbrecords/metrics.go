package dbrecords

import (
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Every collector is labelled by "zones": the space-separated zones of one
// dbrecords block, so its cardinality is bounded by the Corefile.
var (
	// recordsGauge is the number of records being served, recordsByType by type.
	recordsGauge  = gauge("records", "Number of records being served, of every type.", "zones")
	recordsByType = gauge("records_by_type", "Number of records being served, by type.", "zones", "type")
	// invalidRowsGauge is the number of table rows skipped because they cannot be served.
	invalidRowsGauge = gauge("invalid_rows", "Number of table rows skipped because they cannot be served.", "zones")
	// syncErrors counts failed syncs with the database.
	syncErrors = counter("sync_errors_total", "Counter of failed syncs with the database.", "zones")
	// lastSync is the time of the last successful sync.
	lastSync = gauge("last_sync_timestamp_seconds", "Unix time of the last successful sync with the database.", "zones")
	// syncDuration is the time a sync takes, by kind: "full" (whole table) or "incremental" (change log).
	syncDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "sync_duration_seconds",
		Help:      "Histogram of the time a sync with the database takes, by kind (full or incremental).",
		Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"zones", "kind"})
	// changesApplied counts names re-read from the table because the change log named them.
	changesApplied = counter("changed_names_total", "Counter of names re-read from the table because the change log named them.", "zones")
	// fullReads counts full reads of the table, by reason (see docs/operations.md).
	fullReads = counter("full_reads_total", "Counter of full reads of the table, by reason.", "zones", "reason")
	// gapNumbers is how many change-log sequence numbers below the cursor have not been seen.
	gapNumbers = gauge("gap_numbers", "Number of change-log sequence numbers still waiting for a transaction to commit or to be proven finished.", "zones")
	// oldestGapAge is the age of the oldest gap: a long-open transaction shows here.
	oldestGapAge = gauge("oldest_gap_age_seconds", "Age of the oldest gap in the change log, 0 when there is none.", "zones")
	// gapsExpired counts gaps that outlived the gap timeout.
	gapsExpired = counter("gaps_expired_total", "Counter of change-log gaps that outlived the gap timeout and stopped holding the SOA serial back.", "zones")
	// snapshotSaved is when the snapshot file was last written (snapshot DIR).
	snapshotSaved = gauge("snapshot_saved_timestamp_seconds", "Unix time the snapshot file was last written.", "zones")
	// snapshotErrors counts snapshot files that could not be written.
	snapshotErrors = counter("snapshot_errors_total", "Counter of snapshot files that could not be written.", "zones")
)

// deleteSeries removes every series of the zones label, when no loader
// reports under it any more.
func deleteSeries(label string) {
	l := prometheus.Labels{"zones": label}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		recordsGauge, recordsByType, invalidRowsGauge, syncErrors, lastSync, syncDuration, changesApplied,
		fullReads, gapNumbers, oldestGapAge, gapsExpired, snapshotSaved, snapshotErrors,
	} {
		v.DeletePartialMatch(l)
	}
}

// Transfers are counted per zone (one series per zone of the Corefile).
var (
	// transfers counts zone transfers served, by kind: axfr, ixfr
	// (differences), ixfr_current (one SOA) or ixfr_full (the whole zone,
	// because the journal does not hold the client's serial).
	transfers = counter("transfers_total", "Counter of zone transfers served, by kind (axfr, ixfr, ixfr_current, ixfr_full).", "zone", "kind")
	// notifyErrors counts NOTIFY rounds a secondary did not acknowledge.
	notifyErrors = counter("notify_errors_total", "Counter of NOTIFY rounds for a zone that some secondary did not acknowledge.", "zone")
	// updatesTotal counts DNS UPDATE requests by zone, TSIG key ("" when
	// unsigned; only keys the tsig plugin verified appear) and result: the
	// reply's rcode in lower case (noerror, refused, formerr, yxdomain...),
	// or ratelimited.
	updatesTotal = counter("updates_total", "Counter of DNS UPDATE requests, by zone, TSIG key and result.", "zone", "key", "result")
)

// gauge registers a gauge of this plugin, with labels.
func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return promauto.NewGaugeVec(prometheus.GaugeOpts{Namespace: plugin.Namespace, Subsystem: pluginName, Name: name, Help: help}, labels)
}

// counter registers a counter of this plugin, with labels.
func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return promauto.NewCounterVec(prometheus.CounterOpts{Namespace: plugin.Namespace, Subsystem: pluginName, Name: name, Help: help}, labels)
}
