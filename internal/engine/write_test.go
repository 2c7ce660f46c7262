package engine_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

const docsSpec = `
plinth: 1
name: test
resources:
  docs:
    fields:
      title:    {type: string, required: true, max_length: 50}
      subtitle: {type: string, max_length: 50}
      code:     {type: string, immutable: true, max_length: 10}
      count:    {type: integer, default: 0}
      tags:     {type: array, of: {type: string, max_length: 10}}
      meta:
        type: object
        fields:
          a: {type: string, max_length: 10}
          b: integer
          sub:
            type: object
            fields:
              x: integer
              y: integer
      status:
        type: enum
        values: [draft, review, published, archived]
        default: draft
        transitions: {draft: [review], review: [draft, published], published: [archived]}
      mood: {type: enum, values: [calm, busy]}
`

func (e *env) update(id, src string, mode engine.OpKind, pre int64) (*store.Record, error) {
	return update1(e.eng, admin, "docs", id, body(e.t, src), mode, engine.Precondition{Version: pre})
}

func TestUpdateMergePatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, docsSpec)
	rec := e.create(admin, "docs", `{"title": "T", "subtitle": "S", "code": "C1", "tags": ["a", "b"],
		"meta": {"a": "x", "b": 1, "sub": {"x": 1, "y": 2}}}`)
	id := rec.ID
	created := rec.CreatedAt

	steps := []struct {
		name  string
		patch string
		check map[string]any // fields of the record after the patch
	}{
		{"a member replaces", `{"title": "T2"}`, map[string]any{"title": "T2", "subtitle": "S"}},
		{"null clears", `{"subtitle": null}`, map[string]any{"subtitle": nil, "title": "T2"}},
		{"objects merge member by member", `{"meta": {"b": 5}}`,
			map[string]any{"meta": map[string]any{"a": "x", "b": int64(5), "sub": map[string]any{"x": int64(1), "y": int64(2)}}}},
		{"nested objects merge too", `{"meta": {"sub": {"y": 9}}}`,
			map[string]any{"meta": map[string]any{"a": "x", "b": int64(5), "sub": map[string]any{"x": int64(1), "y": int64(9)}}}},
		{"arrays are replaced whole", `{"tags": ["z"]}`, map[string]any{"tags": []any{"z"}}},
		{"null clears an object", `{"meta": null}`, map[string]any{"meta": nil}},
		{"an object into a null field is set as given", `{"meta": {"a": "new"}}`, map[string]any{"meta": map[string]any{"a": "new"}}},
		{"immutable field sent unchanged is fine", `{"code": "C1", "count": 4}`, map[string]any{"code": "C1", "count": int64(4)}},
	}
	version := int64(1)
	for _, s := range steps {
		e.clock.Advance(time.Second)
		got, err := e.update(id, s.patch, engine.OpUpdate, 0)
		if err != nil {
			t.Fatalf("%s: patch %s: %s", s.name, s.patch, describe(err))
		}
		version++
		stored := e.get(admin, "docs", id)
		for _, r := range []*store.Record{got, stored} {
			for k, v := range s.check {
				if got, _ := r.Value(k); !reflect.DeepEqual(got, v) {
					t.Errorf("%s: %s = %#v, want %#v", s.name, k, got, v)
				}
			}
			if r.Version != version {
				t.Errorf("%s: version = %v, want %d", s.name, r.Version, version)
			}
			if at := r.UpdatedAt; !at.Equal(e.now()) {
				t.Errorf("%s: updated_at = %v, want the clock's %v", s.name, at, e.now())
			}
			if at := r.CreatedAt; !at.Equal(created) {
				t.Errorf("%s: created_at changed to %v", s.name, at)
			}
		}
	}
}

func TestUpdateNoOpWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, docsSpec)
	rec := e.create(admin, "docs", `{"title": "T", "code": "C", "tags": ["a"], "meta": {"a": "x", "sub": {"x": 1}}}`)
	id := rec.ID
	for _, patch := range []string{
		`{}`,
		`{"title": "T"}`,
		`{"subtitle": null}`,
		`{"tags": ["a"], "code": "C", "status": "draft"}`,
		`{"meta": {"a": "x", "sub": {"x": 1}}}`,
	} {
		e.clock.Advance(time.Minute)
		got, err := e.update(id, patch, engine.OpUpdate, 0)
		if err != nil {
			t.Fatalf("patch %s: %s", patch, describe(err))
		}
		if got.Version != int64(1) {
			t.Errorf("no-op patch %s bumped the version to %v", patch, got.Version)
		}
		after := e.get(admin, "docs", id)
		if after.Version != int64(1) || !after.UpdatedAt.Equal(rec.UpdatedAt) {
			t.Errorf("no-op patch %s wrote: version %v, updated_at %v", patch, after.Version, after.UpdatedAt)
		}
	}
}

// TestUpdateNoOpNestedValues: sending back what a record holds in nested values changes nothing.
// Nested values travel through JSON in the store, so their Go types must still compare equal.
func TestUpdateNoOpNestedValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  shapes:
    fields:
      name: {type: string, max_length: 10}
      dims:
        type: object
        fields:
          w:  number
          at: timestamp
          note: {type: string, max_length: 10}
      fixed:
        type: object
        immutable: true
        fields:
          w: number
      raw: json
`)
	cases := []struct{ name, create, patch string }{
		{"whole number in a number field", `{"dims": {"w": 2}}`, `{"dims": {"w": 2}}`},
		{"nested timestamp", `{"dims": {"at": "2026-01-01T00:00:00Z"}}`, `{"dims": {"at": "2026-01-01T00:00:00Z"}}`},
		{"null for an absent nested member", `{"dims": {"w": 1.5}}`, `{"dims": {"note": null}}`},
		{"json number written 1.0", `{"raw": {"n": 1.0}}`, `{"raw": {"n": 1.0}}`},
		{"nested string", `{"dims": {"note": "x"}}`, `{"dims": {"note": "x"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := e.create(admin, "shapes", c.create).ID
			got, err := update1(e.eng, admin, "shapes", id, body(t, c.patch), engine.OpUpdate, engine.Precondition{})
			if err != nil {
				t.Fatalf("patch %s: %s", c.patch, describe(err))
			}
			if v := got.Version; v != 1 {
				t.Fatalf("no-op patch %s on %s wrote version %d: nested values read back from the store "+
					"(int64 for whole numbers, strings for timestamps, explicit nulls after a merge) do not compare equal to validated input", c.patch, c.create, v)
			}
		})
	}
	id := e.create(admin, "shapes", `{"name": "a", "fixed": {"w": 3}}`).ID
	t.Run("PUT of the record as read keeps an immutable object", func(t *testing.T) {
		cur := e.get(admin, "shapes", id)
		_, err := update1(e.eng, admin, "shapes", id, body(t, `{"name": "a", "fixed": {"w": 3}}`), engine.OpReplace, engine.Precondition{})
		if fault.CodeOf(err) == fault.Invalid {
			t.Fatalf("PUT with an unchanged immutable object {\"w\": 3} is refused (%s): the stored value reads back as int64 3, "+
				"the input validates to float64 3; stored fixed = %#v", describe(err), cur.Fields["fixed"])
		}
		if err != nil {
			t.Fatal(describe(err))
		}
	})
}

// TestNestedTimestampsReadBack: a timestamp inside an object is written back like a top-level
// one, in UTC with microseconds.
func TestNestedTimestampsReadBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  meetings:
    fields:
      at: timestamp
      span:
        type: object
        fields:
          start: timestamp
