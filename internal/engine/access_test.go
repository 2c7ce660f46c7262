package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
)

const accessSpec = `
plinth: 1
name: test
resources:
  secrets:
    fields:
      v: {type: string, max_length: 10}
  notes:
    fields:
      owner:  {type: string, default: auth.sub, immutable: true, max_length: 20}
      body:   {type: string, max_length: 100}
      locked: {type: boolean, default: false}
    access:
      list:   'auth.role == "admin" || record.owner == auth.sub'
      read:   'auth.role in ["admin", "auditor"] || record.owner == auth.sub'
      create: 'auth.sub != null && record.owner == auth.sub'
      update: '(record.owner == auth.sub && !old.locked) || auth.role == "admin"'
      delete: 'auth.role == "admin"'
  staff:
    fields:
      name: {type: string, max_length: 20}
    access:
      list: 'auth.role == "staff"'
      read: 'auth.role == "staff"'
      write: 'auth.role == "staff" && auth.sub != "intern"'
  board:
    fields:
      msg: {type: string, max_length: 20}
    access:
      list: "true"
      read: "true"
      create: 'auth.sub != null'
`

var (
	auditor = as("audrey", "auditor")
	staffer = as("sam", "staff")
	intern  = as("intern", "staff")
)

// TestAccessDeniedByDefault: without a rule only role admin may act.
func TestAccessDeniedByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, accessSpec)
	id := e.create(admin, "secrets", `{"v": "s"}`).ID

	cases := []struct {
		name   string
		caller context.Context
		want   fault.Code
	}{
		{"customer", alice, fault.Forbidden},
		{"anonymous", anon, fault.Unauthorized},
		{"staff", staffer, fault.Forbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := create1(e.eng, c.caller, "secrets", body(t, `{"v": "x"}`))
			wantCode(t, err, c.want)
			_, err = e.eng.List(c.caller, "secrets", engine.ListParams{})
			wantCode(t, err, c.want)
			// The rule refuses these callers whatever the record, so reads, updates and deletes are
			// refused alike for an existing and a missing record: the answer says nothing of either.
			for _, rid := range []string{id, "0190c1d2-7b3a-7def-8123-456789abcdef"} {
				_, err = e.eng.Get(c.caller, "secrets", rid)
				wantCode(t, err, c.want)
				_, err = update1(e.eng, c.caller, "secrets", rid, body(t, `{"v": "y"}`), engine.OpUpdate, engine.Precondition{})
				wantCode(t, err, c.want)
				wantCode(t, delete1(e.eng, c.caller, "secrets", rid, engine.Precondition{}), c.want)
			}
		})
	}
	if all := e.all("secrets"); len(all) != 1 || all[0].Fields["v"] != "s" || all[0].Version != int64(1) {
		t.Errorf("denied callers changed secrets: %v", all)
	}
	// A non-admin with no rule is refused even before validation.
	_, err := create1(e.eng, alice, "secrets", body(t, `{"v": 5}`))
	wantCode(t, err, fault.Forbidden)
}

func TestAccessRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, accessSpec)
	aliceNote := e.create(alice, "notes", `{"body": "mine"}`).ID
	bobNote := e.create(bob, "notes", `{"body": "bob's"}`).ID

	t.Run("create", func(t *testing.T) {
		_, err := create1(e.eng, alice, "notes", body(t, `{"owner": "bob", "body": "forged"}`))
		wantCode(t, err, fault.Forbidden)
		_, err = create1(e.eng, anon, "notes", body(t, `{"body": "who"}`))
		wantCode(t, err, fault.Unauthorized)
		if got := sortedStrs(e.all("notes"), "body"); !slices.Equal(got, []string{"bob's", "mine"}) {
			t.Errorf("notes after denied creates: %v", got)
		}
	})

	t.Run("read", func(t *testing.T) {
		if got := e.get(alice, "notes", aliceNote); got.Fields["body"] != "mine" {
			t.Errorf("owner reads %v", got)
		}
		e.get(auditor, "notes", bobNote)
		e.get(admin, "notes", bobNote)
		_, err := e.eng.Get(bob, "notes", aliceNote)
		f := wantCode(t, err, fault.NotFound)
		_, errMissing := e.eng.Get(bob, "notes", "0190c1d2-7b3a-7def-8123-456789abcdef")
		if g := fault.As(errMissing); g == nil || g.Message != f.Message || g.Code != f.Code {
			t.Errorf("a hidden record (%s) is distinguishable from a missing one (%s)", describe(err), describe(errMissing))
		}
		// Anonymous callers are no exception: a record hidden from them is missing to them.
		_, err = e.eng.Get(anon, "notes", aliceNote)
		f = wantCode(t, err, fault.NotFound)
		_, errMissing = e.eng.Get(anon, "notes", "0190c1d2-7b3a-7def-8123-456789abcdef")
		if g := fault.As(errMissing); g == nil || g.Message != f.Message || g.Code != f.Code {
			t.Errorf("to an anonymous caller, a hidden record (%s) is distinguishable from a missing one (%s)", describe(err), describe(errMissing))
		}
	})

	t.Run("update of a hidden record is NotFound", func(t *testing.T) {
		_, err := update1(e.eng, bob, "notes", aliceNote, body(t, `{"body": "hacked"}`), engine.OpUpdate, engine.Precondition{})
		wantCode(t, err, fault.NotFound)
		// Not even a precondition or a transition reveals anything.
		_, err = update1(e.eng, bob, "notes", aliceNote, body(t, `{"body": "x"}`), engine.OpUpdate, engine.Precondition{Version: 99})
		wantCode(t, err, fault.NotFound)
		_, err = update1(e.eng, anon, "notes", aliceNote, body(t, `{"body": "x"}`), engine.OpUpdate, engine.Precondition{})
		wantCode(t, err, fault.NotFound)
		// The delete rule refuses bob whatever the record: Forbidden, for a hidden record and a
		// missing one alike.
		for _, rid := range []string{aliceNote, "0190c1d2-7b3a-7def-8123-456789abcdef"} {
			wantCode(t, delete1(e.eng, bob, "notes", rid, engine.Precondition{Version: 99}), fault.Forbidden)
		}
	})

	t.Run("update and delete of a readable record are Forbidden when the rule denies", func(t *testing.T) {
		_, err := update1(e.eng, auditor, "notes", aliceNote, body(t, `{"body": "audited"}`), engine.OpUpdate, engine.Precondition{})
		wantCode(t, err, fault.Forbidden)
		wantCode(t, delete1(e.eng, auditor, "notes", aliceNote, engine.Precondition{}), fault.Forbidden)
		wantCode(t, delete1(e.eng, alice, "notes", aliceNote, engine.Precondition{}), fault.Forbidden)
		if got := e.get(admin, "notes", aliceNote); got.Fields["body"] != "mine" || got.Version != int64(1) {
			t.Errorf("denied writes changed the note: %v", got)
		}
	})

	t.Run("update rule using old", func(t *testing.T) {
		e.patch(alice, "notes", aliceNote, `{"body": "edited"}`)
		e.patch(alice, "notes", aliceNote, `{"locked": true}`) // old.locked is false: allowed
		_, err := update1(e.eng, alice, "notes", aliceNote, body(t, `{"body": "again"}`), engine.OpUpdate, engine.Precondition{})
		wantCode(t, err, fault.Forbidden)
		_, err = update1(e.eng, alice, "notes", aliceNote, body(t, `{"locked": false}`), engine.OpUpdate, engine.Precondition{})
		wantCode(t, err, fault.Forbidden)
		if got := e.get(alice, "notes", aliceNote); got.Fields["body"] != "edited" || got.Fields["locked"] != true || got.Version != int64(3) {
			t.Errorf("note after a locked update: %v", got)
		}
		// The rule sees the record as it would be stored.
		e.patch(admin, "notes", aliceNote, `{"locked": false}`)
		_, err = update1(e.eng, alice, "notes", aliceNote, body(t, `{"owner": "bob"}`), engine.OpUpdate, engine.Precondition{})
		wantCode(t, err, fault.Invalid) // immutable
		// Admins may delete.
		if err := delete1(e.eng, admin, "notes", aliceNote, engine.Precondition{}); err != nil {
			t.Fatal(describe(err))
		}
	})
}

