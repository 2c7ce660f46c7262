// Package storetest is the behaviour suite every storage driver passes: one Run, called from
// each driver's tests with a function that opens a fresh store, so that the engine sees the
// same answers whichever database is underneath. It reaches the drivers only through the
// store.Store and store.Tx interfaces (and store.Leaser and store.Queue, the webhook
// queue), and compiles its specs inline.
//
// RunMigrations likewise checks what opening a database again with a changed spec does: the
// changes it logs, what it refuses, and the records it keeps. RunSchemaGolden checks the SQL
// drivers' DDL for new databases against golden files.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// Opener opens a fresh, empty store migrated to model, and closes it in t.Cleanup.
type Opener = func(t *testing.T, model *spec.Model) store.Store

// Run runs every check against the stores open returns. Each subtest runs in parallel with
// the others and opens its own store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"RoundTrip", testRoundTrip},
		{"Nulls", testNulls},
		{"BadValues", testBadValues},
		{"GetMany", testGetMany},
		{"Filters", testFilters},
		{"RandomFilters", testRandomFilters},
		{"Predicates", testPredicates},
		{"FilterErrors", testFilterErrors},
		{"Order", testOrder},
		{"UpdateDelete", testUpdateDelete},
		{"Unique", testUnique},
		{"ForeignKey", testForeignKey},
		{"TxList", testTxList},
		{"Rollback", testRollback},
		{"Isolation", testIsolation},
		{"Cancelled", testCancelled},
		{"Idempotency", testIdempotency},
		{"IdempotencySweep", testIdempotencySweep},
		{"IdempotencyRace", testIdempotencyRace},
		{"Events", testEvents},
		{"EventSweep", testEventSweep},
		{"EventOrder", testEventOrder},
		{"ConcurrentCounter", testConcurrentCounter},
		{"ConcurrentFailures", testConcurrentFailures},
		{"Leases", testLeases},
		{"QueueDeliveries", testQueueDeliveries},
		{"QueueCursor", testQueueCursor},
		{"QueueClaim", testQueueClaim},
		{"QueueClaimRace", testQueueClaimRace},
		{"QueueClaimExpires", testQueueClaimExpires},
		{"QueueOrder", testQueueOrder},
		{"QueueRetry", testQueueRetry},
		{"QueueDeadLetters", testQueueDeadLetters},
		{"QueueBacklog", testQueueBacklog},
		{"QueueReplay", testQueueReplay},
		{"QueueDisable", testQueueDisable},
		{"QueueDiscard", testQueueDiscard},
		{"QueueSweep", testQueueSweep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// suiteSpec declares a resource per concern: every field type (things, with a unique field, a
// unique pair and a reference), a reference target (owners), rows of scalars and arrays for
// filters and sorts (rows), and a counter for concurrent writes.
const suiteSpec = `
plinth: 1
name: storetest
resources:
  owners:
    fields:
      name: {type: string, unique: true}
  things:
    fields:
      s: {type: string}
      code: {type: string, unique: true}
      i: {type: integer}
      n: {type: number}
      b: {type: boolean}
      e: {type: enum, values: [red, green, blue]}
      t: {type: timestamp}
      owner: {type: ref, resource: owners}
      tags: {type: array, of: {type: string}}
      ints: {type: array, of: {type: integer}}
      nums: {type: array, of: {type: number}}
      times: {type: array, of: {type: timestamp}}
      items:
        type: array
        of:
          q: {type: integer}
          price: {type: number}
          at: {type: timestamp}
      obj:
        type: object
        fields:
          a: {type: integer}
          x: {type: number}
          when: {type: timestamp}
          inner:
            type: object
            fields:
              deep: {type: array, of: {type: number}}
      j: {type: json}
    indexes:
      - {fields: [e, i], unique: true}
      - [s, i]
  rows:
    fields:
      name: {type: string}
      code: {type: string}
      qty: {type: integer}
      price: {type: number}
      active: {type: boolean}
      at: {type: timestamp}
      tags: {type: json}
      labels: {type: array, of: {type: string}}
      counts: {type: array, of: {type: integer}}
      ratios: {type: array, of: {type: number}}
      flags: {type: array, of: {type: boolean}}
      moments: {type: array, of: {type: timestamp}}
      lines:
        type: array
        of:
          q: {type: integer}
  counters:
    fields:
      n: {type: integer}
`

// fixture is an open store with the suite's model.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	store store.Store
	model *spec.Model
}

func newFixture(t *testing.T, open Opener) *fixture {
	t.Helper()
	m, diags := spec.Compile("storetest.yaml", []byte(suiteSpec))
	if diags.HasErrors() {
		t.Fatalf("suite spec: %s", diags.Error())
	}
	return &fixture{t: t, ctx: context.Background(), store: open(t, m), model: m}
}

func (f *fixture) res(name string) *spec.Resource {
	r, ok := f.model.Resource(name)
	if !ok {
		f.t.Fatalf("no resource %s", name)
	}
	return r
}

// write runs fn in a write transaction and fails the test on an error.
func (f *fixture) write(fn func(tx store.Tx) error) {
	f.t.Helper()
	if err := f.store.Write(f.ctx, fn); err != nil {
		f.t.Fatalf("write: %v", err)
	}
}

// insert stores records of r in one transaction.
func (f *fixture) insert(r *spec.Resource, recs ...row) {
	f.t.Helper()
	f.write(func(tx store.Tx) error {
		for _, rec := range recs {
			if err := tx.Insert(f.ctx, r, store.FromMap(rec)); err != nil {
				return fmt.Errorf("insert %v: %w", rec["id"], err)
			}
		}
		return nil
	})
}