`)
	rec := e.create(admin, "meetings", `{"at": "2026-01-01T01:00:00+01:00", "span": {"start": "2026-01-01T01:00:00+01:00"}}`)
	want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := e.get(admin, "meetings", rec.ID)
	if at, ok := got.Fields["at"].(time.Time); !ok || !at.Equal(want) {
		t.Fatalf("top-level at = %#v", got.Fields["at"])
	}
	start := got.Fields["span"].(map[string]any)["start"]
	created := rec.Fields["span"].(map[string]any)["start"]
	if !reflect.DeepEqual(start, created) {
		t.Fatalf("a nested timestamp reads back as %#v (%T) but Create returned %#v (%T): nested timestamps are stored "+
			"with encoding/json and come back as strings that are neither time.Time nor the UTC-microseconds form the docs promise", start, start, created, created)
	}
}

func TestUpdateReplace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, docsSpec)
	rec := e.create(admin, "docs", `{"title": "T", "subtitle": "S", "code": "C1", "count": 2, "tags": ["a"], "meta": {"a": "x"}, "status": "draft"}`)
	id := rec.ID

	got, err := e.update(id, `{"title": "New", "status": "draft"}`, engine.OpReplace, 0)
	if err != nil {
		t.Fatal(describe(err))
	}
	for _, r := range []*store.Record{got, e.get(admin, "docs", id)} {
		// What the body omits is as on a create: null, the default (count), or kept (immutable code).
		want := map[string]any{"title": "New", "subtitle": nil, "code": "C1", "count": int64(0), "tags": nil, "meta": nil, "status": "draft", "version": int64(2)}
		for k, v := range want {
			if got, _ := r.Value(k); !reflect.DeepEqual(got, v) {
				t.Errorf("after PUT %s = %#v, want %#v", k, got, v)
			}
		}
	}
	// Required fields are still required.
	_, err = e.update(id, `{"subtitle": "x", "status": "draft"}`, engine.OpReplace, 0)
	wantFields(t, err, map[string]string{"title": "required"})
	// Immutable fields may be sent unchanged, but not changed or cleared.
	if _, err := e.update(id, `{"title": "T", "code": "C1", "status": "draft"}`, engine.OpReplace, 0); err != nil {
		t.Fatalf("PUT with the immutable field unchanged: %s", describe(err))
	}
	_, err = e.update(id, `{"title": "T", "code": "C2", "status": "draft"}`, engine.OpReplace, 0)
	wantFields(t, err, map[string]string{"code": "immutable"})
	_, err = e.update(id, `{"title": "T", "code": null, "status": "draft"}`, engine.OpReplace, 0)
	wantFields(t, err, map[string]string{"code": "immutable"})
	if cur := e.get(admin, "docs", id); cur.Fields["code"] != "C1" || cur.Version != int64(3) {
		t.Errorf("after refused PUTs: code %v version %v, want C1 and 3", cur.Fields["code"], cur.Version)
	}
}

func TestUpdateRejectsFieldsClientsMayNotWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, docsSpec)
	rec := e.create(admin, "docs", `{"title": "T", "code": "C1"}`)
	id := rec.ID
	cases := []struct {
		patch string
		want  map[string]string
	}{
		{`{"code": "C2"}`, map[string]string{"code": "immutable"}},
		{`{"code": null}`, map[string]string{"code": "immutable"}},
		{`{"nope": 1}`, map[string]string{"nope": "unknown"}},
		{`{"id": "x", "version": 3, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}`,
			map[string]string{"id": "read_only", "version": "read_only", "created_at": "read_only", "updated_at": "read_only"}},
		{`{"title": null}`, map[string]string{"title": "required"}},
		{`{"title": 5, "meta": {"zz": 1, "b": "x"}}`, map[string]string{"title": "type", "meta.zz": "unknown", "meta.b": "type"}},
	}
	for _, c := range cases {
		_, err := e.update(id, c.patch, engine.OpUpdate, 0)
		wantFields(t, err, c.want)
	}
	if cur := e.get(admin, "docs", id); cur.Version != int64(1) || cur.Fields["title"] != "T" || cur.Fields["code"] != "C1" {
		t.Errorf("refused updates changed the record: %v", cur)
	}
}

func TestUpdatePrecondition(t *testing.T) {
	t.Parallel()
	e := newEnv(t, docsSpec)
	id := e.create(admin, "docs", `{"title": "T"}`).ID
	if _, err := e.update(id, `{"title": "T2"}`, engine.OpUpdate, 1); err != nil {
		t.Fatalf("update at the current version: %s", describe(err))
	}
	_, err := e.update(id, `{"title": "T3"}`, engine.OpUpdate, 1)
	f := wantCode(t, err, fault.PreconditionFailed)
	if f.Extra["current_version"] != int64(2) {
		t.Errorf("current_version = %#v, want 2", f.Extra["current_version"])
	}
	if cur := e.get(admin, "docs", id); cur.Fields["title"] != "T2" || cur.Version != int64(2) {
		t.Errorf("a stale update was written: %v", cur)
	}
	_, err = e.update(id, `{"title": "T3"}`, engine.OpReplace, 7)
	wantCode(t, err, fault.PreconditionFailed)
	// Delete honours it too.
	wantCode(t, delete1(e.eng, admin, "docs", id, engine.Precondition{Version: 1}), fault.PreconditionFailed)
	if err := delete1(e.eng, admin, "docs", id, engine.Precondition{Version: 2}); err != nil {
		t.Fatalf("delete at the current version: %s", describe(err))
	}
	// A missing record is NotFound, precondition or not.
	_, err = e.update(id, `{"title": "T3"}`, engine.OpUpdate, 2)
	wantCode(t, err, fault.NotFound)
}

func TestEnumTransitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, docsSpec)
	id := e.create(admin, "docs", `{"title": "T"}`).ID
	steps := []struct {
		to      string
		allowed []string // nil: the move is allowed
	}{
		{"published", []string{"review"}},
		{"archived", []string{"review"}},
		{"review", nil},
		{"draft", nil}, // back again
		{"review", nil},
		{"review", nil}, // staying put is no change
		{"published", nil},
		{"draft", []string{"archived"}},
		{"archived", nil},
		{"published", []string{}}, // archived is final
		{"draft", []string{}},
	}
	from := "draft"
	for _, s := range steps {
		got, err := e.update(id, `{"status": "`+s.to+`"}`, engine.OpUpdate, 0)
		if s.allowed == nil {
			if err != nil {
				t.Fatalf("%s → %s: %s", from, s.to, describe(err))
			}
			if got.Fields["status"] != s.to {
				t.Fatalf("status = %v, want %s", got.Fields["status"], s.to)
			}
			from = s.to
			continue
		}
		f := wantCode(t, err, fault.Conflict)
		if f.Type != fault.TypeInvalidTransition {
			t.Errorf("%s → %s: type %q, want invalid-transition", from, s.to, f.Type)
		}
		if c := fieldCodes(t, err); c["status"] != "transition" {
			t.Errorf("%s → %s: field errors %v, want status: transition", from, s.to, c)
		}
		allowed, _ := f.Extra["allowed"].([]string)
		if allowed == nil || !slices.Equal(allowed, s.allowed) {
			t.Errorf("%s → %s: allowed = %#v, want %#v", from, s.to, f.Extra["allowed"], s.allowed)
		}
		if f.Extra["from"] != from || f.Extra["to"] != s.to || f.Extra["field"] != "status" {
			t.Errorf("%s → %s: extra %v", from, s.to, f.Extra)
		}
		if cur := e.get(admin, "docs", id); cur.Fields["status"] != from {
			t.Errorf("a refused transition was written: %v", cur.Fields["status"])
		}
	}
	// Without transitions any value may follow any other.
	for _, m := range []string{"calm", "busy", "calm"} {
		if _, err := e.update(id, `{"mood": "`+m+`"}`, engine.OpUpdate, 0); err != nil {
			t.Fatalf("mood → %s: %s", m, describe(err))
		}
	}
}

// TestEnumTransitionsCannotBeBypassedWithNull: a final state stays final; clearing the field and
// setting it again would otherwise reach any state.
func TestEnumTransitionsCannotBeBypassedWithNull(t *testing.T) {
	t.Parallel()
	e := newEnv(t, docsSpec)
	id := e.create(admin, "docs", `{"title": "T"}`).ID
	for _, s := range []string{"review", "published", "archived"} {
		e.update(id, `{"status": "`+s+`"}`, engine.OpUpdate, 0)
	}
	if cur := e.get(admin, "docs", id); cur.Fields["status"] != "archived" {
		t.Fatalf("setup: status %v", cur.Fields["status"])
	}
	_, errPatch := e.update(id, `{"status": null}`, engine.OpUpdate, 0)
	_, errPut := e.update(id, `{"title": "T"}`, engine.OpReplace, 0)
	if errPatch == nil || errPut == nil {
		_, errBack := e.update(id, `{"status": "draft"}`, engine.OpUpdate, 0)
		t.Fatalf("an archived (final) status can be cleared (merge patch null: %v; PUT without it: %v) and then set to draft (%v): "+
			"checkChange skips transitions when either side is null", describe(errPatch), describe(errPut), describe(errBack))
	}
	wantFields(t, errPatch, map[string]string{"status": "null"}) // it has a default, so it may not be null
	wantCode(t, errPut, fault.Conflict)                          // PUT without it means the default, draft
}

const machineSpec = `
plinth: 1
name: test
resources:
  orders:
    fields:
      status:
        type: enum
        values: [pending, paid, shipped, cancelled]
        default: pending
        transitions: {pending: [paid, cancelled], paid: [shipped, cancelled]}
      review:
        type: enum
        values: [asked, open, done]
        initial: [asked, open]
        transitions: {asked: [open], open: [done]}
    access: {list: "true", read: "true", write: "true"}
