package dbrecords

import (
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Every collector is labelled by "zones": the space-separated zones of one
// dbrecords block, so its cardinality is bounded by the Corefile.
var (
	// recordsGauge is the number of records (A and AAAA RRs) being served.
	recordsGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "records",
		Help:      "Number of A and AAAA records being served.",
	}, []string{"zones"})
	// invalidRowsGauge is the number of table rows skipped because they cannot be served.
	invalidRowsGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "invalid_rows",
		Help:      "Number of table rows skipped because they cannot be served.",
	}, []string{"zones"})
	// syncErrors counts failed syncs with the database.
	syncErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "sync_errors_total",
		Help:      "Counter of failed syncs with the database.",
	}, []string{"zones"})
	// lastSync is the time of the last successful sync.
	lastSync = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "last_sync_timestamp_seconds",
		Help:      "Unix time of the last successful sync with the database.",
	}, []string{"zones"})
	// syncDuration is the time a sync takes, by kind: "full" (whole table) or "incremental" (change log).
	syncDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "sync_duration_seconds",
		Help:      "Histogram of the time a sync with the database takes, by kind (full or incremental).",
		Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"zones", "kind"})
	// changesApplied counts names re-read from the table because the change log named them.
	changesApplied = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "changed_names_total",
		Help:      "Counter of names re-read from the table because the change log named them.",
	}, []string{"zones"})
	// fullReads counts full reads of the table, by reason (see the README).
	fullReads = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "full_reads_total",
		Help:      "Counter of full reads of the table, by reason.",
	}, []string{"zones", "reason"})
	// gapNumbers is how many change-log sequence numbers below the cursor have not been seen.
	gapNumbers = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "gap_numbers",
		Help:      "Number of change-log sequence numbers still waiting for a transaction to commit or to be proven finished.",
	}, []string{"zones"})
	// oldestGapAge is the age of the oldest gap: a long-open transaction shows here.
	oldestGapAge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "oldest_gap_age_seconds",
		Help:      "Age of the oldest gap in the change log, 0 when there is none.",
	}, []string{"zones"})
	// gapsExpired counts gaps that outlived the gap timeout.
	gapsExpired = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "gaps_expired_total",
		Help:      "Counter of change-log gaps that outlived the gap timeout and stopped holding the SOA serial back.",
	}, []string{"zones"})
)

// deleteSeries removes every series of the zones label, when no loader
// reports under it any more.
func deleteSeries(label string) {
	l := prometheus.Labels{"zones": label}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		recordsGauge, invalidRowsGauge, syncErrors, lastSync, syncDuration, changesApplied,
		fullReads, gapNumbers, oldestGapAge, gapsExpired,
	} {
		v.DeletePartialMatch(l)
	}
}

// Transfers are counted per zone (one series per zone of the Corefile).
var (
	// transfers counts zone transfers served, by kind: axfr, ixfr
	// (differences), ixfr_current (one SOA) or ixfr_full (the whole zone,
	// because the journal does not hold the client's serial).
	transfers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "transfers_total",
		Help:      "Counter of zone transfers served, by kind (axfr, ixfr, ixfr_current, ixfr_full).",
	}, []string{"zone", "kind"})
	// notifyErrors counts NOTIFY rounds a secondary did not acknowledge.
	notifyErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "notify_errors_total",
		Help:      "Counter of NOTIFY rounds for a zone that some secondary did not acknowledge.",
	}, []string{"zone"})
)
