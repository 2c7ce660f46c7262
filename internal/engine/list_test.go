package engine_test

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
)

const listSpec = `
plinth: 1
name: test
resources:
  owners:
    fields:
      name:   {type: string, max_length: 20}
      public: {type: boolean, default: true}
    access:
      read: 'record.public || auth.role == "admin"'
  items:
    fields:
      name:    {type: string, max_length: 20}
      qty:     integer
      price:   number
      active:  boolean
      color:   {type: enum, values: [red, green, blue]}
      seen_at: timestamp
      owner:   {type: ref, resource: owners}
      second:  {type: ref, resource: owners}
      meta:    json
    list: {default_limit: 3, max_limit: 10}
    access:
      list: "true"
      read: "true"
`

// TestListFilters runs a filter over each kind of field against a fixed data set.
func TestListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, listSpec)
	own := e.create(admin, "owners", `{"name": "o"}`).ID
	rows := []string{
		`{"name": "Apple",  "qty": 1,    "price": 0.5,  "active": true,  "color": "red",   "seen_at": "2026-01-01T00:00:00Z", "owner": "` + own + `", "meta": {"a": 1}}`,
		`{"name": "apricot","qty": 5,    "price": 2.25, "active": false, "color": "green", "seen_at": "2026-01-02T00:00:00.000001Z"}`,
		`{"name": "Banana", "qty": null, "price": null, "active": null,  "color": null,    "seen_at": null}`,
		`{"name": "cherry", "qty": -3,   "price": 10,   "active": true,  "color": "blue",  "seen_at": "2025-12-31T23:59:59Z", "owner": "` + own + `"}`,
		`{"name": null,     "qty": 5,    "price": 2.5,  "active": false, "color": "red"}`,
		`{"name": "ä-umlaut","qty": 100, "price": -1,   "active": true,  "color": "green", "seen_at": "2026-06-01T12:00:00Z"}`,
	}
	for _, r := range rows {
		e.create(admin, "items", r)
	}
	e.clock.Advance(time.Hour)
	late := e.create(admin, "items", `{"name": "late"}`)
	e.patch(admin, "items", late.ID, `{"qty": 7}`)

	cases := []struct {
		filter string
		want   []string // names, sorted; "<nil>" for a null name
	}{
		{``, []string{"<nil>", "Apple", "Banana", "apricot", "cherry", "late", "ä-umlaut"}},
		// strings: exact, case-sensitive, byte-wise
		{`name == "Apple"`, []string{"Apple"}},
		{`name != "Apple"`, []string{"<nil>", "Banana", "apricot", "cherry", "late", "ä-umlaut"}},
		{`name.startsWith("ap")`, []string{"apricot"}},
		{`name.startsWith("A")`, []string{"Apple"}},
		{`name.startsWith("ä")`, []string{"ä-umlaut"}},
		{`name.endsWith("e")`, []string{"Apple", "late"}},
		{`name.contains("an")`, []string{"Banana"}},
		{`name in ["Apple", "cherry", "zzz"]`, []string{"Apple", "cherry"}},
		{`name > "b"`, []string{"cherry", "late", "ä-umlaut"}},
		{`name == null`, []string{"<nil>"}},
		{`name != null && name < "B"`, []string{"Apple"}},
		// integers
		{`qty == 5`, []string{"<nil>", "apricot"}},
		{`qty > 1`, []string{"<nil>", "apricot", "late", "ä-umlaut"}},
		{`qty <= 1`, []string{"Apple", "cherry"}},
		{`qty < 0 || qty >= 100`, []string{"cherry", "ä-umlaut"}},
		{`qty == null`, []string{"Banana"}},
		{`qty in [1, 7]`, []string{"Apple", "late"}},
		{`!(qty > 1)`, []string{"Apple", "cherry"}},
		// numbers
		{`price > 2.25`, []string{"<nil>", "cherry"}},
		{`price >= 2.25 && price < 10.0`, []string{"<nil>", "apricot"}},
		{`price < 0.0`, []string{"ä-umlaut"}},
		{`price == null`, []string{"Banana", "late"}},
		// booleans
		{`active`, []string{"Apple", "cherry", "ä-umlaut"}},
		{`!active`, []string{"<nil>", "apricot"}},
		{`active == false`, []string{"<nil>", "apricot"}},
		{`active == null`, []string{"Banana", "late"}},
		// enums
		{`color == "red"`, []string{"<nil>", "Apple"}},
		{`color in ["green", "blue"]`, []string{"apricot", "cherry", "ä-umlaut"}},
		{`color == null`, []string{"Banana", "late"}},
		// timestamps, to the microsecond
		{`seen_at > timestamp("2026-01-01T00:00:00Z")`, []string{"apricot", "ä-umlaut"}},
		{`seen_at >= timestamp("2026-01-01T00:00:00Z") && seen_at < timestamp("2026-01-02T00:00:00.000001Z")`, []string{"Apple"}},
		{`seen_at == timestamp("2026-01-02T00:00:00.000001Z")`, []string{"apricot"}},
		{`seen_at < timestamp("2026-01-01T00:00:00Z")`, []string{"cherry"}},
		{`seen_at == null`, []string{"<nil>", "Banana", "late"}},
		{`seen_at > now - duration("24h")`, []string{"ä-umlaut"}},
		// refs and json (null checks only)
		{`owner == "` + own + `"`, []string{"Apple", "cherry"}},
		{`owner != null`, []string{"Apple", "cherry"}},
		{`meta != null`, []string{"Apple"}},
		// system fields
		{`version > 1`, []string{"late"}},
		{`created_at > timestamp("2026-03-01T12:30:00Z")`, []string{"late"}},
		{`id == "` + late.ID + `"`, []string{"late"}},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			page, err := e.eng.List(admin, "items", engine.ListParams{Filter: c.filter, Limit: new(10)})
			if err != nil {
				t.Fatal(describe(err))
			}
			got := sortedStrs(records(page.Items), "name")
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("filter %s:\n\tgot  %v\n\twant %v", c.filter, got, want)
			}
		})
	}

	bad := []string{
		`nope == 1`,
		`qty == "x"`,
		`qty + 1 > 2`,
		`name.size() > 2`,
		`meta == 1`,
		`qty >`,
		`qty`,
		strings.Repeat("qty == 1 || ", 200) + "qty == 1",
	}
	for _, f := range bad {
		_, err := e.eng.List(admin, "items", engine.ListParams{Filter: f})
		wantCode(t, err, fault.Invalid)
		if c := fieldCodes(t, err); c["filter"] == "" {
			t.Errorf("filter %.40q: field errors %v, want one on filter", f, c)
		}
	}
}

