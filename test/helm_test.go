package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"
	"github.com/dbrecords/dbrecords/test/dnskey"

	"github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../deploy/helm/dbrecords"

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm runs the helm CLI: HELM_BINARY, or one built from test/tools (pinned there).
func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	helmOnce.Do(func() {
		if helmPath = os.Getenv("HELM_BINARY"); helmPath != "" {
			return
		}
		helmPath = filepath.Join(os.TempDir(), fmt.Sprintf("dbrecords-helm-%d", os.Getpid()))
		out, err := exec.Command("go", "build", "-C", "tools", "-o", helmPath, "helm.sh/helm/v3/cmd/helm").CombinedOutput()
		if err != nil {
			helmErr = fmt.Errorf("building helm: %v\n%s", err, out)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	cmd := exec.Command(helmPath, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Expected helm %s to succeed, got %v:\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// serviceMonitor is the part of the Prometheus operator's CRD the chart uses.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is the part of the Prometheus operator's CRD the chart uses.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// manifests is a rendered chart, decoded strictly: an unknown field fails.
type manifests struct {
	names        []string // every object's name
	job          *batchv1.Job
	rule         *prometheusRule
	dashboard    *corev1.ConfigMap
	deployment   *appsv1.Deployment
	statefulSet  *appsv1.StatefulSet
	configMap    *corev1.ConfigMap
	services     map[string]*corev1.Service
	secret       *corev1.Secret
	pdb          *policyv1.PodDisruptionBudget
	hpa          *autoscalingv2.HorizontalPodAutoscaler
	netpol       *networkingv1.NetworkPolicy
	monitor      *serviceMonitor
	raw          string
	serviceAccts int
}

func render(t *testing.T, args ...string) manifests {
	t.Helper()
	return decodeManifests(t, helm(t, append([]string{"template", "dns", chartDir, "--namespace", "dns"}, args...)...))
}

// decodeManifests decodes helm template's output strictly.
func decodeManifests(t *testing.T, out []byte) manifests {
	t.Helper()
	m := manifests{services: map[string]*corev1.Service{}, raw: string(out)}
	for doc := range strings.SplitSeq(string(out), "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
			continue
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("Expected YAML, got %v in:\n%s", err, doc)
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(js, &tm); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch tm.Kind {
		case "Deployment":
			m.deployment = &appsv1.Deployment{}
			obj = m.deployment
		case "StatefulSet":
			m.statefulSet = &appsv1.StatefulSet{}
			obj = m.statefulSet
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			if strings.Contains(doc, "-dashboard\n") {
				m.dashboard = cm
			} else {
				m.configMap = cm
			}
			obj = cm
		case "Job":
			m.job = &batchv1.Job{}
			obj = m.job
		case "PrometheusRule":
			m.rule = &prometheusRule{}
			obj = m.rule
		case "Secret":
			m.secret = &corev1.Secret{}
			obj = m.secret
		case "Service":
			obj = &corev1.Service{}
		case "ServiceAccount":
			m.serviceAccts++
			obj = &corev1.ServiceAccount{}
		case "PodDisruptionBudget":
			m.pdb = &policyv1.PodDisruptionBudget{}
			obj = m.pdb
		case "HorizontalPodAutoscaler":
			m.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			obj = m.hpa
		case "NetworkPolicy":
			m.netpol = &networkingv1.NetworkPolicy{}
			obj = m.netpol
		case "ServiceMonitor":
			m.monitor = &serviceMonitor{}
			obj = m.monitor
		default:
			t.Fatalf("Expected only known kinds, got %s %s", tm.APIVersion, tm.Kind)
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj); err != nil {
			t.Fatalf("Expected %s to decode strictly, got %v", tm.Kind, err)
		}
		if svc, ok := obj.(*corev1.Service); ok {
			m.services[svc.Name] = svc
		}
		if o, ok := obj.(metav1.Object); ok {
			m.names = append(m.names, o.GetName())
		}
	}
	return m
}

func TestChartLint(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", "helm/values-ha.yaml"}, {"--set", "snapshot.enabled=true,snapshot.persistent.enabled=true"}} {
		out := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...)
		if !strings.Contains(string(out), "0 chart(s) failed") {
			t.Errorf("Expected helm lint %v to pass, got:\n%s", args, out)
		}
	}
}

// TestChartDefaults checks what the default values deploy.
func TestChartDefaults(t *testing.T) {
	m := render(t)
	d := m.deployment
	if d == nil || m.configMap == nil || m.pdb == nil || m.services["dns-dbrecords"] == nil || m.services["dns-dbrecords-metrics"] == nil {
		t.Fatalf("Expected a Deployment, ConfigMap, PDB and two Services, got:\n%s", m.raw)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("Expected 3 replicas, got %v", d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("Expected a rolling update with maxUnavailable 0, got %+v", d.Spec.Strategy)
	}
	pod := d.Spec.Template.Spec
	if len(pod.TopologySpreadConstraints) != 2 || pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil {
		t.Errorf("Expected spreading over zones and nodes and pod anti-affinity, got %+v / %+v", pod.TopologySpreadConstraints, pod.Affinity)
	}
	c := pod.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/ready" || c.ReadinessProbe.HTTPGet.Port.IntValue() != 8181 {
		t.Errorf("Expected readiness on the ready plugin (/ready on 8181), got %+v", c.ReadinessProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/health" || c.LivenessProbe.HTTPGet.Port.IntValue() != 8080 {
		t.Errorf("Expected liveness on the health plugin (/health on 8080), got %+v", c.LivenessProbe)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("Expected a read-only root, all capabilities dropped and none added, got %+v", sc)
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("Expected runAsNonRoot, got %+v", psc)
	}
	if d.Spec.Template.Annotations["checksum/config"] == "" {
		t.Errorf("Expected a checksum/config annotation, got %v", d.Spec.Template.Annotations)
	}
	var secretVol *corev1.SecretVolumeSource
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secretVol = v.Secret
		}
	}
	if secretVol == nil || secretVol.SecretName != "dbrecords-dsn" || m.secret != nil {
		t.Errorf("Expected the DSN from the existing Secret dbrecords-dsn and no Secret of the chart's, got %+v", secretVol)
	}
	svc := m.services["dns-dbrecords"]
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Port != 53 || svc.Spec.Ports[0].Protocol != corev1.ProtocolUDP || svc.Spec.Ports[1].Protocol != corev1.ProtocolTCP {
		t.Errorf("Expected a ClusterIP Service on 53/UDP and 53/TCP, got %+v", svc.Spec)
	}
	if m.hpa != nil || m.netpol != nil || m.monitor != nil {
		t.Errorf("Expected no HPA, NetworkPolicy or ServiceMonitor by default")
	}
	if !strings.Contains(m.configMap.Data["Corefile"], "dsn_file /etc/dbrecords/dsn") || !strings.Contains(m.configMap.Data["Corefile"], "reload") {
		t.Errorf("Expected a Corefile reading the DSN from the mounted Secret, with reload, got:\n%s", m.configMap.Data["Corefile"])
	}
	if lim, env := c.Resources.Limits.Memory().String(), c.Env; lim != "248Mi" || c.Resources.Requests.Memory().String() != "124Mi" || len(env) != 1 || env[0].Value != "198MiB" {
		t.Errorf("Expected memory 124Mi/248Mi and GOMEMLIMIT 198MiB for a million names, got %v/%s and %v", c.Resources.Requests.Memory(), lim, env)
	}
	if !strings.Contains(m.configMap.Data["Corefile"], "lameduck 5s") || pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 5 {
		t.Errorf("Expected health with lameduck 5s and a longer termination grace period, got %v and:\n%s", pod.TerminationGracePeriodSeconds, m.configMap.Data["Corefile"])
	}
}

// TestChartSizing: resources follow expectedNames unless set.
func TestChartSizing(t *testing.T) {
	c := render(t, "--set", "expectedNames=10000000").deployment.Spec.Template.Spec.Containers[0]
	if lim := c.Resources.Limits.Memory().String(); lim != "1328Mi" || c.Env[0].Value != "1062MiB" {
		t.Errorf("Expected a 1328Mi limit and GOMEMLIMIT 1062MiB for 10 million names, got %s and %s", lim, c.Env[0].Value)
	}
	c = render(t, "-f", "helm/values-ha.yaml").deployment.Spec.Template.Spec.Containers[0]
	if lim := c.Resources.Limits.Memory().String(); lim != "1Gi" || c.Env[0].Value != "800MiB" {
		t.Errorf("Expected the values file's 1Gi and 800MiB to win, got %s and %s", lim, c.Env[0].Value)
	}
}

// TestChartHA renders the non-trivial values file.
func TestChartHA(t *testing.T) {
	m := render(t, "-f", "helm/values-ha.yaml")
	if m.hpa == nil || m.hpa.Spec.MaxReplicas != 12 || m.deployment.Spec.Replicas != nil {
		t.Errorf("Expected an HPA (3-12) owning the replica count, got %+v and replicas %v", m.hpa, m.deployment.Spec.Replicas)
	}
	if m.netpol == nil || m.monitor == nil || m.monitor.Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("Expected a NetworkPolicy and a ServiceMonitor on the metrics port")
	}
	svc := m.services["dns-dbrecords"]
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("Expected a LoadBalancer with externalTrafficPolicy Local, got %+v", svc.Spec)
	}
	pod := m.deployment.Spec.Template.Spec
	if pod.PriorityClassName != "system-cluster-critical" || pod.Containers[0].Image != "registry.example.org/dns/dbrecords:1.15.0-dbrecords.1" {
		t.Errorf("Expected the priority class and image from the values, got %q and %q", pod.PriorityClassName, pod.Containers[0].Image)
	}
	corefile := m.configMap.Data["Corefile"]
	for _, want := range []string{"example.org:1053 example.net:1053 {", "table hosts_v2", "refresh 500ms", "reconcile 1h", "ns ns1.example.org ns2.example.org", "fallthrough", "whoami", "galera_nodes 127.0.0.1:3306"} {
		if !strings.Contains(corefile, want) {
			t.Errorf("Expected the Corefile to contain %q, got:\n%s", want, corefile)
		}
	}
}

