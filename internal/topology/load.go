package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes and validates the topology file at path. Warnings are
// returned even when the file is refused; the error is a *ValidationError
// when the file was read but is wrong.
func Load(path string) (*Topology, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load topology: %w", err)
	}
	t, warnings, err := Parse(path, data)
	if err != nil {
		return nil, warnings, err
	}
	t.Source = path
	return t, warnings, nil
}

// Parse decodes and validates one topology document; name is used in
// messages only (Source stays empty). Decoding is strict: an unknown key is a
// problem, so a misspelt setting, or a password, cannot slip through.
// Replication settings the file leaves out get their defaults.
func Parse(name string, data []byte) (*Topology, []Warning, error) {
	root, problem := readDocument(name, data)
	if problem != nil {
		return nil, nil, &ValidationError{Problems: []Problem{*problem}}
	}
	idx := newIndex(root)
	if problems := checkPairs(name, idx); len(problems) > 0 {
		return nil, nil, &ValidationError{Problems: problems}
	}

	var t Topology
	problems, refused := decodeStrict(name, data, idx, &t)
	applyDefaults(&t, idx)

	v := &validator{file: name, idx: idx, refusedPaths: refused}
	if !slices.ContainsFunc(refused, shiftsElements) {
		v.validate(&t)
	}
	problems = append(problems, v.problems...)
	// Top to bottom, as the user reads the file.
	slices.SortStableFunc(problems, func(a, b Problem) int { return a.Line - b.Line })
	slices.SortStableFunc(v.warnings, func(a, b Warning) int { return a.Line - b.Line })
	if len(problems) > 0 {
		return nil, v.warnings, &ValidationError{Problems: problems}
	}
	return &t, v.warnings, nil
}

// readDocument parses data into a tree and checks it holds exactly one
// mapping document.
func readDocument(name string, data []byte) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) || (err == nil && isEmptyDocument(&doc)) {
		return nil, &Problem{File: name, Message: "empty topology file: expected one YAML mapping with name, architecture, regions and clusters"}
	}
	if err != nil {
		return nil, syntaxProblem(name, err)
	}
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxProblem(name, err)
		}
		if !isEmptyDocument(&extra) {
			return nil, &Problem{File: name, Line: extra.Line, Message: "a second YAML document starts here: a topology file holds exactly one"}
		}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Problem{File: name, Line: root.Line, Message: fmt.Sprintf("the topology must be a YAML mapping with name, architecture, regions and clusters, got %s", describeNode(root))}
	}
	return root, nil
}

func isEmptyDocument(doc *yaml.Node) bool {
	return len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null"
}

var syntaxLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the messages of yaml/v3's parser (parserc.go), which
// reports 0-based line numbers where its scanner reports 1-based ones.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

func syntaxProblem(name string, err error) *Problem {
	m := syntaxLine.FindStringSubmatch(err.Error())
	if m == nil {
		return &Problem{File: name, Message: "invalid YAML: " + err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	if slices.Contains(parserProblems, m[2]) {
		line++
	}
	return &Problem{File: name, Line: line, Message: "invalid YAML: " + m[2]}
}

var betweenPath = regexp.MustCompile(`^links\[\d+\]\.between$`)

// checkPairs catches a links[].between list that is not two long before
// decoding: the YAML decoder aborts on it without a line number.
func checkPairs(name string, idx *index) []Problem {
	var problems []Problem
	for _, e := range idx.entries {
		if betweenPath.MatchString(e.path) && e.value.Kind == yaml.SequenceNode && len(e.value.Content) != 2 {
			problems = append(problems, Problem{File: name, Line: e.key.Line, Field: e.path,
				Message: fmt.Sprintf("want two region names, e.g. [eu, us], got %d", len(e.value.Content))})
		}
	}
	return problems
}

// decodeStrict decodes data into t refusing unknown keys, and turns every
// decoder complaint into a Problem with its field path. It also returns the
// paths the decoder left undecoded ("" for the whole document).
func decodeStrict(name string, data []byte, idx *index, t *Topology) (problems []Problem, refused []string) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(t)
	var typeErr *yaml.TypeError
	switch {
	case err == nil:
		return nil, nil
	case errors.As(err, &typeErr):
		for _, s := range typeErr.Errors {
			p, path, ok := idx.decodeProblem(name, s)
			problems = append(problems, p)
			if ok {
				refused = append(refused, path)
			}
		}
		return problems, refused
	default:
		return []Problem{*syntaxProblem(name, err)}, []string{""}
	}
}

// shiftsElements reports whether leaving path undecoded moved other values:
// the decoder drops a list element it cannot decode, so the elements after
// it no longer match their place in the file, and a whole-document failure
// leaves nothing to check. Validating then would point at wrong lines.
func shiftsElements(refused string) bool {
	return refused == "" || strings.HasSuffix(refused, "]")
}

var (
	decodeLine   = regexp.MustCompile(`^line (\d+): (?:column (\d+): )?(.*)$`)
	unknownField = regexp.MustCompile(`^field (.+) not found in type (\S+)$`)
	duplicateKey = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
	wrongType    = regexp.MustCompile("^cannot unmarshal (\\S+)(?: `(.*)`)? into (.+)$")
)

// decodeProblem places one decoder message ("line 12: field x not found in
// type topology.Node") on its field and rewords it for a user. It also says
// which path the decoder left undecoded, when it knows.
func (x *index) decodeProblem(name, s string) (p Problem, refused string, ok bool) {
	m := decodeLine.FindStringSubmatch(s)
	if m == nil {
		return Problem{File: name, Message: s}, "", false
	}
	line, _ := strconv.Atoi(m[1])
	column, _ := strconv.Atoi(m[2])
	p = Problem{File: name, Line: line, Message: m[3]}
	var e entry
	if f := unknownField.FindStringSubmatch(m[3]); f != nil {
		p.Message = unknownFieldMessage(f[1], f[2])
		e, _ = x.keyAt(line, f[1])
		p.Field = e.path
		return p, "", false // the rest of the mapping was decoded
	}
	if f := duplicateKey.FindStringSubmatch(m[3]); f != nil {
		p.Message = fmt.Sprintf("duplicate key %q (first at line %s)", f[1], f[2])
		e, ok = x.keyAt(line, f[1])
		p.Field = e.path
		return p, parentPath(e.path), ok // the decoder skips the whole mapping
	}
	if f := wrongType.FindStringSubmatch(m[3]); f != nil {
		if e, ok = x.valueAt(line, 0, f[1], strings.TrimSuffix(f[2], "..."), f[3]); ok {
			p.Field = e.path
			p.Message = fmt.Sprintf("want %s, got %s", describeGoType(f[3]), describeNode(e.value))
		}
		return p, e.path, ok
	}
	e, ok = x.valueAt(line, column, "", "", "")
	p.Field = e.path
	return p, e.path, ok
}

func describeGoType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "uint"):
		return "a whole number, 0 or more"
	case goType == "bool":
		return "true or false"
	case goType == "string" || strings.HasSuffix(goType, ".Architecture") || strings.HasSuffix(goType, ".ClusterKind"):
		return "a single value"
	case strings.HasPrefix(goType, "["):
		return "a list"
	default:
		return "a mapping"
	}
}

