package main

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The deploy manifests run the binary with flags nobody types by hand, and
// the Kubernetes one has no cluster to run on here: these tests hold both to
// the CLI they start, so a renamed or removed flag fails here rather than
// at a user's kubectl apply.

// parseCohortArgs parses args (a subcommand and its flags, as a container
// runs /cohort) with the real command tree, without running anything.
func parseCohortArgs(t *testing.T, args []string) error {
	t.Helper()
	root := newRootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return fmt.Errorf("find command %q: %w", args, err)
	}
	if cmd == root {
		return fmt.Errorf("%q names no cohort command", args)
	}
	// $(POD_NAME)-style references are expanded by Kubernetes; any value
	// stands for them here.
	expanded := make([]string, len(rest))
	for i, a := range rest {
		expanded[i] = strings.NewReplacer("$(POD_NAME)", "pod-0", "$(POD_IP)", "10.0.0.1").Replace(a)
	}
	if err := cmd.ParseFlags(expanded); err != nil {
		return fmt.Errorf("%s: %w", cmd.Name(), err)
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return fmt.Errorf("%s: %w", cmd.Name(), err)
	}
	return nil
}

// flagPort returns the port of a --name=host:port argument, or "".
func flagPort(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			if _, port, err := net.SplitHostPort(v); err == nil {
				return port
			}
		}
	}
	return ""
}

// TestComposeCommands ensures every service of deploy/compose.yaml runs a
// cohort command whose flags parse.
func TestComposeCommands(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Command []string `json:"command"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	if len(doc.Services) < 9 {
		t.Fatalf("deploy/compose.yaml: %d services, want the 3 etcd members, 2 coordinators and 4 workers", len(doc.Services))
	}
	for name, svc := range doc.Services {
		if len(svc.Command) == 0 {
			t.Errorf("service %s: no command", name)
			continue
		}
		if err := parseCohortArgs(t, svc.Command); err != nil {
			t.Errorf("deploy/compose.yaml service %s: %v", name, err)
		}
	}
}

// k8sObject is the part of a Kubernetes object these checks read.
type k8sObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Selector    map[string]any `json:"selector"` // Service: labels; workloads: matchLabels
		ServiceName string         `json:"serviceName"`
		Ports       []struct {
			Port int `json:"port"`
		} `json:"ports"`
		Template struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Containers []k8sContainer `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type k8sContainer struct {
	Name  string   `json:"name"`
	Args  []string `json:"args"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	ReadinessProbe *k8sProbe `json:"readinessProbe"`
	LivenessProbe  *k8sProbe `json:"livenessProbe"`
	StartupProbe   *k8sProbe `json:"startupProbe"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `json:"path"`
		Port any    `json:"port"`
	} `json:"httpGet"`
}

// probePaths are the paths each kind of probe may ask a cohort process:
// liveness only /livez, which never depends on etcd (a liveness probe on
// /healthz restarted every worker during an etcd outage); readiness the
// etcd-dependent checks.
var probePaths = map[string][]string{
	"liveness":  {"/livez"},
	"startup":   {"/livez"},
	"readiness": {"/readyz", "/healthz"},
}

// etcdProbePaths are the same for cohort etcd: etcd's /livez is a local
// read, /readyz and /health need a quorum.
var etcdProbePaths = map[string][]string{
	"liveness":  {"/livez"},
	"startup":   {"/livez"},
	"readiness": {"/readyz", "/health"},
}

// urlFlagPort returns the port of the first URL of a --name=URL[,URL]
// argument, or "".
func urlFlagPort(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			if u, err := url.Parse(strings.Split(v, ",")[0]); err == nil {
				return u.Port()
			}
		}
	}
	return ""
}

