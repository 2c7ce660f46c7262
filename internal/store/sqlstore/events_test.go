package sqlstore

import (
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// TestAppendExactRecordIsTheMapsJSON: an event body stores each record exactly as
// jsonval.AppendExact writes the record as one map, which is what ReadEventData decodes.
func TestAppendExactRecordIsTheMapsJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	for _, rec := range []*store.Record{
		{ID: "x", Version: 7, CreatedAt: at, UpdatedAt: at.Add(time.Hour), Fields: map[string]any{
			"a": int64(1), "z": []any{"s", nil, 2.5}, "m": map[string]any{"k": true}, "n": nil, "_u": "under"}},
		{ID: "empty", Fields: map[string]any{}},
	} {
		got, err := appendExactRecord(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		want, err := jsonval.AppendExact(nil, rec.Map())
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("record %s:\n got %s\nwant %s", rec.ID, got, want)
		}
	}
}
