package spec

import (
	"slices"
	"strings"
	"testing"
)

// versioned builds a spec whose current version is 2, with the given lines under `versions:`
// from line 5 on, over a products and an orders resource.
func versioned(lines ...string) string {
	src := []string{"plinth: 1", "name: t", "version: 2", "versions:"}
	src = append(src, lines...)
	return yamlLines(append(src,
		"resources:",
		"  products:",
		"    fields:",
		"      sku: {type: string, required: true, max_length: 20}",
		"      price_cents: {type: integer, required: true, min: 0}",
		"      kind: {type: enum, values: [a, b]}",
		open,
		"  orders:",
		"    fields:",
		"      product: {type: ref, resource: products, required: true}",
		"      status: {type: enum, values: [pending, paid, shipped], default: pending}",
		"      channel: {type: enum, values: [web, app], required: true}",
		"      note: {type: string, computed: '\"x\"'}",
		open,
	)...)
}

// v1 is the start of a valid entry for version 1; its changes follow from line 8 on.
var v1 = []string{"  1:", "    deprecated: 2026-01-01", "    sunset: 2999-01-01", "    changes:"}

func changes(lines ...string) string { return versioned(append(slices.Clone(v1), lines...)...) }

// TestVersionDiagnostics: each bad `versions:` entry is refused with its place in the file
// and a message that says what is wrong.
func TestVersionDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		src  string
		at   string // file:line:column of the error
		msg  string // a part of its message
	}{
		{"current version listed", versioned("  2: {deprecated: 2026-01-01, sunset: 2999-01-01}"),
			"plinth.yaml:5:3", "2 is not older than the current version 2"},
		{"not a number", versioned("  one: {deprecated: 2026-01-01, sunset: 2999-01-01}"),
			"plinth.yaml:5:3", `"one" is not a version number`},
		{"a gap", yamlLines(append([]string{"plinth: 1", "name: t", "version: 3", "versions:",
			"  1: {deprecated: 2026-01-01, sunset: 2999-01-01}"}, strings.Split(strings.TrimSpace(versioned())[len("plinth: 1\nname: t\nversion: 2\nversions:\n"):], "\n")...)...),
			"plinth.yaml:5:3", "1 is declared but 2 is not"},
		{"no sunset", versioned("  1: {deprecated: 2026-01-01}"),
			"plinth.yaml:5:3", "versions.1: missing `sunset`"},
		{"a bad date", versioned("  1: {deprecated: 2026-01-01, sunset: next year}"),
			"plinth.yaml:5:39", "versions.1.sunset must be a date"},
		{"sunset before deprecation", versioned("  1: {deprecated: 2026-01-01, sunset: 2025-01-01}"),
			"plinth.yaml:5:39", "the sunset (2025-01-01) must come after the deprecation (2026-01-01)"},
		{"unknown change", changes("      - rename_feild: {resource: products, from: price, to: price_cents}"),
			"plinth.yaml:9:9", `unknown change "rename_feild" (did you mean "rename_field"?)`},
		{"two changes in one item", changes("      - {add_field: {resource: orders, field: note}, add_resource: {resource: orders}}"),
			"plinth.yaml:9:9", "a change is one of"},
		{"missing argument", changes("      - rename_field: {resource: products, to: price_cents}"),
			"plinth.yaml:9:9", "rename_field: missing `from`"},
		{"unknown resource", changes("      - rename_field: {resource: product, from: price, to: price_cents}"),
			"plinth.yaml:9:34", `v2 has no resource "product" (did you mean "products"?)`},
		{"renamed field missing in the newer version", changes("      - rename_field: {resource: products, from: price, to: price}"),
			"plinth.yaml:9:61", `v2.products has no field "price"`},
		{"renamed onto a field that exists", changes("      - rename_field: {resource: products, from: sku, to: price_cents}"),
			"plinth.yaml:9:50", "v1 would have two fields named products.sku"},
		{"renamed onto a later field", changes("      - rename_field: {resource: products, from: kind, to: sku}"),
			"plinth.yaml:9:50", "v1 would have two fields named products.kind"},
		{"renamed to a reserved name", changes("      - rename_field: {resource: products, from: version, to: price_cents}"),
			"plinth.yaml:9:50", `"version" is reserved`},
		{"renamed twice", changes(
			"      - rename_field: {resource: products, from: price, to: price_cents}",
			"      - rename_field: {resource: products, from: cost, to: price_cents}"),
			"plinth.yaml:10:60", "products.price_cents is changed twice"},
		{"removed field still there", changes("      - remove_field: {resource: products, field: sku, reads_as: x}"),
			"plinth.yaml:9:51", "v2 still has products.sku"},
		{"reads_as of the wrong type", changes("      - remove_field: {resource: products, field: weight, was: {type: integer}, reads_as: heavy}"),
			"plinth.yaml:9:91", "reads_as must be a whole number"},
		{"reads_as the declaration refuses", changes("      - remove_field: {resource: products, field: color, was: {type: string, max_length: 3}, reads_as: unknown}"),
			"plinth.yaml:9:104", "must be at most 3 characters"},
		{"reads_as not one of the values", changes("      - remove_field: {resource: products, field: size, was: {type: enum, values: [s, m]}, reads_as: xl}"),
			"plinth.yaml:9:102", `"xl" is not one of the values`},
		{"reads_as that says no type", changes("      - remove_field: {resource: products, field: tags, reads_as: [a]}"),
			"plinth.yaml:9:9", "say what the field was with `was: {type: ...}`"},
		{"null reads_as of a required field", changes("      - remove_field: {resource: products, field: color, was: {type: string, required: true}, reads_as: null}"),
			"plinth.yaml:9:105", "its clients never saw null"},
		{"a removed field with a default", changes("      - remove_field: {resource: products, field: color, was: {type: string, default: red}, reads_as: red}"),
			"plinth.yaml:9:78", "a removed field has no default"},
		{"a removed ref to nothing", changes("      - remove_field: {resource: orders, field: maker, was: {type: ref, resource: makers}, reads_as: x}"),
			"plinth.yaml:9:49", "orders.maker refers to makers, which v1 does not have"},
		{"added field without writes_as", changes("      - add_field: {resource: orders, field: channel}"),
			"plinth.yaml:9:46", "v2 requires orders.channel, which the clients of v1 cannot send: give it `writes_as`"},
		{"writes_as of the wrong value", changes("      - add_field: {resource: orders, field: channel, writes_as: phone}"),
			"plinth.yaml:9:66", `"phone" is not one of the values`},
		{"writes_as of a computed field", changes("      - add_field: {resource: orders, field: note, writes_as: x}"),
			"plinth.yaml:9:52", "not written by clients"},
		{"added and renamed", changes(
			"      - add_field: {resource: orders, field: status}",
			"      - rename_field: {resource: orders, from: state, to: status}"),
			"plinth.yaml:10:59", "orders.status is changed twice"},
		{"map_enum of a string", changes("      - map_enum: {resource: products, field: sku, new_to_old: {a: b}}"),
			"plinth.yaml:9:47", "products.sku is not an enum"},
		{"map_enum to a value the newer version lacks", changes("      - map_enum: {resource: orders, field: status, old_to_new: {open: opened}}"),
			"plinth.yaml:9:65", `"opened" is not a value of orders.status in v2`},
		{"map_enum from a value the newer version lacks", changes("      - map_enum: {resource: orders, field: status, new_to_old: {done: open}}"),
			"plinth.yaml:9:65", `"done" is not a value of orders.status in v2`},
		{"map_enum reads a value it cannot write", changes("      - map_enum: {resource: orders, field: status, new_to_old: {pending: open}}"),
			"plinth.yaml:9:65", `read status as "open" but have no v2 value to write for it: add open to old_to_new`},
		{"map_enum without maps", changes("      - map_enum: {resource: orders, field: status}"),
			"plinth.yaml:9:9", "give old_to_new, new_to_old or both"},
		{"renamed resource missing", changes("      - rename_resource: {from: items, to: goods}"),
			"plinth.yaml:9:44", `v2 has no resource "goods"`},
		{"renamed to a reserved name", changes("      - rename_resource: {from: batch, to: products}"),
			"plinth.yaml:9:33", `resource name "batch" is reserved`},
		{"two resources of one name", changes("      - rename_resource: {from: orders, to: products}"),
			"plinth.yaml:9:33", "v1 would have two resources named orders"},
		{"a ref to a resource the version lacks", changes("      - add_resource: {resource: products}"),
			"plinth.yaml:9:34", "v1 has no resource products (add_resource), but orders.product refers to it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, diags := Compile("plinth.yaml", []byte(tc.src))
			if m != nil || !diags.HasErrors() {
				t.Fatalf("want an error, got none:\n%s", tc.src)
			}
			for _, d := range diags.Errors() {
				if d.Pos.String() == tc.at && strings.Contains(d.Message, tc.msg) {
					return
				}
			}
			t.Errorf("want an error at %s containing %q; got:\n%s", tc.at, tc.msg, diags.Error())
		})
	}
}

