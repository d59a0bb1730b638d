package main

// Loading a chart directory as Helm 3's loader does (pkg/chart/loader/directory.go): every file
// under the chart, symbolic links followed (a dangling one is an error, as in helm's
// internal/sympath), .helmignore applied, Chart.yaml and values.yaml read, templates/ split from
// the other files, which become .Files.

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	yaml "gopkg.in/yaml.v2"
)

// Metadata is Chart.yaml, with the field names templates see (.Chart.Name, .Chart.AppVersion...).
type Metadata struct {
	APIVersion   string            `yaml:"apiVersion"`
	Name         string            `yaml:"name"`
	Version      string            `yaml:"version"`
	KubeVersion  string            `yaml:"kubeVersion"`
	Description  string            `yaml:"description"`
	Type         string            `yaml:"type"`
	Keywords     []string          `yaml:"keywords"`
	Home         string            `yaml:"home"`
	Sources      []string          `yaml:"sources"`
	Icon         string            `yaml:"icon"`
	AppVersion   string            `yaml:"appVersion"`
	Deprecated   bool              `yaml:"deprecated"`
	Annotations  map[string]string `yaml:"annotations"`
	Maintainers  []interface{}     `yaml:"maintainers"`
	Dependencies []interface{}     `yaml:"dependencies"`
}

// Chart is a loaded chart: its metadata, default values, templates and other files.
type Chart struct {
	Metadata  Metadata
	Values    map[string]interface{}
	Templates map[string][]byte // "templates/x.yaml" -> text
	Files     Files             // every other file but Chart.yaml, values.yaml, values.schema.json
}

var utf8bom = []byte{0xEF, 0xBB, 0xBF}

// walkChart visits every file under dir, following symbolic links as helm's sympath.Walk does.
func walkChart(root, rel string, visit func(rel string, isDir bool, full string) (bool, error)) error {
	full := filepath.Join(root, filepath.FromSlash(rel))
	info, err := os.Lstat(full)
	if err != nil {
		return err
	}
	if info.Mode()&os.ModeSymlink != 0 {
		resolved, err := filepath.EvalSymlinks(full)
		if err != nil {
			return fmt.Errorf("error evaluating symlink %s: %v (helm refuses to load a chart with a dangling symbolic link)", full, err)
		}
		if info, err = os.Lstat(resolved); err != nil {
			return err
		}
	}
	descend, err := visit(rel, info.IsDir(), full)
	if err != nil || !info.IsDir() || !descend {
		return err
	}
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		if err := walkChart(root, path.Join(rel, n), visit); err != nil {
			return err
		}
	}
	return nil
}

func loadChart(dir string) (*Chart, error) {
	rules, err := loadIgnore(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return nil, err
	}
	c := &Chart{Templates: map[string][]byte{}, Files: Files{}}
	var chartYAML, valuesYAML []byte
	err = walkChart(dir, ".", func(rel string, isDir bool, full string) (bool, error) {
		if rel == "." {
			return true, nil
		}
		if rules.ignored(rel, isDir) {
			return false, nil
		}
		if isDir {
			return true, nil
		}
		data, err := os.ReadFile(full)
		if err != nil {
			return false, fmt.Errorf("error reading %s: %v", rel, err)
		}
		data = bytes.TrimPrefix(data, utf8bom)
		switch {
		case rel == "Chart.yaml":
			chartYAML = data
		case rel == "values.yaml":
			valuesYAML = data
		case rel == "values.schema.json" || rel == "Chart.lock" || strings.HasPrefix(rel, "charts/"):
			return false, fmt.Errorf("%s: subcharts and values schemas are not supported by this renderer", rel)
		case strings.HasPrefix(rel, "templates/"):
			c.Templates[rel] = data
		default:
			c.Files[rel] = data
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if chartYAML == nil {
		return nil, fmt.Errorf("%s: Chart.yaml file is missing", dir)
	}
	if err := yaml.UnmarshalStrict(chartYAML, &c.Metadata); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	if err := validateMetadata(&c.Metadata); err != nil {
		return nil, err
	}
	if c.Values, err = readValues(valuesYAML, "values.yaml"); err != nil {
		return nil, err
	}
	return c, nil
}

func validateMetadata(m *Metadata) error {
	if m.APIVersion != "v2" {
		return fmt.Errorf("Chart.yaml: apiVersion is %q; this renderer knows Helm 3's v2", m.APIVersion)
	}
	if m.Name == "" {
		return fmt.Errorf("Chart.yaml: chart.metadata.name is required")
	}
	if m.Version == "" {
		return fmt.Errorf("Chart.yaml: chart.metadata.version is required")
	}
	if m.Type != "" && m.Type != "application" {
		return fmt.Errorf("Chart.yaml: type %q cannot be rendered (only application charts)", m.Type)
	}
	return nil
}

// ignoreRules is the subset of .helmignore helm documents: one glob per line, '#' comments,
// a trailing '/' for directories only, '!' to negate; a pattern without '/' matches the base name.
type ignoreRules []string

func loadIgnore(file string) (ignoreRules, error) {
	rules := ignoreRules{"templates/.?*"} // helm's AddDefaults
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return rules, nil
	}
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, "**") {
			return nil, fmt.Errorf(".helmignore: %q: helm does not support '**'", line)
		}
		rules = append(rules, line)
	}
	return rules, nil
}

func (r ignoreRules) ignored(rel string, isDir bool) bool {
	if rel == ".helmignore" {
		return false
	}
	out := false
	for _, p := range r {
		negate := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if strings.HasSuffix(p, "/") {
			if !isDir {
				continue
			}
			p = strings.TrimSuffix(p, "/")
		}
		target := rel
		if !strings.Contains(p, "/") {
			target = path.Base(rel)
		}
		if ok, _ := path.Match(strings.TrimPrefix(p, "/"), target); ok {
			out = !negate
		}
	}
	return out
}
