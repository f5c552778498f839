package lambdafn_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// stack is template.yaml evaluated for one set of parameters, as
// CloudFormation would: conditions decided, Fn::If taken, parameters
// substituted for their Ref, AWS::NoValue removed, and resources whose
// condition is false left out. Other intrinsics (!Sub, !GetAtt, a Ref to
// a resource) stay as {"Fn::Sub": ...} and the like.
type stack struct {
	t          *testing.T
	params     map[string]any // string, or []string for a list
	conditions map[string]any // unevaluated
	decided    map[string]bool
	Resources  map[string]map[string]any // evaluated, present only
	Globals    map[string]any
	Raw        map[string]any // the whole template, unevaluated
}

// noValue is AWS::NoValue, dropped from maps and lists.
type noValue struct{}

// templateDoc reads template.yaml into plain values, the short intrinsic
// tags (!Ref, !If, ...) as one-key maps ("Ref", "Fn::If", ...).
func templateDoc(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return plain(n.Content[0]).(map[string]any)
}

func plain(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = plain(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, plain(c))
		}
		v = l
	case yaml.AliasNode:
		return plain(n.Alias)
	default:
		v = n.Value
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := n.Tag[1:]
		switch name {
		case "Ref", "Condition":
			return map[string]any{name: v}
		case "GetAtt":
			return map[string]any{"Fn::GetAtt": v}
		}
		return map[string]any{"Fn::" + name: v}
	}
	return v
}

// newStack evaluates the template with its parameters' defaults and over.
func newStack(t *testing.T, over map[string]string) *stack {
	t.Helper()
	doc := templateDoc(t)
	s := &stack{t: t, params: map[string]any{}, decided: map[string]bool{}, Raw: doc, Resources: map[string]map[string]any{}}
	for name, p := range doc["Parameters"].(map[string]any) {
		p := p.(map[string]any)
		v, _ := p["Default"].(string)
		if o, ok := over[name]; ok {
			v = o
		} else if _, ok := p["Default"]; !ok {
			t.Fatalf("parameter %s has no default", name)
		}
		if p["Type"] == "CommaDelimitedList" {
			s.params[name] = strings.Split(v, ",")
		} else {
			s.params[name] = v
		}
	}
	for name := range over {
		if _, ok := s.params[name]; !ok {
			t.Fatalf("no parameter %s", name)
		}
	}
	s.conditions = doc["Conditions"].(map[string]any)
	if g, ok := doc["Globals"].(map[string]any); ok {
		s.Globals = s.eval(g).(map[string]any)
	}
	for name, r := range doc["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if c, ok := r["Condition"].(string); ok && !s.cond(c) {
			continue
		}
		s.Resources[name] = s.eval(r).(map[string]any)
	}
	return s
}

// cond decides the condition name.
func (s *stack) cond(name string) bool {
	if v, ok := s.decided[name]; ok {
		return v
	}
	c, ok := s.conditions[name]
	if !ok {
		s.t.Fatalf("no condition %s", name)
	}
	v := s.truth(c)
	s.decided[name] = v
	return v
}

// truth evaluates a condition function.
func (s *stack) truth(c any) bool {
	m, ok := c.(map[string]any)
	if !ok || len(m) != 1 {
		s.t.Fatalf("not a condition: %v", c)
	}
	for k, v := range m {
		switch k {
		case "Condition":
			return s.cond(v.(string))
		case "Fn::Equals":
			l := v.([]any)
			return fmt.Sprint(s.eval(l[0])) == fmt.Sprint(s.eval(l[1]))
		case "Fn::Not":
			return !s.truth(v.([]any)[0])
		case "Fn::And":
			for _, x := range v.([]any) {
				if !s.truth(x) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, x := range v.([]any) {
				if s.truth(x) {
					return true
				}
			}
			return false
		case "Fn::Contains":
			l := v.([]any)
			want := fmt.Sprint(s.eval(l[1]))
			for _, x := range s.eval(l[0]).([]string) {
				if x == want {
					return true
				}
			}
			return false
		}
	}
	s.t.Fatalf("condition function %v not evaluated here", c)
	return false
}

// eval resolves Fn::If, parameter Refs, Fn::Join of plain strings and
// AWS::NoValue in v.
func (s *stack) eval(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			if x, ok := v["Fn::If"]; ok {
				l := x.([]any)
				if s.cond(l[0].(string)) {
					return s.eval(l[1])
				}
				return s.eval(l[2])
			}
			if r, ok := v["Ref"].(string); ok {
				if r == "AWS::NoValue" {
					return noValue{}
				}
				if p, ok := s.params[r]; ok {
					return p
				}
				return v
			}
			if x, ok := v["Fn::Join"]; ok {
				l := x.([]any)
				parts := s.eval(l[1])
				var out []string
				switch p := parts.(type) {
				case []string:
					out = p
				case []any:
					for _, e := range p {
						str, ok := e.(string)
						if !ok {
							return map[string]any{"Fn::Join": []any{l[0], parts}}
						}
						out = append(out, str)
					}
				}
				return strings.Join(out, l[0].(string))
			}
		}
		out := map[string]any{}
		for k, x := range v {
			if e := s.eval(x); e != (noValue{}) {
				out[k] = e
			}
		}
		return out
	case []any:
		out := []any{}
		for _, x := range v {
			if e := s.eval(x); e != (noValue{}) {
				out = append(out, e)
			}
		}
		return out
	}
	return v
}

// ruleFailures returns the AssertDescription of every rule whose
// assertions fail for s's parameters.
func (s *stack) ruleFailures() []string {
	var out []string
	rules, _ := s.Raw["Rules"].(map[string]any)
	for _, r := range rules {
		r := r.(map[string]any)
		if c, ok := r["RuleCondition"]; ok && !s.truth(c) {
			continue
		}
		for _, a := range r["Assertions"].([]any) {
			a := a.(map[string]any)
			if !s.truth(a["Assert"]) {
				out = append(out, a["AssertDescription"].(string))
			}
		}
	}
	return out
}

// ofType returns the names of the resources of type typ.
func (s *stack) ofType(typ string) []string {
	var out []string
	for name, r := range s.Resources {
		if r["Type"] == typ {
			out = append(out, name)
		}
	}
	return out
}

// props returns the properties of resource name, failing when it is absent.
func (s *stack) props(name string) map[string]any {
	s.t.Helper()
	r, ok := s.Resources[name]
	if !ok {
		s.t.Fatalf("no resource %s with these parameters", name)
	}
	p, _ := r["Properties"].(map[string]any)
	return p
}

// num reads a number a property holds, as a string or a parameter.
func num(t *testing.T, v any) int {
	t.Helper()
	n, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil {
		t.Fatalf("%v is no number", v)
	}
	return n
}

// list returns v as a list of maps (a property such as SecurityGroupIngress).
func list(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
