package sqlite

import (
	"testing"
	"time"
)

// FuzzParseTime: the fast path agrees with time.Parse on every input it accepts, and accepts
// every timestamp Plinth writes.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-05-06T05:08:09.123456Z", "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z",
		"2024-02-29T00:00:00.000000Z", "2023-02-29T00:00:00.000000Z", "2024-13-01T00:00:00.000000Z", "2024-05-06T24:00:00.000000Z",
		"2024-05-06T05:08:60.000000Z", "2024-05-06T05:08:09.12345Z", "2024-05-06 05:08:09.123456Z", "+024-05-06T05:08:09.123456Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTime(s)
		want, err := time.Parse(TimeLayout, s)
		if ok && (err != nil || !got.Equal(want) || got.Location() != time.UTC) {
			t.Fatalf("parseTime(%q) = %v, time.Parse = %v, %v", s, got, want, err)
		}
		if err == nil && want.Year() >= 1 && want.UTC().Format(TimeLayout) == s && !ok { // Plinth stores years 1 to 9999
			t.Fatalf("parseTime(%q) declined a stored timestamp", s)
		}
	})
}