// TestListSort checks multi-key sorts with NULLs: ascending puts them first, descending last,
// and id breaks ties in the direction of the last key.
func TestListSort(t *testing.T) {
	t.Parallel()
	e := newEnv(t, listSpec)
	for _, r := range []string{
		`{"name": "a", "qty": 2,    "price": 1.5}`,
		`{"name": "b", "qty": null, "price": 1.5}`,
		`{"name": "c", "qty": 1,    "price": null}`,
		`{"name": "d", "qty": 2,    "price": 0.5}`,
		`{"name": "e", "qty": null, "price": null}`,
		`{"name": "f", "qty": 1,    "price": 1.5}`,
	} {
		e.create(admin, "items", r)
	}
	cases := []struct {
		sort string
		want string
	}{
		{"", "abcdef"}, // id order is creation order for UUIDv7 ids
		{"qty", "becfad"},
		{"-qty", "dafceb"},
		{"qty,-price", "befcad"},
		{"-price,qty", "bfadec"},
		{"price,-name", "ecdfba"},
		{"-qty,-name", "dafceb"},
		{"name", "abcdef"},
		{"-name", "fedcba"},
		{"-id", "fedcba"},
	}
	for _, c := range cases {
		t.Run(c.sort, func(t *testing.T) {
			page, err := e.eng.List(admin, "items", engine.ListParams{Sort: c.sort, Limit: new(10)})
			if err != nil {
				t.Fatal(describe(err))
			}
			if got := strings.Join(strs(records(page.Items), "name"), ""); got != c.want {
				t.Errorf("sort %q: %s, want %s", c.sort, got, c.want)
			}
		})
	}
	bad := []string{"nope", "meta", "qty,qty", "qty,-qty", "name,qty,price,color,active", "-", "qty,"}
	for _, s := range bad {
		_, err := e.eng.List(admin, "items", engine.ListParams{Sort: s})
		wantCode(t, err, fault.Invalid)
		if c := fieldCodes(t, err); c["sort"] == "" {
			t.Errorf("sort %q: field errors %v, want one on sort", s, c)
		}
	}
	// Four keys are allowed.
	if _, err := e.eng.List(admin, "items", engine.ListParams{Sort: "name,qty,price,-color"}); err != nil {
		t.Errorf("four sort keys: %s", describe(err))
	}
}