// unknownFieldMessage explains a key the model does not have, suggesting the
// closest known one.
func unknownFieldMessage(key, goType string) string {
	lower := strings.ToLower(key)
	for _, secret := range []string{"password", "passwd", "secret", "token"} {
		if strings.Contains(lower, secret) {
			return fmt.Sprintf("unknown field %q: secrets never go in the topology; put them in the file named by credentials.file or in MERIDIAN_* environment variables", key)
		}
	}
	known := knownKeys[goType]
	if guess := closest(key, known); guess != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", key, guess)
	}
	return fmt.Sprintf("unknown field %q (known: %s)", key, strings.Join(known, ", "))
}

// knownKeys lists the YAML keys of every struct in the model, by Go type name
// as the decoder prints it ("topology.Node").
var knownKeys = func() map[string][]string {
	keys := map[string][]string{}
	var visit func(reflect.Type)
	visit = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || keys[t.String()] != nil {
			return
		}
		keys[t.String()] = []string{}
		for f := range t.Fields() {
			if key := yamlKey(f); key != "" {
				keys[t.String()] = append(keys[t.String()], key)
				visit(f.Type)
			}
		}
	}
	visit(reflect.TypeFor[Topology]())
	return keys
}()

// yamlKey is the YAML key of a model field, "" when it has none.
func yamlKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if key == "-" {
		return ""
	}
	return key
}

var pathElement = regexp.MustCompile(`\[\d+\]|[^.\[]+`)

// typeAt is the Go type a field path decodes into, as the decoder names it
// in its messages (pointers followed).
func typeAt(path string) string {
	t := reflect.TypeFor[Topology]()
	for _, element := range pathElement.FindAllString(path, -1) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case strings.HasPrefix(element, "[") && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			t = t.Elem()
			continue
		case t.Kind() != reflect.Struct:
			return ""
		}
		found := false
		for f := range t.Fields() {
			if yamlKey(f) == element {
				t, found = f.Type, true
				break
			}
		}
		if !found {
			return ""
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.String()
}

// closest returns the candidate within two edits of word, or "".
func closest(word string, candidates []string) string {
	best, bestDistance := "", 3
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestDistance {
			best, bestDistance = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Replication defaults, as in the seed chapter's replica configuration.
const (
	defaultConnectRetry    = 10 * time.Second
	defaultRetryCount      = 86400
	defaultHeartbeatPeriod = time.Second
	defaultNetTimeout      = 120 * time.Second
	defaultParallelThreads = 4
	defaultParallelMode    = "optimistic"
)

// applyDefaults fills the replication settings the file leaves out; a value
// written in the file, even 0, is kept.
func applyDefaults(t *Topology, idx *index) {
	r := &t.Replication
	if r.StrictMode == nil {
		on := true
		r.StrictMode = &on
	}
	unset := func(key string) bool { return !idx.has("replication." + key) }
	if unset("connect_retry") {
		r.ConnectRetry.Duration = defaultConnectRetry
	}
	if unset("retry_count") {
		r.RetryCount = defaultRetryCount
	}
	if unset("heartbeat_period") {
		r.HeartbeatPeriod.Duration = defaultHeartbeatPeriod
	}
	if unset("net_timeout") {
		r.NetTimeout.Duration = defaultNetTimeout
	}
	if unset("parallel_threads") {
		r.ParallelThreads = defaultParallelThreads
	}
	if unset("parallel_mode") {
		r.ParallelMode = defaultParallelMode
	}
}