// TestKubernetesManifest checks deploy/k8s/cohort.yaml where no cluster
// can: every container's cohort command parses, its --listen and
// --health-addr ports are declared container ports, it has liveness and
// readiness probes on the health port (cohort etcd: the client port), the
// liveness probe on /livez and the readiness probe on /readyz, every
// workload's selector matches its pod labels, and every Service selects
// pods some workload makes.
func TestKubernetesManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "k8s", "cohort.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var objs []k8sObject
	for i, part := range bytes.Split(raw, []byte("\n---")) {
		if len(bytes.TrimSpace(part)) == 0 {
			continue
		}
		var o k8sObject
		if err := yaml.Unmarshal(part, &o); err != nil {
			t.Fatalf("deploy/k8s/cohort.yaml document %d: %v", i+1, err)
		}
		if o.Kind == "" {
			continue // comments only
		}
		objs = append(objs, o)
	}
	podLabels := map[string]map[string]string{}
	workloads := 0
	for _, o := range objs {
		if o.Kind != "Deployment" && o.Kind != "StatefulSet" {
			continue
		}
		workloads++
		at := o.Kind + " " + o.Metadata.Name
		labels := o.Spec.Template.Metadata.Labels
		podLabels[at] = labels
		match, _ := o.Spec.Selector["matchLabels"].(map[string]any)
		if len(match) == 0 {
			t.Errorf("%s: no selector.matchLabels", at)
		}
		for k, v := range match {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%v does not match the pod label %q", at, k, v, labels[k])
			}
		}
		for _, c := range o.Spec.Template.Spec.Containers {
			cat := at + " container " + c.Name
			if err := parseCohortArgs(t, c.Args); err != nil {
				t.Errorf("%s: %v", cat, err)
				continue
			}
			declared := map[string]bool{}
			byName := map[string]string{} // a probe may name a port
			for _, p := range c.Ports {
				declared[fmt.Sprint(p.ContainerPort)] = true
				byName[p.Name] = fmt.Sprint(p.ContainerPort)
			}
			for _, flag := range []string{"listen", "health-addr"} {
				if port := flagPort(c.Args, flag); port != "" && !declared[port] {
					t.Errorf("%s: --%s port %s is not a containerPort", cat, flag, port)
				}
			}
			health := flagPort(c.Args, "health-addr")
			paths := probePaths
			if health == "" && len(c.Args) > 0 && c.Args[0] == "etcd" {
				// cohort etcd serves etcd's own /livez, /readyz and /health
				// on its client URLs.
				health, paths = urlFlagPort(c.Args, "listen-client-urls"), etcdProbePaths
			}
			if health == "" {
				continue
			}
			if c.LivenessProbe == nil || c.ReadinessProbe == nil {
				t.Errorf("%s: liveness probe %v, readiness probe %v; want both", cat, c.LivenessProbe != nil, c.ReadinessProbe != nil)
			}
			for name, p := range map[string]*k8sProbe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
				if p == nil {
					continue
				}
				if p.HTTPGet == nil {
					t.Errorf("%s: %s probe is not an httpGet", cat, name)
					continue
				}
				port := fmt.Sprint(p.HTTPGet.Port)
				if n, ok := byName[port]; ok {
					port = n
				}
				if !slices.Contains(paths[name], p.HTTPGet.Path) || port != health {
					t.Errorf("%s: %s probe asks %s on port %v, want one of %v on the health port %s",
						cat, name, p.HTTPGet.Path, p.HTTPGet.Port, paths[name], health)
				}
			}
		}
	}
	if workloads < 3 {
		t.Fatalf("deploy/k8s/cohort.yaml: %d workloads, want etcd, coordinators and workers", workloads)
	}
	for _, o := range objs {
		if o.Kind != "Service" || len(o.Spec.Selector) == 0 {
			continue
		}
		found := false
		for _, labels := range podLabels {
			all := true
			for k, v := range o.Spec.Selector {
				if labels[k] != v {
					all = false
				}
			}
			found = found || all
		}
		if !found {
			t.Errorf("Service %s selects %v, which no workload's pods carry", o.Metadata.Name, o.Spec.Selector)
		}
	}
}

// TestDashboardMetricsExist ensures every metric the Grafana dashboard
// and the Prometheus rules query is one that cohort's code names, so a
// renamed series fails here rather than as an empty panel.
func TestDashboardMetricsExist(t *testing.T) {
	named := map[string]bool{} // every "cohort_..." and "DCGM_FI_..." string literal in the code
	lit := regexp.MustCompile(`"((?:cohort|DCGM_FI)_[A-Za-z0-9_]+)"`)
	err := filepath.WalkDir(filepath.Join("..", ".."), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "deploy") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllSubmatch(src, -1) {
			named[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`\b(?:cohort|DCGM_FI)_[A-Za-z0-9_]+\b`)
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "grafana", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards under deploy/grafana: %v", err)
	}
	rules, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "prometheus", "*.y*ml"))
	queried := 0
	for _, f := range append(files, rules...) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range used.FindAllString(string(raw), -1) {
			if strings.HasSuffix(name, "_") {
				continue // a prefix in a relabelling regex, not a series
			}
			queried++
			base := name
			for _, suffix := range []string{"_sum", "_count", "_bucket"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && named[b] {
					base = b
				}
			}
			if !named[base] {
				t.Errorf("%s queries %s, which no cohort code exports", filepath.Base(f), name)
			}
		}
	}
	if queried == 0 {
		t.Fatal("found no metric names in the dashboards")
	}
}
