package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// The engine is tested through its public API against a real SQLite file in t.TempDir(), with
// specs written inline. Request bodies are written as JSON and decoded with UseNumber, as the
// REST transport does, so that numbers reach the engine as json.Number.

// fakeClock is the engine's clock in tests: it only moves when a test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// clockStart has nanoseconds and a zone on purpose: the engine must store UTC microseconds.
var clockStart = time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// now is the clock's time as the engine stores it.
func (e *env) now() time.Time { return stored(e.clock.Now()) }

// stored is what the engine should make of a clock reading: UTC, truncated to microseconds.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// countingStore wraps the SQLite store to count what the engine asks of it. It embeds the
// store so that every method it does not count is the store's own.
type countingStore struct {
	store.Store

	mu      sync.Mutex
	gets    map[string]int // Store.Get, outside transactions, per resource
	getMany map[string]int // Store.GetMany per resource
	txGets  map[string]int // store.Tx.Get per resource
}

var _ store.Store = (*countingStore)(nil)

func (s *countingStore) count(m map[string]int, r *spec.Resource) {
	s.mu.Lock()
	m[r.Name]++
	s.mu.Unlock()
}

func (s *countingStore) Get(ctx context.Context, r *spec.Resource, id string) (*store.Record, error) {
	s.count(s.gets, r)
	return s.Store.Get(ctx, r, id)
}

func (s *countingStore) GetMany(ctx context.Context, r *spec.Resource, ids []string) ([]*store.Record, error) {
	s.count(s.getMany, r)
	return s.Store.GetMany(ctx, r, ids)
}

func (s *countingStore) Write(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.Write(ctx, func(tx store.Tx) error { return fn(countingTx{Tx: tx, s: s}) })
}

func (s *countingStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.gets)
	clear(s.getMany)
	clear(s.txGets)
}

func (s *countingStore) snapshot() (gets, getMany, txGets map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := map[string]int{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(s.gets), cp(s.getMany), cp(s.txGets)
}

type countingTx struct {
	store.Tx
	s *countingStore
}

func (tx countingTx) Get(ctx context.Context, r *spec.Resource, id string) (*store.Record, error) {
	tx.s.count(tx.s.txGets, r)
	return tx.Tx.Get(ctx, r, id)
}

// env is an engine on a fresh database for one test.
type env struct {
	t     *testing.T
	eng   *engine.Engine
	store *countingStore
	clock *fakeClock
}

// newEnv compiles src, opens a database in a temporary folder and starts an engine on it.
func newEnv(t *testing.T, src string) *env {
	t.Helper()
	model, diags := spec.Compile("test.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("the test spec does not compile:\n%s", diags.Error())
	}
	db := openStore(t, model)
	store := &countingStore{Store: db, gets: map[string]int{}, getMany: map[string]int{}, txGets: map[string]int{}}
	clock := &fakeClock{t: clockStart}
	eng, err := engine.New(engine.Config{Model: model, Store: store, Now: clock.Now, CursorKey: []byte("test cursor key")})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	return &env{t: t, eng: eng, store: store, clock: clock}
}

// as is a context whose caller is sub with role.
func as(sub, role string) context.Context {
	return engine.WithPrincipal(context.Background(), engine.Principal{Subject: sub, Role: role})
}

var (
	admin = as("root", "admin")
	alice = as("alice", "customer")
	bob   = as("bob", "customer")
	anon  = context.Background()
)

// body decodes a JSON object the way the REST transport does: numbers as json.Number.
func body(t *testing.T, src string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("test body %s: %v", src, err)
	}
	return m
}

// create1, update1 and delete1 are single operations through Apply, as the transports send
// them: the error of the one operation, not a BatchError.
func create1(eng *engine.Engine, ctx context.Context, resource string, body map[string]any) (*store.Record, error) {
	return apply1(eng, ctx, engine.Op{Kind: engine.OpCreate, Resource: resource, Body: body})
}

func update1(eng *engine.Engine, ctx context.Context, resource, id string, body map[string]any, kind engine.OpKind, pre engine.Precondition) (*store.Record, error) {
	return apply1(eng, ctx, engine.Op{Kind: kind, Resource: resource, ID: id, Body: body, Pre: pre})
}

