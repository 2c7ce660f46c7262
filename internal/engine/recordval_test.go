package engine

import (
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/plinth-dev/plinth/internal/store"
)

// recordValueExprs read a record every way an expression can: members present and absent,
// system members, presence tests, membership, indexing with computed and non-string keys,
// iteration, size, equality both ways, type and conversions.
var recordValueExprs = []string{
	`record.name`,
	`record.missing`,
	`has(record.name)`,
	`has(record.missing)`,
	`has(record.id) && has(record.version) && has(record.created_at) && has(record.updated_at)`,
	`record.id + "/" + string(record.version + 1)`,
	`record.created_at < record.updated_at`,
	`record.n * 2`,
	`record.f + 1.5`,
	`record.b || false`,
	`record.list[0]`,
	`record.obj.k`,
	`record.nothing == null`,
	`record[key]`,
	`key in record`,
	`"id" in record`,
	`dyn(record)[1]`,
	`1 in dyn(record)`,
	`size(record)`,
	`record.size()`,
	`record.all(k, k != "")`,
	`record.exists(k, k == key)`,
	`record.filter(k, k.startsWith("n")).size()`,
	`record.exists_one(k, k == "id")`,
	`record == other`,
	`other == record`,
	`record != other`,
	`record == {}`,
	`{} == record`,
	`[record][0].name`,
	`{"r": record}.r.id`,
	`type(record) == map`,
	`dyn(record).name`,
	`record.?name.orValue("none")`,
	`record.?missing.orValue("none")`,
}

// TestRecordValueIsTheRecordsMap holds RecordValue to its promise: every expression gives what
// it gives over the record copied into a map, for a record and for no record.
func TestRecordValueIsTheRecordsMap(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	rec := &store.Record{ID: "r1", Version: 3, CreatedAt: at, UpdatedAt: at.Add(time.Second),
		Fields: map[string]any{"name": "lamp", "n": int64(7), "f": 2.5, "b": true, "nothing": nil,
			"list": []any{int64(1), "two"}, "obj": map[string]any{"k": "v"}}}
	for _, key := range []string{"name", "missing", "id", ""} {
		compareRecordValue(t, rec, rec.Clone(), key)
		compareRecordValue(t, rec, nil, key)
		compareRecordValue(t, nil, rec, key)
		compareRecordValue(t, nil, nil, key)
	}
}

// FuzzRecordValue compares RecordValue with the record's map over generated members.
func FuzzRecordValue(f *testing.F) {
	f.Add("name", "lamp", int64(7), 2.5, true, "name")
	f.Add("id", "", int64(-1), 0.0, false, "id")
	f.Add("", "x", int64(0), -0.0, false, "")
	f.Fuzz(func(t *testing.T, name, s string, n int64, fl float64, b bool, key string) {
		at := time.Unix(n%253402300799, 0).UTC()
		rec := &store.Record{ID: s, Version: n, CreatedAt: at, UpdatedAt: at,
			Fields: map[string]any{"n": n, "f": fl, "b": b, "list": []any{n, s}, "obj": map[string]any{"k": s}}}
		if _, system := rec.Value(name); !system {
			rec.Fields[name] = s
		}
		other := rec.Clone()
		other.Fields["b"] = !b
		compareRecordValue(t, rec, rec.Clone(), key)
		compareRecordValue(t, rec, other, key)
		compareRecordValue(t, rec, nil, key)
	})
}

func compareRecordValue(t *testing.T, rec, other *store.Record, key string) {
	t.Helper()
	dynMap := cel.MapType(cel.StringType, cel.DynType)
	env, err := cel.NewEnv(ext.Strings(), cel.OptionalTypes(),
		cel.Variable("record", dynMap), cel.Variable("other", dynMap), cel.Variable("key", cel.StringType))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range recordValueExprs {
		ast, iss := env.Compile(src)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", src, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		want, _, wantErr := prg.Eval(map[string]any{"record": rec.Map(), "other": other.Map(), "key": key})
		got, _, gotErr := prg.Eval(map[string]any{"record": RecordValue(rec), "other": RecordValue(other), "key": key})
		switch {
		case (wantErr == nil) != (gotErr == nil):
			t.Errorf("%s over %v and %v, key %q: error %v over the map, %v over RecordValue", src, rec, other, key, wantErr, gotErr)
		case wantErr != nil && wantErr.Error() != gotErr.Error():
			t.Errorf("%s: error %q over the map, %q over RecordValue", src, wantErr, gotErr)
		case wantErr == nil && types.Equal(want, got) != types.True:
			t.Errorf("%s over %v and %v, key %q: %v over the map, %v over RecordValue", src, rec, other, key, want, got)
		}
	}
}