// get reads a record that must exist.
func (f *fixture) get(r *spec.Resource, id string) *store.Record {
	f.t.Helper()
	rec, err := f.store.Get(f.ctx, r, id)
	if err != nil {
		f.t.Fatalf("get %s %s: %v", r.Name, id, err)
	}
	return rec
}

// mustBeMissing checks that the record is not stored.
func (f *fixture) mustBeMissing(r *spec.Resource, id string) {
	f.t.Helper()
	if rec, err := f.store.Get(f.ctx, r, id); fault.CodeOf(err) != fault.NotFound {
		f.t.Errorf("get %s %s = %v, %v; want NotFound", r.Name, id, rec, err)
	}
}

// baseTime is a time with nanoseconds in a zone other than UTC: stores keep microseconds of
// top-level timestamps, in UTC.
var baseTime = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))

// stored is t as a top-level timestamp comes back: UTC, truncated to microseconds.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// newRecord returns a record with system fields: created and updated at created, version 1.
func newRecord(id string, created time.Time, fields row) row {
	rec := row{"id": id, "created_at": created, "updated_at": created, "version": int64(1)}
	for k, v := range fields {
		rec[k] = v
	}
	return rec
}

// expected is what a read returns for a record of r written as in: every column present,
// absent ones as nil, top-level times stored, -0 as 0, and the values of want (for fields whose
// stored form differs from what was written) in place of those of in.
func expected(r *spec.Resource, in row, want row) row {
	out := row{}
	for _, s := range spec.SystemFields {
		out[s.Name] = in[s.Name]
	}
	for _, f := range r.Fields {
		out[f.Name] = in[f.Name]
	}
	for k, v := range out {
		switch x := v.(type) {
		case time.Time:
			out[k] = stored(x)
		case float64:
			if x == 0 {
				out[k] = 0.0 // no store keeps the sign of zero
			}
		}
	}
	for k, v := range want {
		out[k] = v
	}
	return out
}

// diff compares a value read from a store with the expected one, exactly: the Go types must
// match (int64 is not float64), times must be equal instants in UTC, floats must be equal
// with the same sign (stores keep no negative zero). It returns one line per difference.
func diff(path string, want, got any) []string {
	bad := func() []string { return []string{fmt.Sprintf("%s: got %#v, want %#v", path, got, want)} }
	switch w := want.(type) {
	case nil:
		if got != nil {
			return bad()
		}
	case time.Time:
		g, ok := got.(time.Time)
		if !ok || !g.Equal(w) {
			return bad()
		}
		if g.Location() != time.UTC {
			return []string{fmt.Sprintf("%s: %v is in %v, want UTC", path, g, g.Location())}
		}
	case float64:
		g, ok := got.(float64)
		if !ok || !(g == w && math.Signbit(g) == math.Signbit(w) || math.IsNaN(g) && math.IsNaN(w)) {
			return bad()
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return bad()
		}
		var out []string
		for i := range w {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return bad()
		}
		var out []string
		for _, k := range sortedKeys(w, g) {
			wv, wok := w[k]
			gv, gok := g[k]
			if wok != gok {
				out = append(out, fmt.Sprintf("%s.%s: present %v, want present %v", path, k, gok, wok))
				continue
			}
			out = append(out, diff(path+"."+k, wv, gv)...)
		}
		return out
	default:
		if reflect.TypeOf(got) != reflect.TypeOf(want) || !reflect.DeepEqual(got, want) {
			return bad()
		}
	}
	return nil
}

func sortedKeys(ms ...map[string]any) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// checkRecord reports the differences between a record read and the one expected.
func checkRecord(t *testing.T, what string, want row, got *store.Record) {
	t.Helper()
	if d := diff(what, map[string]any(want), got.Map()); len(d) > 0 {
		t.Errorf("%s differs:\n  %s", what, strings.Join(d, "\n  "))
	}
}

// ids returns the ids of recs in order.
func ids(recs []*store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// wantFault checks that err is a *fault.Error with the code (and, when typ is not empty, the
// slug of the problem type clients see).
func wantFault(t *testing.T, what string, err error, code fault.Code, typ string) *fault.Error {
	t.Helper()
	fe := fault.As(err)
	if fe == nil || fe.Code != code || (typ != "" && fe.ProblemType().Slug() != typ) {
		t.Errorf("%s: err = %v (%s), want code %s type %q", what, err, describeFault(fe), code, typ)
		return nil
	}
	return fe
}

func describeFault(fe *fault.Error) string {
	if fe == nil {
		return "not a *fault.Error"
	}
	return fmt.Sprintf("code %s type %q", fe.Code, fe.ProblemType())
}

// oneWins runs fn(i) for i in [0, n) at once, from n goroutines racing to do the same, and
// returns the i that succeeded: exactly one must, and every other must fail as lost says the
// loser of the race fails.
func oneWins(t *testing.T, what string, n int, fn func(i int) error, lost func(error) bool) int {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("%s: racers %d and %d both succeeded", what, winner, i)
		case !lost(err):
			t.Errorf("%s: racer %d failed with %v, not as the loser of the race", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no racer succeeded", what)
	}
	return winner
}

// errRollback is returned by transaction bodies that must roll back.
var errRollback = errors.New("storetest: roll back")

// row is a record as the suite writes and compares it: one map of every member, as
// store.Record.Map gives it. fromRows and toRows cross between the two.
type row = map[string]any

// rowIDs are the ids of rows.
func rowIDs(rows []row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i], _ = r["id"].(string)
	}
	return out
}

// toRows is recs as rows.
func toRows(recs []*store.Record) []row {
	out := make([]row, len(recs))
	for i, r := range recs {
		out[i] = r.Map()
	}
	return out
}
