package topology

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// UnmarshalYAML reads a Go duration string such as "80ms" or "1s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return valueError(n, fmt.Sprintf(`want a duration such as "80ms" or "1s", got %s`, describeNode(n)))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return valueError(n, fmt.Sprintf(`invalid duration %q: want a number with a unit, such as "80ms" or "1s"`, n.Value))
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration the way UnmarshalYAML reads it.
func (d Duration) MarshalYAML() (any, error) { return d.Duration.String(), nil }

var clockPattern = regexp.MustCompile(`^([0-9]{1,2}):([0-9]{2})$`)

// UnmarshalYAML reads "HH:MM" (UTC), from "00:00" to "24:00".
func (c *ClockTime) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return valueError(n, fmt.Sprintf(`want a time "HH:MM" (UTC), got %s`, describeNode(n)))
	}
	bad := func() error {
		return valueError(n, fmt.Sprintf(`invalid time %q: want "HH:MM" (UTC) from 00:00 to 24:00`, n.Value))
	}
	m := clockPattern.FindStringSubmatch(n.Value)
	if m == nil {
		return bad()
	}
	hours, _ := strconv.Atoi(m[1])
	minutes, _ := strconv.Atoi(m[2])
	if minutes > 59 || hours > 24 || (hours == 24 && minutes != 0) {
		return bad()
	}
	*c = ClockTime(hours*60 + minutes)
	return nil
}

// MarshalYAML writes the time the way UnmarshalYAML reads it.
func (c ClockTime) MarshalYAML() (any, error) { return c.String(), nil }

// String is "HH:MM"; the end of the day is "24:00".
func (c ClockTime) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// minutesPerDay is 24:00 as a ClockTime.
const minutesPerDay = 24 * 60

// valueError reports a bad value the way the YAML decoder reports its own
// type errors, so decoding goes on and the problem is placed at its node.
func valueError(n *yaml.Node, message string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %s", n.Line, n.Column, message)}}
}

// describeNode names a node's value for an error message.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	default:
		return strconv.Quote(n.Value)
	}
}

// UnmarshalYAML reads `lww: true` as the rule with its defaults, or a mapping.
func (r *LWWRule) UnmarshalYAML(n *yaml.Node) error {
	type plain LWWRule
	return decodeRuleOrTrue(n, "lww", "topology.LWWRule", (*plain)(r))
}

// UnmarshalYAML reads `set: true` as the rule with its defaults, or a mapping.
func (r *SetRule) UnmarshalYAML(n *yaml.Node) error {
	type plain SetRule
	return decodeRuleOrTrue(n, "set", "topology.SetRule", (*plain)(r))
}

// decodeRuleOrTrue decodes a rule written either as `key: true` (the rule's
// defaults) or as a mapping of its settings into into. A node decodes without
// its decoder's strictness, so unknown keys are refused here, in the
// decoder's own words (goType names the rule as the decoder would).
func decodeRuleOrTrue(n *yaml.Node, key, goType string, into any) error {
	switch {
	case n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !slices.Contains(knownKeys[goType], k.Value) {
				return valueError(k, fmt.Sprintf("field %s not found in type %s", k.Value, goType))
			}
		}
		return n.Decode(into)
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" && n.Value == "true":
		return nil
	}
	return valueError(n, fmt.Sprintf("want true or a mapping of %s settings, got %s (leave %s out to turn it off)", key, describeNode(n), key))
}