func TestAccessList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, accessSpec)
	for _, c := range []struct {
		ctx context.Context
		n   int
	}{{alice, 3}, {bob, 2}} {
		for i := 0; i < c.n; i++ {
			e.create(c.ctx, "notes", `{"body": "n"}`)
		}
	}
	e.create(staffer, "staff", `{"name": "s"}`)
	e.create(alice, "board", `{"msg": "hello"}`)

	cases := []struct {
		name     string
		caller   context.Context
		resource string
		want     []string // owners seen, sorted; nil with err
		err      fault.Code
	}{
		{"customers see only their own", alice, "notes", []string{"alice", "alice", "alice"}, ""},
		{"other customers theirs", bob, "notes", []string{"bob", "bob"}, ""},
		{"admins see all", admin, "notes", []string{"alice", "alice", "alice", "bob", "bob"}, ""},
		{"auditors may read but list only what matches the list rule", auditor, "notes", []string{}, ""},
		{"a rule false for the caller whatever the record is Forbidden", alice, "staff", nil, fault.Forbidden},
		{"and Unauthorized for anonymous callers", anon, "staff", nil, fault.Unauthorized},
		{"a rule true for the caller lists", staffer, "staff", []string{"<nil>"}, ""},
		{"a constant-true rule admits anonymous callers", anon, "board", []string{"<nil>"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			page, err := e.eng.List(c.caller, c.resource, engine.ListParams{})
			if c.err != "" {
				wantCode(t, err, c.err)
				return
			}
			if err != nil {
				t.Fatal(describe(err))
			}
			if got := sortedStrs(records(page.Items), "owner"); !slices.Equal(got, c.want) {
				t.Errorf("owners %v, want %v", got, c.want)
			}
		})
	}
	// A filter cannot widen the rule.
	page, err := e.eng.List(bob, "notes", engine.ListParams{Filter: `owner == "alice" || owner == "bob"`})
	if err != nil {
		t.Fatal(describe(err))
	}
	if got := sortedStrs(records(page.Items), "owner"); !slices.Equal(got, []string{"bob", "bob"}) {
		t.Errorf("bob's filtered list: %v", got)
	}
	// Nor can pagination: every page respects the rule.
	var seen []string
	p := engine.ListParams{Limit: new(1)}
	for {
		page, err := e.eng.List(alice, "notes", p)
		if err != nil {
			t.Fatal(describe(err))
		}
		seen = append(seen, strs(records(page.Items), "owner")...)
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	if !slices.Equal(seen, []string{"alice", "alice", "alice"}) {
		t.Errorf("alice paged through %v", seen)
	}
}

// TestAccessWriteShorthand: write covers create, update and delete.
func TestAccessWriteShorthand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, accessSpec)
	id := e.create(staffer, "staff", `{"name": "a"}`).ID
	_, err := create1(e.eng, intern, "staff", body(t, `{"name": "b"}`))
	wantCode(t, err, fault.Forbidden)
	_, err = update1(e.eng, intern, "staff", id, body(t, `{"name": "b"}`), engine.OpUpdate, engine.Precondition{})
	wantCode(t, err, fault.Forbidden)
	wantCode(t, delete1(e.eng, intern, "staff", id, engine.Precondition{}), fault.Forbidden)
	e.patch(staffer, "staff", id, `{"name": "c"}`)
	// write does not grant admins anything the rule does not say.
	_, err = update1(e.eng, admin, "staff", id, body(t, `{"name": "d"}`), engine.OpUpdate, engine.Precondition{})
	wantCode(t, err, fault.Forbidden) // the read rule refuses admins too, whatever the record
	if err := delete1(e.eng, staffer, "staff", id, engine.Precondition{}); err != nil {
		t.Fatal(describe(err))
	}
	// board has a create rule only: updates and deletes are admin-only.
	b := e.create(alice, "board", `{"msg": "hi"}`).ID
	_, err = update1(e.eng, alice, "board", b, body(t, `{"msg": "edit"}`), engine.OpUpdate, engine.Precondition{})
	wantCode(t, err, fault.Forbidden)
	wantCode(t, delete1(e.eng, alice, "board", b, engine.Precondition{}), fault.Forbidden)
	e.patch(admin, "board", b, `{"msg": "edit"}`)
}

