package spec

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; run go test -update and review the diff.\ngot:\n%s", path, got)
	}
}

// describe renders a model as stable text, for golden files.
func describe(m *Model) string {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s v%d\n", m.Name, m.Version)
	if len(m.Auth.Roles) > 0 {
		fmt.Fprintf(&b, "roles %s\n", strings.Join(m.Auth.Roles, ", "))
	}
	for _, r := range m.Resources {
		fmt.Fprintf(&b, "\nresource %s (idempotency %s, limit %d/%d)\n", r.Name, r.Idempotency, r.DefaultLimit, r.MaxLimit)
		for _, f := range r.Fields {
			describeField(&b, f, "  ")
		}
		for _, op := range Operations {
			if rule := r.Access[op]; rule != nil {
				fmt.Fprintf(&b, "  access %s: %s\n", op, rule.Source)
			} else {
				fmt.Fprintf(&b, "  access %s: (admin only)\n", op)
			}
		}
		for _, eff := range r.Effects {
			fmt.Fprintf(&b, "  effect %s on=%v target=%s id=%s", eff.Name, eff.On, eff.Target, eff.ID.Source)
			for _, x := range []struct {
				name string
				e    *Expr
			}{{"when", eff.When}, {"for_each", eff.ForEach}, {"guard", eff.Guard}} {
				if x.e != nil {
					fmt.Fprintf(&b, " %s=%s", x.name, x.e.Source)
				}
			}
			fmt.Fprintf(&b, " conflict=%s skip_missing=%v", eff.Conflict, eff.SkipMissing)
			for _, a := range eff.Set {
				fmt.Fprintf(&b, " set %s=%s", a.Field, a.Expr.Source)
			}
			b.WriteString("\n")
		}
		for _, ix := range r.Indexes {
			fmt.Fprintf(&b, "  index %s unique=%v\n", strings.Join(ix.Fields, ","), ix.Unique)
		}
	}
	for _, sch := range m.Schedules {
		fmt.Fprintf(&b, "\nschedule %s every=%s resource=%s where=%s set=%v limit=%d\n", sch.Name, sch.Every, sch.Resource, sch.WhereSrc, sch.Set, sch.Limit)
	}
	for _, v := range m.Versions {
		fmt.Fprintf(&b, "\nversion %d deprecated=%s sunset=%s\n", v.Number, v.Deprecated.Format(time.RFC3339), v.Sunset.Format(time.RFC3339))
		for _, rm := range v.Maps() {
			fmt.Fprintf(&b, "  resource %s -> %s\n", rm.Old.Name, rm.Current.Name)
			for _, fm := range rm.Fields {
				describeField(&b, fm.Old, "    ")
				switch {
				case fm.Current == nil:
					fmt.Fprintf(&b, "      reads as %#v\n", fm.ReadsAs)
				case fm.ToCurrent != nil:
					fmt.Fprintf(&b, "      -> %s writes %s reads %s\n", fm.Current.Name, sortedPairs(fm.ToCurrent), sortedPairs(fm.ToOld))
				default:
					fmt.Fprintf(&b, "      -> %s\n", fm.Current.Name)
				}
			}
			for _, h := range rm.Hidden {
				fmt.Fprintf(&b, "    hidden %s fills=%v writes_as=%#v\n", h.Field.Name, h.Fills, h.WritesAs)
			}
			for _, ix := range rm.Old.Indexes {
				fmt.Fprintf(&b, "    index %s unique=%v\n", strings.Join(ix.Fields, ","), ix.Unique)
			}
		}
	}
	for _, w := range m.Webhooks {
		fmt.Fprintf(&b, "\nwebhook %s url=%s%s secret=$%s on=%v attempts=%d initial=%s max=%s timeout=%s breaker=%d/%s",
			w.Name, w.URL, w.URLEnv, w.SecretEnv, w.On, w.MaxAttempts, w.Initial, w.Max, w.Timeout, w.BreakerFailures, w.BreakerDelay)
		if w.When != nil {
			fmt.Fprintf(&b, " when=%s", w.When.Source)
		}
		b.WriteString("\n")
	}
	for _, o := range m.SLOs {
		fmt.Fprintf(&b, "\nslo %s %s=%s routes=%s objective=%v window=%s", o.Name, o.SelectorKey, o.Selector,
			strings.Join(o.Routes, ","), o.Objective, o.WindowText())
		if o.Latency > 0 {
			fmt.Fprintf(&b, " latency=%s", o.Latency)
		}
		b.WriteString("\n")
	}
	if m.LimitsRedis != "" {
		fmt.Fprintf(&b, "\nlimits redis=%s\n", m.LimitsRedis)
	}
	for _, l := range m.Limits {
		fmt.Fprintf(&b, "\nlimit %s default=%v roles=%s per=%s rate=%s burst=%d window=%s", l.Name, l.Default,
			strings.Join(l.Roles, ","), l.Per, l.RateText(), l.Burst, l.Window())
		if l.Selection.Key != "" {
			fmt.Fprintf(&b, " %s=%s routes=%s", l.Selection.Key, l.Selection.Value, strings.Join(l.Selection.Routes, ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// sortedPairs renders a map of enum values as a=b pairs in key order.
func sortedPairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}

func describeField(b *strings.Builder, f *Field, indent string) {
	var opts []string
	add := func(format string, args ...any) { opts = append(opts, fmt.Sprintf(format, args...)) }
	if f.Required {
		add("required")
	}
	if f.Unique {
		add("unique")
	}
	if f.Immutable {
		add("immutable")
	}
	if f.MinLength != nil {
		add("min_length=%d", *f.MinLength)
	}
	if f.MaxLength != nil {
		add("max_length=%d", *f.MaxLength)
	}
	if f.Pattern != nil {
		add("pattern=%s", f.Pattern)
	}
	if f.Format != "" {
		add("format=%s", f.Format)
	}
	if f.Min != nil {
		add("min=%v", *f.Min)
	}
	if f.Max != nil {
		add("max=%v", *f.Max)
	}
	if len(f.Values) > 0 {
		add("values=%s", strings.Join(f.Values, "|"))
	}
	if f.Transitions != nil {
		add("initial=%s", strings.Join(f.Initial, "|"))
		var from []string
		for k := range f.Transitions {
			from = append(from, k)
		}
		sort.Strings(from)
		for _, k := range from {
			add("%s->%s", k, strings.Join(f.Transitions[k], "|"))
		}
	}
	if f.Ref != "" {
		add("ref=%s", f.Ref)
	}
	if f.OnDelete != "" && f.OnDelete != OnDeleteRestrict {
		add("on_delete=%s", f.OnDelete)
	}
	if f.MinItems != nil {
		add("min_items=%d", *f.MinItems)
	}
	if f.MaxItems != nil {
		add("max_items=%d", *f.MaxItems)
	}
	if f.Default != nil && f.Default.Expr != nil {
		add("default=expr(%s)", f.Default.Expr.Source)
	} else if f.Default != nil {
		add("default=%#v", f.Default.Literal)
	}
	if f.Computed != nil {
		add("computed=%s", f.Computed.Source)
	}
	if f.Deprecated {
		add("deprecated")
	}
	if f.Example != nil {
		add("example=%#v", f.Example)
	}
	fmt.Fprintf(b, "%sfield %s %s %s\n", indent, f.Name, f.Type, strings.Join(opts, " "))
	if f.Of != nil {
		describeField(b, f.Of, indent+"  ")
	}
	for _, sub := range f.Fields {
		describeField(b, sub, indent+"  ")
	}
}

func compileFile(t *testing.T, path string) (*Model, Diagnostics) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Compile(filepath.Base(path), src)
}

// TestGoldenModels compiles every valid spec in testdata and the shop example.
func TestGoldenModels(t *testing.T) {
	specs, _ := filepath.Glob("testdata/valid/*.yaml")
	specs = append(specs, "../../examples/shop/plinth.yaml")
	for _, path := range specs {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		if name == "plinth" {
			name = "shop"
		}
		t.Run(name, func(t *testing.T) {
			m, diags := compileFile(t, path)
			if diags.HasErrors() {
				t.Fatalf("unexpected errors:\n%s", diags.Error())
			}
			var out strings.Builder
			out.WriteString(describe(m))
			for _, d := range diags {
				fmt.Fprintf(&out, "%s\n", d)
			}
			golden(t, "valid/"+name+".model", out.String())
		})
	}
}

// TestGoldenDiagnostics checks that every broken spec in testdata/invalid reports exactly
// the expected diagnostics, with positions.
func TestGoldenDiagnostics(t *testing.T) {
	specs, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(specs) == 0 {
		t.Fatal("no invalid specs found")
	}
	for _, path := range specs {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			m, diags := compileFile(t, path)
			if !diags.HasErrors() || m != nil {
				t.Fatalf("want errors, got none")
			}
			var out strings.Builder
			for _, d := range diags {
				fmt.Fprintf(&out, "%s\n", d)
			}
			golden(t, "invalid/"+name+".diag", out.String())
		})
	}
}
