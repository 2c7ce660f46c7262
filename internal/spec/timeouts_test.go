package spec

import (
	"testing"
	"time"
)

// TestTimeouts: a resource's deadlines are its own `timeouts:`, else the spec's, else the
// defaults, key by key.
func TestTimeouts(t *testing.T) {
	src := `plinth: 1
name: deadlines
timeouts: {write: 5s}
resources:
  orders:
    fields: {total: {type: integer}}
    timeouts: {read: 2s}
  notes:
    fields: {text: {type: string}}
`
	m, diags := Compile("deadlines.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	orders, _ := m.Resource("orders")
	notes, _ := m.Resource("notes")
	for _, c := range []struct {
		what      string
		got, want time.Duration
	}{
		{"spec write", m.Timeouts.Write, 5 * time.Second},
		{"spec read", m.Timeouts.Read, DefaultReadTimeout},
		{"orders read", orders.Timeouts.Of(OpList), 2 * time.Second},
		{"orders write", orders.Timeouts.Of(OpCreate), 5 * time.Second},
		{"notes read", notes.Timeouts.Of(OpRead), DefaultReadTimeout},
		{"notes delete", notes.Timeouts.Of(OpDelete), 5 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
}
