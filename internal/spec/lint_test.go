package spec

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// yamlLines joins lines into a spec, so that a case's line numbers can be read off its list.
func yamlLines(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// head is the start of every case's spec: lines 1 to 4; a resource's name is on line 5.
var head = []string{"plinth: 1", "name: t", "auth: {roles: [admin, customer]}", "resources:"}

// one builds a spec of the head and the given lines, which begin on line 5.
func one(lines ...string) string { return yamlLines(append(slices.Clone(head), lines...)...) }

// open is the access of a resource anyone may read and admins may change.
const open = `    access: {list: "true", read: "true", write: 'auth.role == "admin"'}`

// finding is what a case expects of one warning: where, and a part of its fix.
type finding struct {
	at  string // file:line:column
	fix string // a part of the fix, as the user would paste it
}

// lintCases are, for each code, specs that raise it (want lists every finding of that code)
// and specs that must not (want is empty).
var lintCases = []struct {
	name string
	code string
	src  string
	want []finding
}{
	{"no access", "resource-without-access", one(
		"  logs:",
		"    fields:",
		"      message: {type: string, max_length: 100}",
	), []finding{{"plinth.yaml:5:3", `access: {list: "auth.sub != null"`}}},
	{"access given", "resource-without-access", one(
		"  logs:",
		"    fields:",
		"      message: {type: string, max_length: 100}",
		open,
	), nil},

	{"unbounded strings", "string-without-max-length", one(
		"  things:",
		"    fields:",
		"      title: string",
		"      tags: {type: array, of: string, max_items: 5}",
		open,
	), []finding{{"plinth.yaml:7:7", "`title: {type: string, max_length: 200}`"}, {"plinth.yaml:8:31", "`tags: {type: string, max_length: 200}`"}}},
	{"bounded strings", "string-without-max-length", one(
		"  things:",
		"    fields:",
		"      title: {type: string, max_length: 10}",
		"      email: {type: string, format: email}",
		"      code: {type: string, pattern: '^[A-Z]{3}$'}",
		"      label: {type: string, computed: 'title + \"!\"'}",
		open,
	), nil},

	{"unbounded array", "array-without-max-items", one(
		"  things:",
		"    fields:",
		"      tags: {type: array, of: {type: string, max_length: 5}}",
		open,
	), []finding{{"plinth.yaml:7:7", "max_items: 100"}}},
	{"bounded array", "array-without-max-items", one(
		"  things:",
		"    fields:",
		"      tags: {type: array, of: {type: string, max_length: 5}, max_items: 3}",
		open,
	), nil},

	{"sum of a nullable field", "null-unchecked", one(
		"  things:",
		"    fields:",
		"      q: integer",
		"      n: {type: integer, computed: 'q + 1'}",
		open,
	), []finding{{"plinth.yaml:8:37", "`q != null`"}}},
	{"null checked", "null-unchecked", one(
		"  things:",
		"    fields:",
		"      q: integer",
		"      n: {type: integer, computed: 'q != null ? q + 1 : 0'}",
		open,
	), nil},

	{"signed in as not empty", "anonymous-empty-string", one(
		"  things:",
		"    fields:",
		"      n: integer",
		`    access: {list: "true", read: "true", write: 'auth.sub != ""'}`,
	), []finding{{"plinth.yaml:8:59", "`auth.sub != null` means signed in"}}},
	{"signed in as not null", "anonymous-empty-string", one(
		"  things:",
		"    fields:",
		"      n: integer",
		`    access: {list: "true", read: "true", write: 'auth.sub != null'}`,
	), nil},

	{"owner default, anonymous create", "anonymous-default", one(
		"  things:",
		"    fields:",
		"      owner: {type: string, default: auth.sub, immutable: true, max_length: 50}",
		`    access: {list: "true", read: "true", create: "true"}`,
	), []finding{{"plinth.yaml:7:38", "`auth.sub != null && …`"}}},
	{"owner default, signed-in create", "anonymous-default", one(
		"  things:",
		"    fields:",
		"      owner: {type: string, default: auth.sub, immutable: true, max_length: 50}",
		`    access: {list: "true", read: "true", create: "auth.sub != null"}`,
	), nil},

	{"status without transitions", "status-without-transitions", one(
		"  posts:",
		"    fields:",
		"      status: {type: enum, values: [draft, live, gone]}",
		"      order_state: {type: enum, values: [new, paid, sent], default: paid}",
		open,
	), []finding{
		{"plinth.yaml:7:7", "`transitions: {draft: [live], live: [gone]}` with `default: draft`"},
		{"plinth.yaml:8:7", "`transitions: {paid: [new], new: [sent]}`,"},
	}},
	{"statuses that are fine", "status-without-transitions", one(
		"  posts:",
		"    fields:",
		"      status: {type: enum, values: [on, off]}",
		"      colour: {type: enum, values: [red, green, blue]}",
		"      state:",
		"        type: enum",
		"        values: [draft, live, gone]",
		"        default: draft",
		"        transitions: {draft: [live], live: [gone]}",
		open,
	), nil},

	{"money in floats", "money-as-number", one(
		"  orders:",
		"    fields:",
		"      price: {type: number, min: 0}",
		"      amount_due: number",
		"      items:",
		"        type: array",
		"        max_items: 5",
		"        of:",
		"          unit_price_in_cents: {type: number}",
		open,
	), []finding{
		{"plinth.yaml:7:21", "`price_cents: {type: integer, min: 0}`"},
		{"plinth.yaml:8:19", "`amount_due_cents: {type: integer, min: 0}`"},
		{"plinth.yaml:13:39", "make it an integer: `unit_price_in_cents: {type: integer, min: 0}`"},
	}},
	{"floats that are not money", "money-as-number", one(
		"  orders:",
		"    fields:",
		"      tax_rate: number",
		"      total_weight: number",
		"      price_cents: {type: integer, min: 0}",
		open,
	), nil},

	{"times as text", "timestamp-as-string", one(
		"  orders:",
		"    fields:",
		"      shipped_at: {type: string, max_length: 40}",
		"      starts_on: {type: string, max_length: 40}",
		"      date: {type: string, max_length: 40}",
		open,
	), []finding{
		{"plinth.yaml:7:26", "`shipped_at: {type: timestamp}`"},
		{"plinth.yaml:8:25", "`format: date`"},
		{"plinth.yaml:9:20", "`date: {type: timestamp}`"},
	}},
	{"times typed", "timestamp-as-string", one(
		"  orders:",
		"    fields:",
		"      shipped_at: timestamp",
		"      published_on: {type: string, format: date}",
		"      opens_at: {type: string, pattern: '^[0-2][0-9]:[0-5][0-9]$'}",
		"      add_on: {type: string, max_length: 40}",
		open,
	), nil},

	{"counts and prices that go negative", "negative-allowed", one(
		"  products:",
		"    fields:",
		"      stock: {type: integer, default: 0}",
		"      price_cents: integer",
		"      lines:",
		"        type: array",
		"        max_items: 5",
		"        of: {quantity: integer}",
		open,
	), []finding{
		{"plinth.yaml:7:7", "`min: 0` to stock"},
		{"plinth.yaml:8:7", "`min: 0` to price_cents"},
		{"plinth.yaml:12:14", "`min: 1` to quantity"},
	}},
	{"counts bounded, balances free", "negative-allowed", one(
		"  products:",
		"    fields:",
		"      stock: {type: integer, default: 0, min: 0}",
		"      balance_cents: integer",
		"      price_change: integer",
		open,
	), nil},

	{"shared SKU", "identifier-not-unique", one(
		"  products:",
		"    fields:",
		"      sku: {type: string, max_length: 20}",
		open,
	), []finding{{"plinth.yaml:7:7", "`unique: true` to sku"}}},
	{"unique identifiers, shared emails", "identifier-not-unique", one(
		"  products:",
		"    fields:",
		"      sku: {type: string, max_length: 20, unique: true}",
		"      shop: {type: string, max_length: 20}",
		"      slug: {type: string, max_length: 20}",
		"      email: {type: string, format: email}",
		"    indexes:",
		"      - {fields: [shop, slug], unique: true}",
		open,
	), nil},

	{"passwords in records", "credential-field", one(
		"  users:",
		"    fields:",
		"      password: {type: string, max_length: 100}",
		"      stripe_api_key: {type: string, max_length: 100}",
		open,
	), []finding{{"plinth.yaml:7:7", "sign callers in with tokens"}, {"plinth.yaml:8:7", "environment variables"}}},
	{"fields that only sound secret", "credential-field", one(
		"  users:",
		"    fields:",
		"      password_changed_at: timestamp",
		"      is_secret: boolean",
		"      push_token: {type: string, max_length: 100}",
		open,
	), nil},

	{"credentials written down", "credential-in-spec", one(
		"  things:",
		"    description: 'pays with sk_live_4eC39HqLyjWDarjtT1zdp7dc'",
		"    fields:",
		"      n: integer",
		open,
		"webhooks:",
		"  alerts:",
		"    url: https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXX",
		`    secret: "${ALERTS_SECRET}"`,
		"    on: [things.created]",
		"  mirror:",
		"    url: https://mirror.example/in?token=abc123",
		`    secret: "${MIRROR_SECRET}"`,
		"    on: [things.created]",
	), []finding{
		{"plinth.yaml:6:18", "remove it from the spec and rotate it"},
		{"plinth.yaml:12:10", "`url: \"${ALERTS_URL}\"`"},
		{"plinth.yaml:16:10", "`url: \"${MIRROR_URL}\"`"},
	}},
	{"credentials from the environment", "credential-in-spec", one(
		"  things:",
		"    description: 'see https://example.com/docs?page=2'",
		"    fields:",
		"      n: integer",
		open,
		"webhooks:",
		"  alerts:",
		"    url: https://example.com/hooks",
		`    secret: "${ALERTS_SECRET}"`,
		"    on: [things.created]",
	), nil},

	{"list without read", "list-without-read", one(
		"  things:",
		"    fields:",
		"      n: integer",
		"    access:",
		"      list: 'auth.sub != null'",
	), []finding{{"plinth.yaml:9:13", "`read: 'auth.sub != null'`"}}},
	{"list and read", "list-without-read", one(
		"  things:",
		"    fields:",
		"      n: integer",
		"    access:",
		"      list: 'auth.sub != null'",
		"      read: 'auth.sub != null'",
	), nil},

	{"list shows what read hides", "list-looser-than-read", one(
		"  things:",
		"    fields:",
		"      public: {type: boolean, default: false}",
		"    access:",
		`      list: "true"`,
		"      read: 'record.public'",
	), []finding{{"plinth.yaml:9:13", "if not, `list: 'record.public'`"}}},
	{"list and read agree", "list-looser-than-read", one(
		"  things:",
		"    fields:",
		"      public: {type: boolean, default: false}",
		"    access:",
		`      list: 'auth.role == "admin" || record.public'`,
		"      read: 'auth.role == \"admin\" || record.public'",
	), nil},

	{"owner rule without an index", "list-rule-unindexed", one(
		"  notes:",
		"    fields:",
		"      owner: {type: string, default: auth.sub, immutable: true, max_length: 50}",
		"    access:",
		`      list: 'auth.role == "admin" || record.owner == auth.sub'`,
		`      read: 'auth.role == "admin" || record.owner == auth.sub'`,
	), []finding{{"plinth.yaml:9:38", "`indexes: [[owner]]` on notes"}}},
	{"owner rules with an index", "list-rule-unindexed", one(
		"  notes:",
		"    fields:",
		"      owner: {type: string, default: auth.sub, immutable: true, max_length: 50}",
		"      team: {type: ref, resource: notes}",
		"    indexes: [[owner]]",
		"    access:",
		`      list: 'record.owner == auth.sub || record.team == auth.claims.team || record.id == auth.sub'`,
		`      read: "true"`,
	), nil},

	{"anyone may change or erase", "anonymous-write", one(
		"  posts:",
		"    fields:",
		"      owner: {type: string, default: auth.sub, immutable: true, max_length: 50}",
		`    access: {list: "true", read: "true", write: "true"}`,
		"  pages:",
		"    fields:",
		"      n: integer",
		"    access:",
		`      delete: "1 == 1"`,
	), []finding{
		{"plinth.yaml:8:49", `'auth.role == "admin" || record.owner == auth.sub'`},
		{"plinth.yaml:13:15", `'auth.role == "admin"'`},
	}},
	{"writes that need a caller", "anonymous-write", one(
		"  posts:",
		"    fields:",
		"      owner: {type: string, default: auth.sub, immutable: true, max_length: 50}",
		`    access: {list: "true", read: "true", create: "true", update: "record.owner == auth.sub", delete: "auth.sub != null"}`,
	), nil},

	{"owners that move", "owner-field-mutable", one(
		"  notes:",
		"    fields:",
		"      owner: {type: string, default: auth.sub, max_length: 50}",
		`    access: {list: "true", read: "true", create: "auth.sub != null", update: "auth.sub != null"}`,
		"  boards:",
		"    fields:",
		"      owner: {type: string, required: true, max_length: 50}",
		`    access: {list: "true", read: "true", create: "record.owner == auth.sub", update: "record.owner == auth.sub"}`,
	), []finding{{"plinth.yaml:7:7", "add `immutable: true` to owner"}, {"plinth.yaml:11:7", "`update: 'old.owner == auth.sub && …'`"}}},
	{"owners that stay or are checked", "owner-field-mutable", one(
		"  notes:",
		"    fields:",
		"      owner: {type: string, default: auth.sub, immutable: true, max_length: 50}",
		`    access: {list: "true", read: "true", create: "auth.sub != null", update: "auth.sub != null"}`,
		"  boards:",
		"    fields:",
		"      owner: {type: string, required: true, max_length: 50}",
		`    access: {list: "true", read: "true", create: "record.owner == auth.sub", update: "old.owner == auth.sub"}`,
		"  diaries:",
		"    fields:",
		"      owner: {type: string, required: true, max_length: 50}",
		"    indexes: [[owner]]",
		`    access: {list: "record.owner == auth.sub", read: "record.owner == auth.sub", write: "record.owner == auth.sub"}`,
		"  pages:",
		"    fields:",
		"      owner: {type: string, default: auth.sub, max_length: 50}",
		`    access: {list: "true", read: "true", create: "auth.sub != null", update: 'auth.role == "admin"'}`,
	), nil},

	{"a pattern no derived value satisfies", "example-not-derivable", one(
		"  codes:",
		"    fields:",
		`      code: {type: string, pattern: "^[a-z]{10}$", max_length: 5}`,
		open,
	), []finding{{"plinth.yaml:7:37", "example: "}}},
	{"derivable or given examples", "example-not-derivable", one(
		"  codes:",
		"    fields:",
		`      code: {type: string, pattern: "^[A-Z]{3}-[0-9]{4}$", max_length: 8}`,
		`      given: {type: string, pattern: "^[a-z]{3,10}$", max_length: 5, example: "abcde"}`,
		`      sku: {type: string, pattern: "^[A-Z0-9-]{3,32}$", max_length: 32}`,
		open,
	), nil},
	{"retried creates move stock twice", "effects-without-idempotency", one(
		"  products:",
		"    fields:",
		"      stock: {type: integer, default: 0, min: 0}",
		open,
		"  orders:",
		"    fields:",
		"      product: {type: ref, resource: products, required: true}",
		`    access: {list: "true", read: "true", create: "auth.sub != null"}`,
		"    effects:",
		"      reserve:",
		"        on: [create]",
		"        target: products",
		"        id: record.product",
		"        set: {stock: target.stock - 1}",
	), []finding{{"plinth.yaml:14:7", "`idempotency: required` to orders"}}},
	{"a sunset that has passed", "version-past-sunset", yamlLines(
		"plinth: 1",
		"name: t",
		"version: 2",
		"versions:",
		"  1: {deprecated: 2019-06-01, sunset: 2020-01-31, changes: []}",
		"resources:",
		"  notes:",
		"    fields:",
		"      body: {type: string, max_length: 100}",
		open,
	), []finding{{"plinth.yaml:5:39", "remove versions.1"}}},
	{"a sunset to come", "version-past-sunset", yamlLines(
		"plinth: 1",
		"name: t",
		"version: 2",
		"versions:",
		"  1: {deprecated: 2019-06-01, sunset: 2999-01-31, changes: []}",
		"resources:",
		"  notes:",
		"    fields:",
		"      body: {type: string, max_length: 100}",
		open,
	), nil},

	{"idempotent creates, and checks that change nothing", "effects-without-idempotency", one(
		"  products:",
		"    fields:",
		"      stock: {type: integer, default: 0, min: 0}",
		open,
		"  orders:",
		"    idempotency: required",
		"    fields:",
		"      product: {type: ref, resource: products, required: true}",
		`    access: {list: "true", read: "true", create: "auth.sub != null"}`,
		"    effects:",
		"      reserve:",
		"        on: [create]",
		"        target: products",
		"        id: record.product",
		"        set: {stock: target.stock - 1}",
		"  carts:",
		"    fields:",
		"      product: {type: ref, resource: products, required: true}",
		`    access: {list: "true", read: "true", create: "auth.sub != null"}`,
		"    effects:",
		"      in_stock:",
		"        on: [create]",
		"        target: products",
		"        id: record.product",
		"        guard: target.stock > 0",
	), nil},

	{"silenced where it stands", "unused-ignore", one(
		"  things:",
		"    fields:",
		"      price: {type: number, min: 0}  # plinth:ignore money-as-number   estimates, never charged",
		"      # plinth:ignore string-without-max-length,money-as-numbr",
		"      title: string",
		"      # plinth:ignore negative-allowed",
		"",
		"      n: integer",
		open,
	), []finding{{"plinth.yaml:8:7", "did you mean money-as-number?"}, {"plinth.yaml:10:7", "remove the comment"}}},
	{"every ignore used", "unused-ignore", one(
		"  things:",
		"    fields:",
		"      price: {type: number, min: 0}  # plinth:ignore money-as-number",
		"      # plinth:ignore string-without-max-length",
		"      title: string",
		open,
	), nil},
}

// TestLintFindings runs every check's cases: each finding of the case's code at the expected
// place with the expected fix, and nothing else of that code.
func TestLintFindings(t *testing.T) {
	for _, tc := range lintCases {
		t.Run(tc.code+"/"+tc.name, func(t *testing.T) {
			_, diags := Compile("plinth.yaml", []byte(tc.src))
			if diags.HasErrors() {
				t.Fatalf("the case's spec has errors:\n%s", diags.Error())
			}
			var got []Diagnostic
			for _, d := range diags {
				if d.Code == tc.code {
					got = append(got, d)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("want %d %s finding(s), got %d:\n%s", len(tc.want), tc.code, len(got), Diagnostics(got))
			}
			for i, w := range tc.want {
				d := got[i]
				if d.Pos.String() != w.at || d.Severity != Warning || !strings.Contains(d.Fix, w.fix) || d.Message == "" {
					t.Errorf("finding %d:\n got %s\nwant %s with a fix containing %q", i, d, w.at, w.fix)
				}
			}
		})
	}
}

// TestEveryCheckHasCases: a check without a case that raises it and one that must not is
// untested.
func TestEveryCheckHasCases(t *testing.T) {
	codes := []string{"unused-ignore"}
	for _, ch := range checks {
		codes = append(codes, ch.code)
	}
	for _, code := range codes {
		raises, quiet := false, false
		for _, tc := range lintCases {
			if tc.code == code {
				raises, quiet = raises || len(tc.want) > 0, quiet || len(tc.want) == 0
			}
		}
		if !raises || !quiet {
			t.Errorf("%s: a case that raises it: %v; a case that must not: %v", code, raises, quiet)
		}
	}
}

// TestSilencedFindingsAreGone: an ignore comment removes exactly the finding it names, on its
// line or the next; the same spec without comments has them.
func TestSilencedFindingsAreGone(t *testing.T) {
	bare := one("  things:", "    fields:", "      price: {type: number, min: 0}", "      title: string", open)
	_, diags := Compile("plinth.yaml", []byte(bare))
	codes := map[string]bool{}
	for _, d := range diags {
		codes[d.Code] = true
	}
	if !codes["money-as-number"] || !codes["string-without-max-length"] {
		t.Fatalf("the bare spec lacks the findings to silence:\n%s", diags)
	}
	silenced := one("  things:", "    fields:", "      price: {type: number, min: 0}  # plinth:ignore money-as-number",
		"      # plinth:ignore string-without-max-length", "      title: string", open)
	if _, diags := Compile("plinth.yaml", []byte(silenced)); len(diags) != 0 {
		t.Errorf("silenced findings remain:\n%s", diags)
	}
}

// TestErrorsCannotBeSilenced: an ignore comment names warnings only; a spec with an error
// is refused whatever its comments say.
func TestErrorsCannotBeSilenced(t *testing.T) {
	src := yamlLines("plinth: 1", "name: t", `auth: {jwt: {hs256_secret: "hunter2"}}   # plinth:ignore secret-literal`,
		"resources:", "  things:", "    fields:", "      n: integer", open)
	m, diags := Compile("plinth.yaml", []byte(src))
	if m != nil || len(diags) != 1 || diags[0].Code != "secret-literal" || diags[0].Pos.String() != "plinth.yaml:3:28" ||
		!strings.Contains(diags[0].Fix, `hs256_secret: "${JWT_SECRET}"`) {
		t.Errorf("want only the secret-literal error at 3:28:\n%s", diags)
	}
}

// TestListRuleNotSQL: a list rule the database cannot run is refused, at the part it cannot
// run, with the way to write it.
func TestListRuleNotSQL(t *testing.T) {
	src := one("  things:", "    fields:", "      spent: {type: integer, default: 0}", "      budget: {type: integer, default: 0}",
		"    access:", "      list: 'auth.sub != null && record.spent > record.budget'", `      read: "true"`)
	m, diags := Compile("plinth.yaml", []byte(src))
	if m != nil || len(diags) != 1 {
		t.Fatalf("want one error:\n%s", diags)
	}
	d := diags[0]
	if d.Code != "list-rule-not-sql" || d.Severity != Error || d.Pos.String() != "plinth.yaml:10:47" ||
		!strings.Contains(d.Fix, "`over_budget: {type: boolean, computed: 'spent > budget'}`") {
		t.Errorf("got %s", d)
	}
}

// TestTheShopIsClean: the flagship example passes plinth check --strict; every
// check is silent on it (docs/lint.md says why where the shop meets one).
func TestTheShopIsClean(t *testing.T) {
	_, diags := compileFile(t, "../../examples/shop/plinth.yaml")
	if len(diags) != 0 {
		t.Errorf("the shop has findings:\n%s", diags)
	}
}

// TestEveryCheckIsDocumented: docs/lint.md has a section per code, so that the code in a
// finding leads somewhere.
func TestEveryCheckIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/lint.md")
	if err != nil {
		t.Fatal(err)
	}
	codes := []string{"unused-ignore", "secret-literal", "list-rule-not-sql"}
	for _, ch := range checks {
		codes = append(codes, ch.code)
	}
	for _, code := range codes {
		if !regexp.MustCompile("(?m)^### `" + regexp.QuoteMeta(code) + "`").Match(doc) {
			t.Errorf("docs/lint.md has no section ### `%s`", code)
		}
	}
}