// pagingRow is one record of the property test, with the values it was created with.
type pagingRow struct {
	id   string
	vals map[string]any // n, s, x, b, t, created_at
}

// TestListPagination inserts records with random values (many NULLs and duplicates), pages
// through them with a small limit for several sorts and filters, and checks that the pages
// visit every matching record exactly once, in the order computed here.
func TestListPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  rows:
    fields:
      n: integer
      s: {type: string, max_length: 5}
      x: number
      b: boolean
      t: timestamp
`)
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	pick := func(opts ...any) any { return opts[rng.IntN(len(opts))] }
	var rows []pagingRow
	for i := 0; i < 60; i++ {
		vals := map[string]any{
			"n": pick(nil, int64(0), int64(1), int64(2), int64(-7), int64(1<<40)),
			"s": pick(nil, "", "a", "B", "b", "ab", "é"),
			"x": pick(nil, -1.5, 0.0, 0.1, 2.0, 1e-9),
			"b": pick(nil, true, false),
			"t": pick(nil, base, base.Add(time.Microsecond), base.Add(time.Hour), base.Add(-time.Hour)),
		}
		in := map[string]any{}
		for k, v := range vals {
			if tm, ok := v.(time.Time); ok {
				in[k] = tm.Format(time.RFC3339Nano)
			} else {
				in[k] = v
			}
		}
		if rng.IntN(3) == 0 {
			e.clock.Advance(time.Second) // some records share created_at, others do not
		}
		rec, err := create1(e.eng, admin, "rows", in)
		if err != nil {
			t.Fatalf("create %v: %s", in, describe(err))
		}
		vals["created_at"] = rec.CreatedAt
		rows = append(rows, pagingRow{id: rec.ID, vals: vals})
	}

	filters := []struct {
		src   string
		match func(r pagingRow) bool
	}{
		{"", func(pagingRow) bool { return true }},
		{"n != null && n >= 1", func(r pagingRow) bool { n, ok := r.vals["n"].(int64); return ok && n >= 1 }},
		{`s == null || b`, func(r pagingRow) bool { return r.vals["s"] == nil || r.vals["b"] == true }},
	}
	sorts := []string{"", "n", "-n", "s,-x", "-b,t", "-t,-s,n", "x,-id", "created_at,-n", "-created_at", "b,n,s,x"}
	for _, f := range filters {
		for _, s := range sorts {
			t.Run(fmt.Sprintf("filter=%q sort=%q", f.src, s), func(t *testing.T) {
				var want []pagingRow
				for _, r := range rows {
					if f.match(r) {
						want = append(want, r)
					}
				}
				slices.SortFunc(want, rowOrder(s))
				var got []string
				params := engine.ListParams{Filter: f.src, Sort: s, Limit: new(7)}
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatal("more pages than records")
					}
					page, err := e.eng.List(admin, "rows", params)
					if err != nil {
						t.Fatalf("page %d: %s", pages, describe(err))
					}
					if len(page.Items) > 7 {
						t.Fatalf("page of %d items with limit 7", len(page.Items))
					}
					if page.NextCursor != "" && len(page.Items) != 7 {
						t.Fatalf("a page of %d items has a next cursor", len(page.Items))
					}
					got = append(got, ids(records(page.Items))...)
					if page.NextCursor == "" {
						break
					}
					params.Cursor = page.NextCursor
				}
				wantIDs := make([]string, len(want))
				for i, r := range want {
					wantIDs[i] = r.id
				}
				if !slices.Equal(got, wantIDs) {
					t.Fatalf("paged %d ids, want %d; first difference at %d", len(got), len(wantIDs), firstDiff(got, wantIDs))
				}
			})
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// rowOrder is the order the docs define: keys in turn, NULLs first ascending and last
// descending, then id in the direction of the last key, unless id is a key.
func rowOrder(sortSpec string) func(a, b pagingRow) int {
	var keys []string
	if sortSpec != "" {
		keys = strings.Split(sortSpec, ",")
	}
	tie := "id"
	if len(keys) > 0 && strings.HasPrefix(keys[len(keys)-1], "-") {
		tie = "-id"
	}
	return func(a, b pagingRow) int {
		for _, k := range append(keys, tie) {
			desc := strings.HasPrefix(k, "-")
			name := strings.TrimPrefix(k, "-")
			var va, vb any
			if name == "id" {
				va, vb = a.id, b.id
			} else {
				va, vb = a.vals[name], b.vals[name]
			}
			c := compareNullsFirst(va, vb)
			if desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}
}

func compareNullsFirst(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		return cmp.Compare(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	panic(fmt.Sprintf("compare %T", a))
}

func TestListCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, listSpec)
	for i := range 8 {
		e.create(admin, "items", fmt.Sprintf(`{"name": "n%d", "qty": %d}`, i, i%3))
	}
	first, err := e.eng.List(admin, "items", engine.ListParams{Sort: "qty", Filter: "qty >= 0", Limit: new(2)})
	if err != nil {
		t.Fatal(describe(err))
	}
	cur := first.NextCursor
	if cur == "" {
		t.Fatal("no next cursor")
	}
	// The same query continues; a different limit is fine.
	next, err := e.eng.List(admin, "items", engine.ListParams{Sort: "qty", Filter: "qty >= 0", Limit: new(5), Cursor: cur})
	if err != nil {
		t.Fatal(describe(err))
	}
	if len(next.Items) != 5 || slices.Contains(ids(records(next.Items)), first.Items[1].Record.ID) {
		t.Errorf("the second page repeats the first: %v", strs(records(next.Items), "name"))
	}

	tamper := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	payload, mac, _ := strings.Cut(cur, ".")
	cases := []struct {
		name string
		p    engine.ListParams
	}{
		{"another sort", engine.ListParams{Sort: "-qty", Filter: "qty >= 0", Cursor: cur}},
		{"no sort", engine.ListParams{Filter: "qty >= 0", Cursor: cur}},
		{"another filter", engine.ListParams{Sort: "qty", Filter: "qty >= 1", Cursor: cur}},
		{"no filter", engine.ListParams{Sort: "qty", Cursor: cur}},
		{"tampered payload", engine.ListParams{Sort: "qty", Filter: "qty >= 0", Cursor: tamper(cur, 2)}},
		{"tampered signature", engine.ListParams{Sort: "qty", Filter: "qty >= 0", Cursor: payload + "." + tamper(mac, 0)}},
		{"no signature", engine.ListParams{Sort: "qty", Filter: "qty >= 0", Cursor: payload}},
		{"garbage", engine.ListParams{Sort: "qty", Filter: "qty >= 0", Cursor: "not a cursor"}},
	}
	// An engine with another key (or a random one) refuses the cursor.
	for _, key := range [][]byte{[]byte("another key"), nil} {
		other, err := engine.New(engine.Config{Model: e.eng.Model(), Store: e.store, Now: e.clock.Now, CursorKey: key})
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.List(admin, "items", engine.ListParams{Sort: "qty", Filter: "qty >= 0", Cursor: cur})
		wantCode(t, err, fault.Invalid)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.eng.List(admin, "items", c.p)
			f := wantCode(t, err, fault.Invalid)
			if codes := fieldCodes(t, err); codes["cursor"] == "" {
				t.Errorf("field errors %v, want one on cursor", codes)
			}
			if f.Type.IsZero() {
				t.Error("no problem type")
			}
		})
	}
}

func TestListLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, listSpec)
	for i := range 12 {
		e.create(admin, "items", fmt.Sprintf(`{"qty": %d}`, i))
	}
	for _, c := range []struct {
		limit *int // nil: the resource's default
		n     int
		more  bool
	}{{nil, 3, true}, {new(1), 1, true}, {new(10), 10, true}} {
		page, err := e.eng.List(admin, "items", engine.ListParams{Limit: c.limit})
		if err != nil {
			t.Fatalf("limit %v: %s", c.limit, describe(err))
		}
		if len(page.Items) != c.n || (page.NextCursor != "") != c.more {
			t.Errorf("limit %v: %d items, cursor %q; want %d items", c.limit, len(page.Items), page.NextCursor, c.n)
		}
	}
	page, err := e.eng.List(admin, "items", engine.ListParams{Limit: new(10), Filter: "qty >= 2"})
	if err != nil || len(page.Items) != 10 || page.NextCursor != "" {
		t.Errorf("exactly a full last page: %d items, cursor %q, err %v", len(page.Items), page.NextCursor, err)
	}
	for _, l := range []int{0, -1, 11, 1 << 30} { // an explicit 0 is out of range, not "the default"
		_, err := e.eng.List(admin, "items", engine.ListParams{Limit: new(l)})
		wantCode(t, err, fault.Invalid)
		if c := fieldCodes(t, err); c["limit"] == "" {
			t.Errorf("limit %d: field errors %v", l, c)
		}
	}
	// Every list parameter error is reported at once.
	_, err = e.eng.List(admin, "items", engine.ListParams{Limit: new(99), Sort: "nope", Filter: "nope", Fields: []string{"nope"}, Expand: []string{"qty"}, Cursor: "x"})
	got := fieldCodes(t, err)
	for _, k := range []string{"limit", "sort", "filter", "fields", "expand", "cursor"} {
		if got[k] == "" {
			t.Errorf("no error on %s: %v", k, got)
		}
	}
	_, err = e.eng.List(admin, "items", engine.ListParams{Filter: strings.Repeat(" ", 2040) + "qty == 12"})
	wantCode(t, err, fault.Invalid)
}

func TestListFieldsProjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, listSpec)
	e.create(admin, "items", `{"name": "a", "qty": 1, "price": 2.5}`)
	page, err := e.eng.List(admin, "items", engine.ListParams{Fields: []string{"name", "version"}})
	if err != nil {
		t.Fatal(describe(err))
	}
	if keys := slices.Sorted(maps.Keys(page.Fields)); !slices.Equal(keys, []string{"id", "name", "version"}) {
		t.Errorf("the page asks for %v, want id, name, version", keys)
	}
	// Projection does not disturb paging, even when the sort key is not returned.
	for i := range 4 {
		e.create(admin, "items", fmt.Sprintf(`{"name": "b%d", "qty": %d}`, i, 10-i))
	}
	var names []string
	p := engine.ListParams{Fields: []string{"name"}, Sort: "-qty", Limit: new(2)}
	for {
		page, err := e.eng.List(admin, "items", p)
		if err != nil {
			t.Fatal(describe(err))
		}
		names = append(names, strs(records(page.Items), "name")...)
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	if want := []string{"b0", "b1", "b2", "b3", "a"}; !slices.Equal(names, want) {
		t.Errorf("paged projected names %v, want %v", names, want)
	}
	_, err = e.eng.List(admin, "items", engine.ListParams{Fields: []string{"name", "nope"}})
	wantCode(t, err, fault.Invalid)
}

func TestListExpand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, listSpec)
	pub := e.create(admin, "owners", `{"name": "pub"}`).ID
	priv := e.create(admin, "owners", `{"name": "priv", "public": false}`).ID
	for _, r := range []string{
		`{"name": "1", "owner": "` + pub + `", "second": "` + priv + `"}`,
		`{"name": "2", "owner": "` + priv + `", "second": "` + pub + `"}`,
		`{"name": "3", "owner": "` + pub + `"}`,
		`{"name": "4"}`,
	} {
		e.create(admin, "items", r)
	}
	e.store.reset()
	page, err := e.eng.List(alice, "items", engine.ListParams{Expand: []string{"owner", "second"}, Limit: new(10)})
	if err != nil {
		t.Fatal(describe(err))
	}
	want := map[string][2]string{"1": {"pub", "<nil>"}, "2": {"<nil>", "pub"}, "3": {"pub", "<nil>"}, "4": {"<nil>", "<nil>"}}
	for _, it := range page.Items {
		name := it.Record.Fields["name"].(string)
		var got [2]string
		for i, f := range []string{"owner", "second"} {
			rec, present := it.Expand[f]
			if !present {
				t.Errorf("record %s: expand lacks %s", name, f)
			}
			got[i] = "<nil>"
			if rec != nil {
				got[i] = rec.Fields["name"].(string)
				if rec.ID != it.Record.Fields[f] {
					t.Errorf("record %s: expand.%s is record %v, the field says %v", name, f, rec.ID, it.Record.Fields[f])
				}
			}
		}
		if got != want[name] {
			t.Errorf("record %s: expanded %v, want %v", name, got, want[name])
		}
		// The reference itself is still there.
		if name == "2" && it.Record.Fields["owner"] != priv {
			t.Errorf("the owner id was hidden: %v", it.Record.Fields["owner"])
		}
	}
	_, getMany, _ := e.store.snapshot()
	if getMany["owners"] != 2 {
		t.Errorf("%d GetMany calls for two expanded fields, want one per field", getMany["owners"])
	}

	// Admins see private owners.
	page, err = e.eng.List(admin, "items", engine.ListParams{Expand: []string{"owner"}, Filter: `name == "2"`})
	if err != nil {
		t.Fatal(describe(err))
	}
	if page.Items[0].Expand["owner"] == nil {
		t.Error("an admin's expand hides a record the admin may read")
	}

	// Expand with projection keeps expand; without expand there is none.
	page, err = e.eng.List(alice, "items", engine.ListParams{Expand: []string{"owner"}, Fields: []string{"name"}, Filter: `name == "1"`})
	if err != nil {
		t.Fatal(describe(err))
	}
	if page.Items[0].Expand["owner"] == nil {
		t.Errorf("projection dropped expand: %v", page.Items[0])
	}
	page, _ = e.eng.List(alice, "items", engine.ListParams{Filter: `name == "1"`})
	if page.Items[0].Expand != nil {
		t.Error("expand present without being asked for")
	}

	for _, bad := range [][]string{{"name"}, {"nope"}, {"meta"}, {"owner", "second", "owner", "second", "owner"}} {
		_, err := e.eng.List(alice, "items", engine.ListParams{Expand: bad})
		wantCode(t, err, fault.Invalid)
		if c := fieldCodes(t, err); c["expand"] == "" {
			t.Errorf("expand %v: field errors %v", bad, c)
		}
	}
}

// TestListCursorStableUnderWrites: a keyset cursor continues after the last row seen, so rows
// written meanwhile neither repeat nor shift what follows.
func TestListCursorStableUnderWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, listSpec)
	for _, q := range []int{10, 20, 30, 40, 50} {
		e.create(admin, "items", fmt.Sprintf(`{"name": "q%d", "qty": %d}`, q, q))
	}
	first, err := e.eng.List(admin, "items", engine.ListParams{Sort: "qty", Limit: new(2)})
	if err != nil {
		t.Fatal(describe(err))
	}
	if got := strs(records(first.Items), "name"); !slices.Equal(got, []string{"q10", "q20"}) {
		t.Fatalf("first page %v", got)
	}
	e.create(admin, "items", `{"name": "q15", "qty": 15}`)  // before the cursor: not seen
	e.create(admin, "items", `{"name": "q35", "qty": 35}`)  // after it: seen
	e.create(admin, "items", `{"name": "q20b", "qty": 20}`) // ties the last row; its id is later, so after it
	var rest []string
	p := engine.ListParams{Sort: "qty", Limit: new(2), Cursor: first.NextCursor}
	for {
		page, err := e.eng.List(admin, "items", p)
		if err != nil {
			t.Fatal(describe(err))
		}
		rest = append(rest, strs(records(page.Items), "name")...)
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	if want := []string{"q20b", "q30", "q35", "q40", "q50"}; !slices.Equal(rest, want) {
		t.Errorf("after concurrent writes the rest is %v, want %v", rest, want)
	}
}

// TestListCursorBelongsToItsResource: a cursor continues the list it came from, not another
// resource's list that happens to share the sort and filter.
func TestListCursorBelongsToItsResource(t *testing.T) {
	t.Parallel()
	e := newEnv(t, listSpec)
	for i := range 3 {
		e.create(admin, "items", fmt.Sprintf(`{"name": "i%d"}`, i))
		e.create(admin, "owners", fmt.Sprintf(`{"name": "o%d"}`, i))
	}
	page, err := e.eng.List(admin, "items", engine.ListParams{Limit: new(1)})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %v, cursor %q", describe(err), page.NextCursor)
	}
	_, err = e.eng.List(admin, "owners", engine.ListParams{Limit: new(1), Cursor: page.NextCursor})
	if err == nil {
		t.Fatal("a cursor of /items is accepted by /owners: the cursor MAC covers the sort and the filter but not the resource name")
	}
	wantCode(t, err, fault.Invalid)
}