`

// TestStateMachinesStartAtTheirStart: a record is created only in an initial state, whoever
// creates it, and a nullable machine is entered from null only at an initial state.
func TestStateMachinesStartAtTheirStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, machineSpec)
	for _, caller := range []context.Context{alice, admin} {
		for _, st := range []string{"paid", "shipped", "cancelled"} {
			_, err := create1(e.eng, caller, "orders", body(t, `{"status": "`+st+`"}`))
			wantFields(t, err, map[string]string{"status": "initial"})
		}
		_, err := create1(e.eng, caller, "orders", body(t, `{"review": "done"}`))
		wantFields(t, err, map[string]string{"review": "initial"})
		// Reported with the body's other mistakes at once; a value outside the enum only as such.
		_, err = create1(e.eng, caller, "orders", body(t, `{"status": "paid", "review": "nope", "x": 1}`))
		wantFields(t, err, map[string]string{"status": "initial", "review": "enum", "x": "unknown"})
	}
	if n := len(e.all("orders")); n != 0 {
		t.Fatalf("refused creates wrote %d records", n)
	}
	for _, b := range []string{`{}`, `{"status": "pending"}`, `{"review": "asked"}`, `{"review": "open"}`} {
		e.create(alice, "orders", b)
	}
	id := e.create(alice, "orders", `{}`).ID
	_, err := update1(e.eng, admin, "orders", id, body(t, `{"review": "done"}`), engine.OpUpdate, engine.Precondition{})
	f := wantCode(t, err, fault.Conflict)
	if f.Type != fault.TypeInvalidTransition || f.Extra["from"] != nil || !reflect.DeepEqual(f.Extra["allowed"], []string{"asked", "open"}) {
		t.Errorf("entering a machine from null past its start: %s", describe(err))
	}
	if got := e.patch(alice, "orders", id, `{"review": "open"}`); got.Fields["review"] != "open" {
		t.Fatalf("entering at an initial state: %v", got)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  authors:
    fields:
      name: {type: string, max_length: 50}
  books:
    fields:
      title:  {type: string, max_length: 50}
      author: {type: ref, resource: authors}
      also:   {type: array, of: {type: ref, resource: authors}}
`)
	ann := e.create(admin, "authors", `{"name": "Ann"}`).ID
	ben := e.create(admin, "authors", `{"name": "Ben"}`).ID
	book := e.create(admin, "books", `{"title": "B", "author": "`+ann+`"}`).ID

	// A record referenced by another's top-level ref stays.
	t.Run("referenced record is a conflict", func(t *testing.T) {
		err := delete1(e.eng, admin, "authors", ann, engine.Precondition{})
		if err == nil {
			t.Fatal("deleted a referenced record")
		}
		e.get(admin, "authors", ann)
		if fault.CodeOf(err) == fault.Internal {
			t.Fatalf("deleting a referenced record is an internal error, want Conflict (referenced): %s "+
				"(the store's classify knows SQLITE_CONSTRAINT_FOREIGNKEY, but ON DELETE RESTRICT fails with the extended code SQLITE_CONSTRAINT_TRIGGER, 1811)", describe(err))
		}
		f := wantCode(t, err, fault.Conflict)
		if f.Type != fault.TypeReferenced {
			t.Errorf("type %q, want referenced", f.Type)
		}
	})

	// An unreferenced one goes, and is gone.
	if err := delete1(e.eng, admin, "authors", ben, engine.Precondition{}); err != nil {
		t.Fatal(describe(err))
	}
	_, err := e.eng.Get(admin, "authors", ben)
	wantCode(t, err, fault.NotFound)
	wantCode(t, delete1(e.eng, admin, "authors", ben, engine.Precondition{}), fault.NotFound)
	wantCode(t, delete1(e.eng, admin, "authors", "no-such-id", engine.Precondition{}), fault.NotFound)
	if got := strs(e.all("authors"), "name"); !slices.Equal(got, []string{"Ann"}) {
		t.Errorf("authors left: %v", got)
	}

	// Once the reference is gone, so may the record be.
	e.patch(admin, "books", book, `{"author": null}`)
	if err := delete1(e.eng, admin, "authors", ann, engine.Precondition{}); err != nil {
		t.Fatalf("delete after the reference was cleared: %s", describe(err))
	}
	// A reference to a deleted record is refused.
	_, err = update1(e.eng, admin, "books", book, body(t, `{"author": "`+ann+`"}`), engine.OpUpdate, engine.Precondition{})
	wantFields(t, err, map[string]string{"author": "not_found"})
}