func delete1(eng *engine.Engine, ctx context.Context, resource, id string, pre engine.Precondition) error {
	_, err := apply1(eng, ctx, engine.Op{Kind: engine.OpDelete, Resource: resource, ID: id, Pre: pre})
	return err
}

func apply1(eng *engine.Engine, ctx context.Context, op engine.Op) (*store.Record, error) {
	recs, err := eng.Apply(ctx, []engine.Op{op})
	if be := (*engine.BatchError)(nil); errors.As(err, &be) {
		return nil, be.Err
	}
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

func (e *env) create(ctx context.Context, resource, src string) *store.Record {
	e.t.Helper()
	rec, err := create1(e.eng, ctx, resource, body(e.t, src))
	if err != nil {
		e.t.Fatalf("create %s %s: %v", resource, src, describe(err))
	}
	return rec
}

func (e *env) get(ctx context.Context, resource, id string) *store.Record {
	e.t.Helper()
	rec, err := e.eng.Get(ctx, resource, id)
	if err != nil {
		e.t.Fatalf("get %s/%s: %v", resource, id, describe(err))
	}
	return rec
}

func (e *env) patch(ctx context.Context, resource, id, src string) *store.Record {
	e.t.Helper()
	rec, err := update1(e.eng, ctx, resource, id, body(e.t, src), engine.OpUpdate, engine.Precondition{})
	if err != nil {
		e.t.Fatalf("patch %s/%s with %s: %v", resource, id, src, describe(err))
	}
	return rec
}

// all lists every record of resource as admin, in id order.
func (e *env) all(resource string) []*store.Record {
	e.t.Helper()
	page, err := e.eng.List(admin, resource, engine.ListParams{Limit: new(500)})
	if err != nil {
		e.t.Fatalf("list %s: %v", resource, describe(err))
	}
	if page.NextCursor != "" {
		e.t.Fatalf("list %s: more than 500 records", resource)
	}
	return records(page.Items)
}

// records are the records of a page's items.
func records(items []engine.Item) []*store.Record {
	out := make([]*store.Record, len(items))
	for i, it := range items {
		out[i] = it.Record
	}
	return out
}

// describe renders an error with its field errors, for failure messages.
func describe(err error) string {
	if err == nil {
		return "<nil>"
	}
	f := fault.As(err)
	if f == nil {
		return err.Error()
	}
	s := fmt.Sprintf("%s (type %q)", f.Error(), f.Type)
	for _, fe := range f.Fields {
		s += fmt.Sprintf("\n\t%s: %s (%s)", fe.Field, fe.Code, fe.Message)
	}
	if len(f.Extra) > 0 {
		s += fmt.Sprintf("\n\textra: %v", f.Extra)
	}
	return s
}

// wantCode fails unless err is a *fault.Error with code, and returns it.
func wantCode(t *testing.T, err error, code fault.Code) *fault.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	f := fault.As(err)
	if f == nil || fault.CodeOf(err) != code {
		t.Fatalf("error %s, want code %s", describe(err), code)
	}
	return f
}

// fieldCodes returns field path → code of err's field errors; it fails on a path reported twice.
func fieldCodes(t *testing.T, err error) map[string]string {
	t.Helper()
	out := map[string]string{}
	f := fault.As(err)
	if f == nil {
		return out
	}
	for _, fe := range f.Fields {
		if prev, dup := out[fe.Field]; dup {
			t.Errorf("field %s reported twice: %s and %s", fe.Field, prev, fe.Code)
		}
		if fe.Message == "" {
			t.Errorf("field error %s/%s has no message", fe.Field, fe.Code)
		}
		out[fe.Field] = fe.Code
	}
	return out
}

// wantFields fails unless err is Invalid with exactly the field errors want.
// wantExprFailed checks that err is the problem of a spec expression that failed at run time,
// naming where it is in the spec and the record (id "" for a create).
func wantExprFailed(t *testing.T, err error, where, resource, id string) {
	t.Helper()
	f := wantCode(t, err, fault.Invalid)
	want := map[string]any{"expression": where, "resource": resource}
	if id != "" {
		want["id"] = id
	}
	if f.Type != fault.TypeExpressionFailed || !reflect.DeepEqual(f.Extra, want) {
		t.Fatalf("got %s, want expression-failed with %v", describe(err), want)
	}
}

