package main

// Values as helm builds them: YAML read through JSON (sigs.k8s.io/yaml, so numbers from files are
// float64), -f files merged in order over the chart's values.yaml, --set (strvals) on top, a null
// deleting the key it overrides.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	yaml "gopkg.in/yaml.v2"
)

// toJSONable turns yaml.v2's map[interface{}]interface{} into JSON-shaped data, as
// sigs.k8s.io/yaml's YAMLToJSON does.
func toJSONable(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, val := range t {
			var key string
			switch kk := k.(type) {
			case string:
				key = kk
			case int, int64, uint64, float64, bool:
				key = fmt.Sprint(kk)
			default:
				return nil, fmt.Errorf("unsupported map key %v", k)
			}
			c, err := toJSONable(val)
			if err != nil {
				return nil, err
			}
			m[key] = c
		}
		return m, nil
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, e := range t {
			c, err := toJSONable(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return t, nil
	}
}

// yamlToJSONValue parses YAML the way sigs.k8s.io/yaml.Unmarshal does: YAML -> JSON -> Go.
func yamlToJSONValue(data []byte, out interface{}) error {
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return err
	}
	j, err := toJSONable(raw)
	if err != nil {
		return err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func readValues(data []byte, name string) (map[string]interface{}, error) {
	vals := map[string]interface{}{}
	if len(strings.TrimSpace(string(data))) == 0 {
		return vals, nil
	}
	if err := yamlToJSONValue(data, &vals); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if vals == nil {
		vals = map[string]interface{}{}
	}
	return vals, nil
}

// mergeInto coalesces user values src over the chart's dst: maps recursively, anything else
// replaced, a null deleting the key.
func mergeInto(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			mergeInto(dm, sm)
			continue
		}
		if sok {
			clean := map[string]interface{}{}
			mergeInto(clean, sm)
			v = clean
		}
		dst[k] = v
	}
}

// mergeKeep merges one -f file over the ones before it (helm's mergeMaps): nulls are kept, so that
// they delete the chart's default later.
func mergeKeep(dst, src map[string]interface{}) {
	for k, v := range src {
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			mergeKeep(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// splitUnescaped splits s on sep outside {...} and not after a backslash (the backslash kept).
func splitUnescaped(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case s[i] == '{':
			depth++
		case s[i] == '}' && depth > 0:
			depth--
		case s[i] == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// typedVal is strvals' typedVal: true/false, null, and integers (not with a leading 0) typed.
func typedVal(v string, asString bool) interface{} {
	if asString {
		return v
	}
	switch {
	case strings.EqualFold(v, "true"):
		return true
	case strings.EqualFold(v, "false"):
		return false
	case strings.EqualFold(v, "null"):
		return nil
	case v == "0":
		return int64(0)
	}
	if len(v) > 0 && v[0] != '0' {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return v
}

// parseSet applies one --set (or --set-string) argument: a.b=c,d[0]=e,f={x,y}.
func parseSet(into map[string]interface{}, arg string, asString bool) error {
	for _, assignment := range splitUnescaped(arg, ',') {
		eq := strings.IndexByte(assignment, '=')
		if eq <= 0 {
			return fmt.Errorf("--set %q: key %q has no value (want key=value)", arg, assignment)
		}
		key, raw := assignment[:eq], assignment[eq+1:]
		var val interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			list := []interface{}{}
			if inner := raw[1 : len(raw)-1]; inner != "" {
				for _, e := range splitUnescaped(inner, ',') {
					list = append(list, typedVal(unescape(e), asString))
				}
			}
			val = list
		} else {
			val = typedVal(unescape(raw), asString)
		}
		if err := setPath(into, splitUnescaped(key, '.'), val); err != nil {
			return fmt.Errorf("--set %q: %v", arg, err)
		}
	}
	return nil
}

func setPath(m map[string]interface{}, keys []string, val interface{}) error {
	name, idx, err := keyIndex(keys[0])
	if err != nil {
		return err
	}
	if idx < 0 {
		if len(keys) == 1 {
			m[name] = val
			return nil
		}
		child, ok := m[name].(map[string]interface{})
		if !ok {
			child = map[string]interface{}{}
			m[name] = child
		}
		return setPath(child, keys[1:], val)
	}
	list, _ := m[name].([]interface{})
	for len(list) <= idx {
		list = append(list, nil)
	}
	m[name] = list
	if len(keys) == 1 {
		list[idx] = val
		return nil
	}
	child, ok := list[idx].(map[string]interface{})
	if !ok {
		child = map[string]interface{}{}
		list[idx] = child
	}
	return setPath(child, keys[1:], val)
}

// keyIndex splits "name[3]" into ("name", 3); "name" gives index -1.
func keyIndex(k string) (string, int, error) {
	k = unescape(k)
	open := strings.IndexByte(k, '[')
	if open < 0 || !strings.HasSuffix(k, "]") {
		if k == "" {
			return "", -1, fmt.Errorf("empty key")
		}
		return k, -1, nil
	}
	n, err := strconv.Atoi(k[open+1 : len(k)-1])
	if err != nil || n < 0 || n > 65536 {
		return "", -1, fmt.Errorf("bad list index in %q", k)
	}
	return k[:open], n, nil
}