// TestVersionViews: the view of a version has the old names, values and shapes, and the maps
// compose across versions (golden: testdata/valid/versions.model); here what the serving side
// relies on.
func TestVersionViews(t *testing.T) {
	m, diags := compileFile(t, "testdata/valid/versions.yaml")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(m.Versions) != 2 || m.Versions[0].Number != 2 || m.Versions[1].Number != 1 {
		t.Fatalf("versions %v", m.Versions)
	}
	v1 := m.Versions[1]
	if _, ok := v1.View.Resource("products"); ok {
		t.Error("v1 has products; it called them items")
	}
	items, ok := v1.Map("items")
	if !ok || items.Current.Name != "products" {
		t.Fatalf("v1 items: %v", items)
	}
	if mo, ok := v1.MapOf("products"); !ok || mo != items {
		t.Error("MapOf(products) is not v1's items")
	}
	if _, ok := v1.MapOf("reviews"); ok {
		t.Error("v1 has reviews, added in v3")
	}
	cost, _ := items.Field("cost")
	if cost.Current.Name != "price_cents" {
		t.Errorf("v1 cost maps to %v", cost.Current)
	}
	if fm, ok := items.FieldOf("price_cents"); !ok || fm.Old.Name != "cost" {
		t.Errorf("FieldOf(price_cents) = %v", fm)
	}
	if _, err := items.Old.CompileFilter("cost > 5 && color == \"red\""); err != nil {
		t.Errorf("a v1 filter over v1 fields: %v", err)
	}
	if _, err := items.Old.CompileFilter("price_cents > 5"); err == nil {
		t.Error("a v1 filter over a v3 name compiles")
	}
	orders, _ := v1.Map("orders")
	product, _ := orders.Field("items")
	if ref := product.Old.Of.Fields[0]; ref.Ref != "items" {
		t.Errorf("v1 orders.items[].product_id refers to %s", ref.Ref)
	}
	if cur, _ := m.Resource("orders"); cur.Fields[2].Of.Fields[0].Ref != "products" {
		t.Error("deriving v1 changed the current model's ref")
	}
}
