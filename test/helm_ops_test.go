package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// helmFails runs helm expecting a failure and returns its error output.
func helmFails(t *testing.T, args ...string) string {
	t.Helper()
	helm(t, "version") // builds helm when needed
	cmd := exec.Command(helmPath, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("Expected helm %s to fail, it succeeded", strings.Join(args, " "))
	}
	return stderr.String()
}

// TestChartValuesSchema: values.schema.json rejects bad values at render
// time, naming them, instead of at apply.
func TestChartValuesSchema(t *testing.T) {
	for set, want := range map[string]string{
		"replicaCount=abc":                                 "/replicaCount",
		"service.type=Loadbalancer":                        "/service/type",
		"dbrecords.table=dns-records":                      "/dbrecords/table",
		"dnsPort=70000":                                    "/dnsPort",
		"dbrecords.ixfrJournal=8MB":                        "/dbrecords/ixfrJournal",
		"service.ipFamilyPolicy=Dual":                      "/service/ipFamilyPolicy",
		"dbrecords.refresh=soon":                           "/dbrecords/refresh",
		"schemaJob.enabled=true,schemaJob.existingSecret=": "/schemaJob/existingSecret",
	} {
		out := helmFails(t, "template", "dns", chartDir, "--set", set)
		if !strings.Contains(out, "schema") || !strings.Contains(out, want) {
			t.Errorf("Expected --set %s to be refused naming %s, got:\n%s", set, want, out)
		}
	}
	if out := helmFails(t, "template", "dns", chartDir, "--set", "metrics.service.enabled=false,metrics.serviceMonitor.enabled=true"); !strings.Contains(out, "needs metrics.service.enabled") {
		t.Errorf("Expected a ServiceMonitor without the metrics Service refused, got:\n%s", out)
	}
	if out := helmFails(t, "template", "dns", chartDir, "--set", "updates.enabled=true"); !strings.Contains(out, "updates.allow must list at least one rule") {
		t.Errorf("Expected updates without allow rules refused, got:\n%s", out)
	}
	if out := helmFails(t, "template", "dns", chartDir, "--set", "updates.maxRecords=0"); !strings.Contains(out, "/updates/maxRecords") {
		t.Errorf("Expected updates.maxRecords=0 refused by the schema, got:\n%s", out)
	}
}

// TestChartNamesFit: a 51-character release name gives names that fit a
// DNS label (63), suffixes included.
func TestChartNamesFit(t *testing.T) {
	release := strings.Repeat("r", 51)
	out := helm(t, "template", release, chartDir, "--set", "schemaJob.enabled=true,service.splitProtocols=true,metrics.dashboard.enabled=true,metrics.prometheusRule.enabled=true,metrics.serviceMonitor.enabled=true")
	m := decodeManifests(t, out)
	if len(m.names) < 8 {
		t.Fatalf("Expected the objects rendered, got %v", m.names)
	}
	for _, n := range m.names {
		if len(n) > 63 {
			t.Errorf("Expected names of at most 63 characters, got %d: %s", len(n), n)
		}
	}
}

// TestChartServiceOptions: the public-DNS Service options, one Service per
// protocol, the metrics annotation following metricsPort, and the
// extension points reaching the pod.
func TestChartServiceOptions(t *testing.T) {
	m := render(t, "--set", "service.type=LoadBalancer,service.splitProtocols=true,service.loadBalancerClass=example.org/lb,"+
		"service.loadBalancerSourceRanges={192.0.2.0/24},service.ipFamilyPolicy=PreferDualStack,service.ipFamilies={IPv4,IPv6},metricsPort=9999",
		"--set-json", `env=[{"name":"TZ","value":"UTC"}]`,
		"--set-json", `extraVolumes=[{"name":"ca","secret":{"secretName":"mysql-ca"}}]`,
		"--set-json", `extraVolumeMounts=[{"name":"ca","mountPath":"/etc/mysql-ca"}]`,
		"--set-json", `extraContainers=[{"name":"proxy","image":"example.org/cloud-sql-proxy:2"}]`,
		"--set-json", `initContainers=[{"name":"wait","image":"example.org/wait:1"}]`)
	udp, tcp := m.services["dns-dbrecords-udp"], m.services["dns-dbrecords-tcp"]
	if udp == nil || tcp == nil || len(udp.Spec.Ports) != 1 || udp.Spec.Ports[0].Protocol != "UDP" || len(tcp.Spec.Ports) != 1 || tcp.Spec.Ports[0].Protocol != "TCP" {
		t.Fatalf("Expected one Service per protocol, got %v", m.names)
	}
	if udp.Spec.LoadBalancerClass == nil || *udp.Spec.LoadBalancerClass != "example.org/lb" || len(udp.Spec.LoadBalancerSourceRanges) != 1 ||
		udp.Spec.IPFamilyPolicy == nil || *udp.Spec.IPFamilyPolicy != "PreferDualStack" || len(udp.Spec.IPFamilies) != 2 {
		t.Errorf("Expected the load balancer and IP family options, got %+v", udp.Spec)
	}
	if got := m.services["dns-dbrecords-metrics"].Annotations["prometheus.io/port"]; got != "9999" {
		t.Errorf("Expected prometheus.io/port to follow metricsPort, got %q", got)
	}
	pod := m.deployment.Spec.Template.Spec
	c := pod.Containers[0]
	if len(pod.Containers) != 2 || len(pod.InitContainers) != 1 || len(c.Env) != 2 || c.Env[1].Name != "TZ" ||
		c.VolumeMounts[len(c.VolumeMounts)-1].MountPath != "/etc/mysql-ca" || pod.Volumes[len(pod.Volumes)-1].Name != "ca" {
		t.Errorf("Expected env, volumes, mounts, a sidecar and an init container, got %+v", pod)
	}
	if !strings.Contains(m.configMap.Data["Corefile"], "lameduck 5s") {
		t.Errorf("Expected the drain settings in the Corefile, got:\n%s", m.configMap.Data["Corefile"])
	}
}