// TestAccessRuleSeesSystemFields: the docs promise that record is the record "as it would be
// stored" in create and update rules, and stored records have their system fields.
func TestAccessRuleSeesSystemFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  posts:
    fields:
      title: {type: string, max_length: 20}
    access:
      read:   "true"
      create: 'record.version == 1 && auth.sub != ""'
      update: 'record.id == old.id && record.version == old.version + 1'
`)
	rec, err := create1(e.eng, alice, "posts", body(t, `{"title": "a"}`))
	if err != nil {
		t.Fatalf("a create rule on record.version denies (%s): Create checks the rule before setting id, created_at, updated_at and version", describe(err))
	}
	_, err = update1(e.eng, alice, "posts", rec.ID, body(t, `{"title": "b"}`), engine.OpUpdate, engine.Precondition{})
	if err != nil {
		t.Fatalf("an update rule on record.id and record.version denies (%s): Update checks the rule before setting the system fields", describe(err))
	}
}

// TestListRuleWithAnIncomparableClaimDenies: a claim of another type than the field it is
// compared with cannot be bound into the rule's SQL. The rule fails, and a rule that fails
// denies; before, the list answered 500.
func TestListRuleWithAnIncomparableClaimDenies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  docs:
    fields:
      level: {type: integer, required: true}
    access:
      list: 'record.level <= auth.claims.level'
      read: "true"
`)
	e.create(admin, "docs", `{"level": 1}`)
	with := func(level any) context.Context {
		return engine.WithPrincipal(context.Background(), engine.Principal{Subject: "u", Role: "customer", Claims: map[string]any{"level": level}})
	}
	page, err := e.eng.List(with(int64(2)), "docs", engine.ListParams{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("a numeric claim: %v, %s", page, describe(err))
	}
	_, err = e.eng.List(with("2"), "docs", engine.ListParams{})
	wantCode(t, err, fault.Forbidden)
}

// TestLookupReadsUnderTheCallersReadRule: lookup() and reference checks see only what the
// caller may read. Before, a computed field copied a private record into the caller's own,
// and a reference to a hidden record confirmed that it exists.
func TestLookupReadsUnderTheCallersReadRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  secrets:
    fields:
      owner: {type: string, default: auth.sub, max_length: 20}
      v: {type: string, max_length: 20}
    access: {read: 'record.owner == auth.sub', create: 'auth.sub != null'}
  notes:
    fields:
      secret: {type: ref, resource: secrets}
      key: {type: string, max_length: 40}
      copied: {type: string, computed: 'key == null ? "" : lookup("secrets", key).v'}
    access: {read: "true", create: 'auth.sub != null'}
`)
	bobs := e.create(bob, "secrets", `{"v": "bob's secret"}`).ID
	// By reference: to alice, bob's secret does not exist.
	_, err := create1(e.eng, alice, "notes", body(t, `{"secret": "`+bobs+`"}`))
	wantFields(t, err, map[string]string{"secret": "not_found"})
	// By lookup of a plain string: the lookup fails as for a missing record; nothing is copied.
	_, err = create1(e.eng, alice, "notes", body(t, `{"key": "`+bobs+`"}`))
	wantExprFailed(t, err, "notes.copied.computed", "notes", "")
	if n := len(e.all("notes")); n != 0 {
		t.Fatalf("refused notes were written: %d", n)
	}
	// Bob, who may read it, gets both.
	rec := e.create(bob, "notes", `{"secret": "`+bobs+`", "key": "`+bobs+`"}`)
	if rec.Fields["copied"] != "bob's secret" {
		t.Errorf("the owner's lookup: %v", rec.Fields["copied"])
	}
}