func TestUnique(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  users:
    fields:
      email:  {type: string, unique: true, format: email}
      handle: {type: string, unique: true, max_length: 20}
      first:  {type: string, max_length: 20}
      last:   {type: string, max_length: 20}
    indexes:
      - {fields: [first, last], unique: true}
`)
	a := e.create(admin, "users", `{"email": "a@x.org", "handle": "a", "first": "A", "last": "One"}`)
	b := e.create(admin, "users", `{"email": "b@x.org", "handle": "b", "first": "A", "last": "Two"}`)
	cases := []struct {
		name string
		do   func() error
		want []string
	}{
		{"create with a taken email", func() error {
			_, err := create1(e.eng, admin, "users", body(t, `{"email": "a@x.org", "handle": "c"}`))
			return err
		}, []string{"email"}},
		{"create with a taken handle", func() error {
			_, err := create1(e.eng, admin, "users", body(t, `{"email": "c@x.org", "handle": "b"}`))
			return err
		}, []string{"handle"}},
		{"create with a taken pair", func() error {
			_, err := create1(e.eng, admin, "users", body(t, `{"email": "c@x.org", "handle": "c", "first": "A", "last": "One"}`))
			return err
		}, []string{"first", "last"}},
		{"update to a taken handle", func() error {
			_, err := update1(e.eng, admin, "users", b.ID, body(t, `{"handle": "a"}`), engine.OpUpdate, engine.Precondition{})
			return err
		}, []string{"handle"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			f := wantCode(t, err, fault.Conflict)
			if f.Type != fault.TypeUnique {
				t.Errorf("type %q, want unique", f.Type)
			}
			var named []string
			for _, fe := range f.Fields {
				if fe.Code != "unique" {
					t.Errorf("field error %s has code %s, want unique", fe.Field, fe.Code)
				}
				named = append(named, fe.Field)
			}
			slices.Sort(named)
			if !slices.Equal(named, c.want) {
				t.Errorf("conflict names %v, want %v", named, c.want)
			}
		})
	}
	if got := sortedStrs(e.all("users"), "handle"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("users after conflicts: %v", got)
	}
	if cur := e.get(admin, "users", b.ID); cur.Fields["handle"] != "b" || cur.Version != int64(1) {
		t.Errorf("a refused update was written: %v", cur)
	}
	// Nulls never clash, and a record may keep its own value.
	e.create(admin, "users", `{}`)
	e.create(admin, "users", `{}`)
	e.patch(admin, "users", a.ID, `{"email": "a@x.org", "handle": "a2"}`)
}
