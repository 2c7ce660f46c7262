package spec

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Timeouts are the deadlines of a resource's requests: a request still running at its
// deadline is cancelled, its statements with it, and answered 503 timeout. Reads are list
// and read; writes are create, update and delete, and batches.
type Timeouts struct {
	Read, Write time.Duration
}

// Default deadlines, when neither the resource nor the spec's top-level `timeouts:` sets one.
const (
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 30 * time.Second
)

// Bounds of a deadline a spec may set.
const (
	minTimeout = 100 * time.Millisecond
	maxTimeout = 10 * time.Minute
)

// Of is the deadline of op.
func (t Timeouts) Of(op Operation) time.Duration {
	if op == OpList || op == OpRead {
		return t.Read
	}
	return t.Write
}

// timeouts reads a `timeouts: {read: 2s, write: 10s}` mapping over base: a key left out keeps
// base's deadline.
func (c *compiler) timeouts(n *yaml.Node, what string, base Timeouts) Timeouts {
	entries, ok := c.mapping(n, what, "read", "write")
	if !ok {
		return base
	}
	for _, e := range entries {
		d := c.duration(e.Value, what+"."+e.Key, minTimeout, maxTimeout)
		if d == 0 {
			continue
		}
		if e.Key == "read" {
			base.Read = d
		} else {
			base.Write = d
		}
	}
	return base
}
