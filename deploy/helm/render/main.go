// helm-render: `helm template` for a local Helm 3 chart, without helm. Go's text/template, Debian's
// sprig and yaml.v2, and helm 3's semantics (values merging, .Release/.Chart/.Capabilities/.Files,
// include/tpl/required/toYaml..., the manifests split, sorted by kind and headed "# Source:").
//
//	helm-render [flags] NAME CHART_DIR
//	  -f, --values FILE     values file, merged over the chart's values.yaml (repeatable, in order)
//	  --set K=V[,K=V]       set values (typed as helm does; repeatable)
//	  --set-string K=V      set string values (repeatable)
//	  -n, --namespace NS    .Release.Namespace (default "default")
//	  --kube-version V      .Capabilities.KubeVersion (default v1.29.0)
//	  -a, --api-versions V  add to .Capabilities.APIVersions (repeatable)
//	  --is-upgrade          .Release.IsUpgrade true, IsInstall false
//	  -s, --show-only T     only the template at this path (e.g. templates/service.yaml; repeatable)
//	  --show-notes          print the rendered NOTES.txt after the manifests
//
// Exit status: 0 rendered; 1 a chart, values or template error (one line on stderr); 2 bad usage.
package main

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"

	yaml "gopkg.in/yaml.v2"
)

type options struct {
	name, chartDir, namespace, kubeVersion string
	valueFiles, sets, setStrings, apis     []string
	showOnly                               []string
	isUpgrade, showNotes                   bool
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "helm-render: %s\nusage: helm-render [-f values.yaml]... [--set k=v]... [-n NS] NAME CHART_DIR\n", msg)
	os.Exit(2)
}

func parseArgs(args []string) options {
	o := options{namespace: "default", kubeVersion: "v1.29.0"}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		key, val, hasVal := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		if !strings.HasPrefix(a, "--") || !hasVal {
			key = a
		}
		switch key {
		case "--is-upgrade":
			o.isUpgrade = true
			continue
		case "--show-notes":
			o.showNotes = true
			continue
		}
		if !hasVal || key == a {
			if i+1 >= len(args) {
				usage(a + " needs a value")
			}
			i++
			val = args[i]
		}
		switch key {
		case "-f", "--values":
			o.valueFiles = append(o.valueFiles, val)
		case "--set":
			o.sets = append(o.sets, val)
		case "--set-string":
			o.setStrings = append(o.setStrings, val)
		case "-n", "--namespace":
			o.namespace = val
		case "--kube-version":
			o.kubeVersion = val
		case "-a", "--api-versions":
			o.apis = append(o.apis, val)
		case "-s", "--show-only":
			o.showOnly = append(o.showOnly, val)
		default:
			usage("unknown flag " + key)
		}
	}
	if len(pos) != 2 {
		usage("want NAME and CHART_DIR")
	}
	o.name, o.chartDir = pos[0], pos[1]
	return o
}

func userValues(o options) (map[string]interface{}, error) {
	user := map[string]interface{}{}
	for _, f := range o.valueFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		v, err := readValues(data, f)
		if err != nil {
			return nil, err
		}
		mergeKeep(user, v)
	}
	for _, s := range o.sets {
		if err := parseSet(user, s, false); err != nil {
			return nil, err
		}
	}
	for _, s := range o.setStrings {
		if err := parseSet(user, s, true); err != nil {
			return nil, err
		}
	}
	return user, nil
}

var kubeVersionRe = regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?$`)

func topValues(o options, c *Chart) (map[string]interface{}, error) {
	user, err := userValues(o)
	if err != nil {
		return nil, err
	}
	mergeInto(c.Values, user)
	kv := kubeVersionRe.FindStringSubmatch(o.kubeVersion)
	if kv == nil {
		return nil, fmt.Errorf("--kube-version %q: want vMAJOR.MINOR[.PATCH]", o.kubeVersion)
	}
	version := "v" + strings.TrimPrefix(o.kubeVersion, "v")
	if kv[3] == "" {
		version += ".0"
	}
	caps := &Capabilities{
		KubeVersion: KubeVersion{Version: version, Major: kv[1], Minor: kv[2]},
		APIVersions: append(VersionSet(append([]string{}, defaultAPIVersions...)), o.apis...),
		HelmVersion: HelmVersion{Version: "v3.14.0", GitTreeState: "clean", GoVersion: runtime.Version()},
	}
	return map[string]interface{}{
		"Values": c.Values,
		"Release": map[string]interface{}{
			"Name": o.name, "Namespace": o.namespace, "IsUpgrade": o.isUpgrade, "IsInstall": !o.isUpgrade,
			"Revision": 1, "Service": "Helm",
		},
		"Chart":        &c.Metadata,
		"Capabilities": caps,
		"Files":        c.Files,
		"Subcharts":    map[string]interface{}{},
	}, nil
}

// helm's releaseutil.InstallOrder: kinds not listed come last, sorted by kind.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
	"RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

type manifest struct {
	source, content, kind string
	hook                  bool
}

// helm's releaseutil.SplitManifests separator.
var sepRe = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

type head struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
}

func splitAndSort(rendered map[string]string, only []string, chartName string) ([]manifest, error) {
	files := make([]string, 0, len(rendered))
	for f := range rendered {
		files = append(files, f)
	}
	sort.Strings(files)
	var out []manifest
	for _, f := range files {
		if strings.HasSuffix(f, "/NOTES.txt") || !selected(f, only, chartName) {
			continue
		}
		for _, doc := range sepRe.Split(rendered[f], -1) {
			doc = strings.TrimSpace(doc)
			if doc == "" {
				continue
			}
			var h head
			if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %v", f, err)
			}
			_, hook := h.Metadata.Annotations["helm.sh/hook"]
			out = append(out, manifest{source: f, content: doc, kind: h.Kind, hook: hook})
		}
	}
	rank := map[string]int{}
	for i, k := range installOrder {
		rank[k] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, aok := rank[out[i].kind]
		b, bok := rank[out[j].kind]
		switch {
		case out[i].hook != out[j].hook:
			return !out[i].hook
		case !aok && !bok:
			return out[i].kind < out[j].kind
		case !aok || !bok:
			return aok
		}
		return a < b
	})
	return out, nil
}

func selected(f string, only []string, chartName string) bool {
	if len(only) == 0 {
		return true
	}
	for _, s := range only {
		if f == s || f == chartName+"/"+s {
			return true
		}
	}
	return false
}

func run(o options) error {
	c, err := loadChart(o.chartDir)
	if err != nil {
		return err
	}
	top, err := topValues(o, c)
	if err != nil {
		return err
	}
	rendered, err := render(c, top)
	if err != nil {
		return err
	}
	ms, err := splitAndSort(rendered, o.showOnly, c.Metadata.Name)
	if err != nil {
		return err
	}
	if len(o.showOnly) > 0 && len(ms) == 0 {
		return fmt.Errorf("could not find template %s in chart", strings.Join(o.showOnly, ", "))
	}
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.source, m.content)
	}
	if notes, ok := rendered[c.Metadata.Name+"/templates/NOTES.txt"]; ok && o.showNotes {
		fmt.Fprintf(&b, "NOTES:\n%s\n", strings.TrimSpace(notes))
	}
	_, err = os.Stdout.WriteString(b.String())
	return err
}

func main() {
	if err := run(parseArgs(os.Args[1:])); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}