// TestChartSchemaJob: the pre-install Job's command, run as rendered (with
// the admin command and the DSN file of this machine), applies the schema.
func TestChartSchemaJob(t *testing.T) {
	m := render(t, "--set", "schemaJob.enabled=true,dbrecords.table=hosts_job")
	if m.job == nil || m.job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
		t.Fatalf("Expected a pre-install/pre-upgrade Job, got %v", m.job)
	}
	c := m.job.Spec.Template.Spec.Containers[0]
	if c.Command[0] != "/dbrecords" || c.VolumeMounts[0].MountPath != "/etc/dbrecords-admin" {
		t.Fatalf("Expected /dbrecords with the admin DSN mounted, got %v", c)
	}
	db, dsn := newDB(t)
	exec1(t, db, "DROP TABLE dns_records, dns_records_changes, dns_records_prune")
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	args := make([]string, len(c.Command)-1)
	for i, a := range c.Command[1:] {
		args[i] = strings.Replace(a, "/etc/dbrecords-admin/dsn", dsnFile, 1)
	}
	out, err := exec.Command(admin, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "GRANT SELECT ON") {
		t.Fatalf("Expected the Job's command to apply the schema, got %v:\n%s", err, out)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM hosts_job_changes").Scan(&n); err != nil {
		t.Errorf("Expected the Job to create hosts_job_changes, got %v", err)
	}
}