// TestChartPersistentSnapshot: snapshot files on a volume per replica make
// the chart a StatefulSet (its HPA scaling that) with a claim per pod
// instead of the emptyDir, named by the headless Service; without
// persistent it stays a Deployment with an emptyDir.
func TestChartPersistentSnapshot(t *testing.T) {
	m := render(t, "--set", "snapshot.enabled=true", "--set", "snapshot.persistent.enabled=true", "--set", "snapshot.persistent.size=2Gi",
		"--set", "snapshot.persistent.storageClassName=fast", "--set", "autoscaling.enabled=true")
	ss := m.statefulSet
	if ss == nil || m.deployment != nil {
		t.Fatalf("Expected a StatefulSet and no Deployment, got:\n%s", m.raw)
	}
	if ss.Spec.ServiceName != "dns-dbrecords-headless" || m.services[ss.Spec.ServiceName] == nil || ss.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("Expected the headless Service as the StatefulSet's and parallel pods, got %q, %q", ss.Spec.ServiceName, ss.Spec.PodManagementPolicy)
	}
	if len(ss.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("Expected one volume claim template, got %+v", ss.Spec.VolumeClaimTemplates)
	}
	pvc := ss.Spec.VolumeClaimTemplates[0]
	if pvc.Name != "snapshot" || pvc.Spec.Resources.Requests.Storage().String() != "2Gi" || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "fast" {
		t.Errorf("Expected a 2Gi claim named snapshot of class fast, got %+v", pvc)
	}
	mounted := false
	for _, vm := range ss.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounted = mounted || vm.Name == "snapshot" && vm.MountPath == "/var/lib/dbrecords"
	}
	for _, v := range ss.Spec.Template.Spec.Volumes {
		if v.Name == "snapshot" {
			t.Errorf("Expected the claim, not a volume of the pod, for the snapshot, got %+v", v)
		}
	}
	if !mounted || !strings.Contains(m.configMap.Data["Corefile"], "snapshot /var/lib/dbrecords") {
		t.Errorf("Expected the claim mounted where the Corefile's snapshot directory is, got:\n%s", m.configMap.Data["Corefile"])
	}
	if m.hpa == nil || m.hpa.Spec.ScaleTargetRef.Kind != "StatefulSet" {
		t.Errorf("Expected the HPA to scale the StatefulSet, got %+v", m.hpa)
	}
	m = render(t, "--set", "snapshot.enabled=true")
	if m.deployment == nil || m.statefulSet != nil {
		t.Fatalf("Expected a Deployment without snapshot.persistent, got:\n%s", m.raw)
	}
	emptyDir := false
	for _, v := range m.deployment.Spec.Template.Spec.Volumes {
		emptyDir = emptyDir || v.Name == "snapshot" && v.EmptyDir != nil
	}
	if !emptyDir {
		t.Errorf("Expected the snapshot in an emptyDir, got %+v", m.deployment.Spec.Template.Spec.Volumes)
	}
}