func wantFields(t *testing.T, err error, want map[string]string) {
	t.Helper()
	wantCode(t, err, fault.Invalid)
	got := fieldCodes(t, err)
	if !mapsEqual(got, want) {
		t.Fatalf("field errors\n\tgot  %v\n\twant %v\n%s", got, want, describe(err))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func ids(recs []*store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// strs returns the string field name of each record; nil becomes "<nil>".
func strs(recs []*store.Record, name string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		if v, _ := r.Value(name); v != nil {
			out[i] = v.(string)
		} else {
			out[i] = "<nil>"
		}
	}
	return out
}

func sortedStrs(recs []*store.Record, name string) []string {
	out := strs(recs, name)
	sort.Strings(out)
	return out
}

func TestNewRequiresModelAndStore(t *testing.T) {
	t.Parallel()
	if _, err := engine.New(engine.Config{}); err == nil {
		t.Fatal("engine.New without a model and a store succeeded")
	}
}

func TestUnknownResourceIsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  notes:
    fields:
      title: {type: string, max_length: 10}
`)
	_, err := create1(e.eng, admin, "nopes", body(t, `{}`))
	wantCode(t, err, fault.NotFound)
	_, err = e.eng.Get(admin, "nopes", "x")
	wantCode(t, err, fault.NotFound)
	_, err = e.eng.List(admin, "nopes", engine.ListParams{})
	wantCode(t, err, fault.NotFound)
	_, err = update1(e.eng, admin, "nopes", "x", body(t, `{}`), engine.OpUpdate, engine.Precondition{})
	wantCode(t, err, fault.NotFound)
	wantCode(t, delete1(e.eng, admin, "nopes", "x", engine.Precondition{}), fault.NotFound)
}

// TestSystemFields checks what every created record carries: a UUIDv7 id, created_at and
// updated_at from the clock in UTC microseconds, and version 1; Get returns the same.
func TestSystemFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: test
resources:
  notes:
    fields:
      title: {type: string, max_length: 10}
`)
	rec := e.create(admin, "notes", `{"title": "hi"}`)
	id := rec.ID
	if len(id) != 36 || id[14] != '7' {
		t.Errorf("id %q is not a UUIDv7", id)
	}
	want := stored(clockStart)
	for k, ts := range map[string]time.Time{"created_at": rec.CreatedAt, "updated_at": rec.UpdatedAt} {
		if !ts.Equal(want) || ts.Location() != time.UTC {
			t.Errorf("%s = %v, want %v in UTC", k, ts, want)
		}
	}
	if rec.Version != int64(1) {
		t.Errorf("version = %#v, want 1", rec.Version)
	}
	got := e.get(admin, "notes", id)
	for _, k := range []string{"id", "title", "version"} {
		g, _ := got.Value(k)
		r, _ := rec.Value(k)
		if g != r {
			t.Errorf("get %s = %#v, create returned %#v", k, g, r)
		}
	}
	if ts := got.CreatedAt; !ts.Equal(want) {
		t.Errorf("get created_at = %v, want %v", got.CreatedAt, want)
	}
	other := e.create(admin, "notes", `{}`)
	if other.ID == id {
		t.Error("two records share an id")
	}
	if other.Fields["title"] != nil {
		t.Errorf("an omitted field is %#v, want nil", other.Fields["title"])
	}
}

// createRecovering is Create that turns a panic into a value, for tests that document one.
// The store may be unusable for writes afterwards: the panic leaves its transaction open.
func createRecovering(e *env, ctx context.Context, resource string, b map[string]any) (rec *store.Record, err error, panicked any) {
	defer func() { panicked = recover() }()
	rec, err = create1(e.eng, ctx, resource, b)
	return rec, err, nil
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// jsonEqual compares JSON-shaped values, whatever Go type holds their numbers.
func jsonEqual(a, b any) bool { return reflect.DeepEqual(floats(a), floats(b)) }

func floats(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case json.Number:
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = floats(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = floats(val)
		}
		return out
	}
	return v
}