// TestChartMonitoring: the PrometheusRule has the alerts of docs/operations.md, the
// dashboard is valid JSON for Grafana's sidecar, every expression parses
// (Prometheus's own parser, bin/promql), and every metric they name exists
// on a running replica's /metrics.
func TestChartMonitoring(t *testing.T) {
	m := render(t, "--set", "metrics.prometheusRule.enabled=true,metrics.dashboard.enabled=true")
	if m.rule == nil || m.dashboard == nil || m.dashboard.Labels["grafana_dashboard"] != "1" {
		t.Fatalf("Expected a PrometheusRule and a dashboard ConfigMap with the sidecar label, got %v / %v", m.rule, m.dashboard)
	}
	var exprs []string
	alerts := map[string]bool{}
	for _, g := range m.rule.Spec.Groups {
		for _, r := range g.Rules {
			exprs, alerts[r.Alert] = append(exprs, r.Expr), true
		}
	}
	for _, a := range []string{"DBRecordsStale", "DBRecordsSyncErrors", "DBRecordsNotLoaded", "DBRecordsInvalidRows", "DBRecordsTransactionHeldOpen", "DBRecordsGapsExpired", "DBRecordsInexactReads"} {
		if !alerts[a] {
			t.Errorf("Expected alert %s, got %v", a, alerts)
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(m.dashboard.Data["dbrecords.json"]), &dash); err != nil || len(dash.Panels) < 6 {
		t.Fatalf("Expected the dashboard's JSON with panels, got %v (%d panels)", err, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	names := promqlNames(t, exprs)

	// A replica that has answered queries and a transfer, and has a secondary to notify.
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	s := startCorefile(t, transferBlock(dsn, []string{newNotifyCatcher(t, false).addr}))
	s.waitReady(t)
	answerA(t, s, "www.example.org.")
	if _, err := xfr(t, s.dns, "example.org.", 0, ""); err != nil {
		t.Fatal(err)
	}
	scraped := strings.Join(s.metricLines(t, ""), "\n")
	for name := range names {
		if name == "process_start_time_seconds" && !strings.Contains(scraped, "\n"+name+" ") {
			t.Errorf("Expected %s on /metrics", name)
			continue
		}
		if !strings.Contains(scraped, "\n"+name+"{") && !strings.Contains(scraped, "\n"+name+" ") {
			t.Errorf("Expected metric %s (named by an alert or the dashboard) on a replica's /metrics, it is not there", name)
		}
	}
}

var (
	promqlOnce sync.Once
	promqlPath string
	promqlErr  error
)

// promqlNames parses exprs with Prometheus's parser (bin/promql from
// test/tools) and returns the metric names they select.
func promqlNames(t *testing.T, exprs []string) map[string]bool {
	t.Helper()
	promqlOnce.Do(func() {
		if promqlPath = os.Getenv("PROMQL_BINARY"); promqlPath != "" {
			return
		}
		promqlPath = filepath.Join(os.TempDir(), fmt.Sprintf("dbrecords-promql-%d", os.Getpid()))
		if out, err := exec.Command("go", "build", "-C", "tools", "-o", promqlPath, "./promql").CombinedOutput(); err != nil {
			promqlErr = fmt.Errorf("building promql: %v\n%s", err, out)
		}
	})
	if promqlErr != nil {
		t.Fatal(promqlErr)
	}
	cmd := exec.Command(promqlPath)
	cmd.Stdin = strings.NewReader(strings.Join(exprs, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Expected every expression to parse, got %v:\n%s", err, out)
	}
	names := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		names[f] = true
	}
	if len(names) < 8 {
		t.Fatalf("Expected the expressions to name the plugin's metrics, got %v", names)
	}
	return names
}

// TestChartHardening: no pod annotation is derived from the DSN (a visible
// hash of a password can be guessed offline); the Corefile caps UDP replies
// at 1232 bytes; with transfers, a LoadBalancer keeps the secondaries'
// addresses (externalTrafficPolicy Local; Cluster is refused); the
// NetworkPolicy lets DNS out to the cluster's resolver only, NOTIFY out to
// each secondary on its port, and metrics in from this namespace unless told.
func TestChartHardening(t *testing.T) {
	a := render(t, "--set", "dsn.value=app:Sup3r-s3cret@tcp(db:3306)/dns")
	b := render(t, "--set", "dsn.value=app:0ther-s3cret@tcp(db:3306)/dns")
	if !maps.Equal(a.deployment.Spec.Template.Annotations, b.deployment.Spec.Template.Annotations) {
		t.Errorf("Expected no pod annotation to depend on the DSN, got %v and %v", a.deployment.Spec.Template.Annotations, b.deployment.Spec.Template.Annotations)
	}
	if !strings.Contains(a.configMap.Data["Corefile"], "bufsize 1232") {
		t.Errorf("Expected bufsize 1232 in the Corefile, got:\n%s", a.configMap.Data["Corefile"])
	}

	m := render(t, "--set", "service.type=LoadBalancer,transfer.to={192.0.2.53,[2001:db8::53]:5353},networkPolicy.enabled=true")
	if p := m.services["dns-dbrecords"].Spec.ExternalTrafficPolicy; p != "Local" {
		t.Errorf("Expected externalTrafficPolicy Local with transfer.to, got %q", p)
	}
	if out := helmFails(t, "template", "dns", chartDir, "--set", "service.type=LoadBalancer,service.externalTrafficPolicy=Cluster,transfer.to={192.0.2.53}"); !strings.Contains(out, "hides the secondaries' addresses") {
		t.Errorf("Expected Cluster with transfer.to refused with the reason, got %s", out)
	}

	np := m.netpol
	if np == nil {
		t.Fatal("Expected a NetworkPolicy")
	}
	var notify []string
	for _, e := range np.Spec.Egress {
		for _, p := range e.Ports {
			if p.Port.IntValue() == 53 && len(e.To) > 0 && e.To[0].IPBlock == nil && e.To[0].PodSelector == nil {
				t.Errorf("Expected DNS egress to the resolver's pods only, got %+v", e.To)
			}
			if len(e.To) == 0 && p.Port.IntValue() != 3306 {
				t.Errorf("Expected no egress on port %d to any address, got %+v", p.Port.IntValue(), e)
			}
			if len(e.To) == 1 && e.To[0].IPBlock != nil {
				notify = append(notify, fmt.Sprintf("%s %d", e.To[0].IPBlock.CIDR, p.Port.IntValue()))
			}
		}
	}
	if strings.Join(notify, ", ") != "192.0.2.53/32 53, 2001:db8::53/128 5353" {
		t.Errorf("Expected NOTIFY egress to each secondary on its port, got %v", notify)
	}
	for _, in := range np.Spec.Ingress {
		if in.Ports[0].Port.IntValue() == 9153 && len(in.From) == 0 {
			t.Errorf("Expected the metrics port closed to other namespaces when metricsFrom is empty, got %+v", in)
		}
	}
}