// TestChartSecretHandling: a DSN given as a value goes into a Secret only, and
// a change of the Corefile changes the checksum that rolls the pods.
func TestChartSecretHandling(t *testing.T) {
	m := render(t, "--set", "dsn.value=app:Sup3r-s3cret@tcp(db:3306)/dns")
	if m.secret == nil || string(m.secret.Data["dsn"]) != "app:Sup3r-s3cret@tcp(db:3306)/dns" {
		t.Fatalf("Expected a Secret holding the DSN, got %+v", m.secret)
	}
	if strings.Contains(m.configMap.Data["Corefile"], "Sup3r") {
		t.Errorf("Expected no password in the ConfigMap")
	}
	for _, c := range m.deployment.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if strings.Contains(e.Value, "Sup3r") {
				t.Errorf("Expected no password in the environment, got %s", e.Name)
			}
		}
	}
	other := render(t, "--set", "dbrecords.zones={example.com}")
	if m.deployment.Spec.Template.Annotations["checksum/config"] == other.deployment.Spec.Template.Annotations["checksum/config"] {
		t.Errorf("Expected checksum/config to change with the zones")
	}
}

// TestChartCorefileRuns starts the Corefile each values file renders with the
// real ./coredns against MariaDB: the chart cannot ship a Corefile that does not run.
func TestChartCorefileRuns(t *testing.T) {
	for _, tc := range []struct {
		name, table string
		args, zones []string
	}{
		{name: "default", table: "dns_records", zones: []string{"example.org."}},
		{name: "ha", table: "hosts_v2", args: []string{"-f", "helm/values-ha.yaml"}, zones: []string{"example.org.", "example.net."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, dsn := newDB(t)
			if err := dbsetup.ApplySchema(t.Context(), db, tc.table); err != nil {
				t.Fatal(err)
			}
			exec1(t, db, "INSERT INTO "+tc.table+" (name, type, content) VALUES ('www.example.org', 'A', '192.0.2.1')")
			dsnFile := filepath.Join(t.TempDir(), "dsn")
			if err := os.WriteFile(dsnFile, []byte(dsn), 0o600); err != nil {
				t.Fatal(err)
			}
			// The TSIG keys as tsig-keygen writes them, and this test's
			// address among the secondaries.
			tsigFile := filepath.Join(t.TempDir(), "tsig.conf")
			keys := fmt.Sprintf("key %q {\n\talgorithm hmac-sha256;\n\tsecret %q;\n};\n", tsigName, tsigSecret)
			if err := os.WriteFile(tsigFile, []byte(keys), 0o600); err != nil {
				t.Fatal(err)
			}
			updateKeys := filepath.Join(t.TempDir(), "tsig.conf")
			keys = fmt.Sprintf("key %q {\n\talgorithm hmac-sha256;\n\tsecret %q;\n};\nkey %q {\n\tsecret %q;\n};\n", acmeKey, acmeSecret, "external-dns.", appsSecret)
			if err := os.WriteFile(updateKeys, []byte(keys), 0o600); err != nil {
				t.Fatal(err)
			}
			// The DNSSEC key as the Secret holds it: ksk.key and ksk.private.
			keyDir := t.TempDir()
			base, key, err := dnskey.Write(keyDir, "example.org.", dns.ECDSAP256SHA256, 257)
			if err != nil {
				t.Fatal(err)
			}
			for _, ext := range []string{".key", ".private"} {
				if err := os.Rename(base+ext, filepath.Join(keyDir, "ksk"+ext)); err != nil {
					t.Fatal(err)
				}
			}
			snapDir := t.TempDir()
			corefile := render(t, tc.args...).configMap.Data["Corefile"]
			corefile = strings.NewReplacer("/etc/dbrecords/dsn", dsnFile, ":1053", ":{DNS}", "prometheus :9153", "prometheus {METRICS}",
				"ready :8181", "ready {READY}", "health :8080", fmt.Sprintf("health 127.0.0.1:%d", freePort(t)),
				"/etc/dbrecords-tsig/tsig.conf", tsigFile, "/etc/dbrecords-writer/dsn", dsnFile, "/etc/dbrecords-update-tsig/tsig.conf", updateKeys, "to 192.0.2.53", "to 127.0.0.1 192.0.2.53",
				"/etc/dbrecords-dnssec/", keyDir+"/", "/var/lib/dbrecords", snapDir).Replace(corefile)
			s := startCorefile(t, corefile)
			s.waitReady(t)
			for _, name := range []string{"www.example.org.", "WWW.Example.org."} {
				waitFor(t, 5*time.Second, name+" from the chart's Corefile", func() bool { return answerA(t, s, name) == "192.0.2.1" })
			}
			for _, zone := range tc.zones {
				if resp := query(t, s.dns, "udp", zone, dns.TypeSOA); len(resp.Answer) != 1 || !resp.Authoritative {
					t.Errorf("Expected an authoritative SOA for %s on the chart's DNS port, got %v", zone, resp)
				}
			}
			if tc.name == "ha" { // answers signed with the key from the Secret
				m := new(dns.Msg)
				m.SetQuestion("www.example.org.", dns.TypeA)
				m.SetEdns0(1232, true)
				r, err := dns.Exchange(m, s.dns)
				var sig *dns.RRSIG
				if err == nil && len(r.Answer) == 2 {
					sig, _ = r.Answer[1].(*dns.RRSIG)
				}
				if sig == nil || sig.Verify(key, r.Answer[:1]) != nil {
					t.Errorf("Expected an answer signed with the chart's DNSSEC key, got %v, %v", r, err)
				}
			}
			if tc.name == "ha" { // DNS UPDATE with the allow rules of the values and the key from the Secret
				script := "zone example.org\nupdate add _acme-challenge.example.org 60 TXT chart"
				if rcode, out := nsupdate(t, s, acmeKey, acmeSecret, script); rcode != "NOERROR" {
					t.Errorf("Expected an update through the chart's Corefile, got %s:\n%s", rcode, out)
				}
				var n int
				if err := db.QueryRow("SELECT COUNT(*) FROM " + tc.table + " WHERE type = 'TXT'").Scan(&n); err != nil || n != 1 {
					t.Errorf("Expected the update's row in %s, got %d, %v", tc.table, n, err)
				}
				if rcode, _ := nsupdate(t, s, acmeKey, acmeSecret, "zone example.org\nupdate add www.example.org 60 TXT no"); rcode != "REFUSED" {
					t.Errorf("Expected acme-key. refused outside its rule, got %s", rcode)
				}
			}
			if tc.name == "ha" { // the snapshot file in the emptyDir, written at shutdown at the latest
				defer func() {
					s.stop()
					if files, _ := filepath.Glob(filepath.Join(snapDir, "hosts_v2-*.snapshot")); len(files) != 1 {
						t.Errorf("Expected the chart's replica to write its snapshot file, got %v", files)
					}
				}()
			}
			if tc.name == "ha" { // transfers to secondaries, signed with the key from the Secret
				if rrs, err := xfr(t, s.dns, "example.org.", 0, tsigName); err != nil || len(rrs) < 4 {
					t.Errorf("Expected a signed AXFR with the chart's TSIG configuration, got %v, %v", texts(rrs), err)
				}
				if rrs, err := xfr(t, s.dns, "example.org.", 0, ""); err == nil && len(rrs) > 0 {
					t.Errorf("Expected an unsigned AXFR to be refused, got %v", texts(rrs))
				}
			}
		})
	}
}
