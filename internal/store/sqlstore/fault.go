package sqlstore

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
)

// Cause is what a database error means to a client, as the driver that met it reads it.
type Cause struct {
	Kind CauseKind
	// Fields are, for Unique, the fields of the violated constraint, when the driver knows them.
	Fields []string
}

// CauseKind is the kind of a Cause.
type CauseKind int

// The kinds of Cause.
const (
	Internal    CauseKind = iota // nothing a client can act on: the error stays internal
	NoRow                        // the record asked for is not there
	Unique                       // the write would give two records the same unique value
	Referenced                   // the delete would leave records referring to none
	Unavailable                  // the database cannot answer now
	TooSlow                      // the database took longer than a statement may
)

// Classify turns a database error into the fault a client can act on, or returns it as it is,
// to stay internal: nil and faults pass through, a cancelled request is Unavailable, and for
// the rest cause says what the driver reads in the error; on is what the statement was about
// (for a driver's cause, its table), if anything.
//
// The faults: NotFound for NoRow; Conflict of type fault.TypeUnique, naming the fields, for
// Unique; Conflict of type fault.TypeReferenced for Referenced; Unavailable for Unavailable
// and TooSlow.
func Classify[T any](err error, on T, cause func(error, T) Cause) error {
	if err == nil || fault.As(err) != nil {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fault.Wrap(fault.Unavailable, err, "the request was cancelled")
	}
	c := cause(err, on)
	switch c.Kind {
	case NoRow:
		return fault.New(fault.NotFound, "no such record")
	case Unique:
		var fields []fault.FieldError
		for _, f := range c.Fields {
			fields = append(fields, fault.FieldError{Field: f, Code: "unique", Message: "another record already has this value"})
		}
		return &fault.Error{Code: fault.Conflict, Type: fault.TypeUnique, Message: "a record with the same unique value exists", Fields: fields, Err: err}
	case Referenced:
		return &fault.Error{Code: fault.Conflict, Type: fault.TypeReferenced, Message: "other records still refer to this record", Err: err}
	case Unavailable:
		return fault.Wrap(fault.Unavailable, err, "the database is unavailable")
	case TooSlow:
		return fault.Wrap(fault.Unavailable, err, "the database took too long to answer")
	}
	return err
}

// MaxAttempts bounds how often a write transaction runs after transient failures.
const MaxAttempts = 6

// Retry runs a write transaction with try, again while try says the failure is transient —
// the transaction did not commit, and the cause may be gone on the next attempt — after a
// jittered pause that doubles from 5ms, up to MaxAttempts runs in all. It returns try's
// last error; a transient one is Unavailable, with busy as the message once the attempts are
// spent, and as a cancelled request when ctx ends first. retried is called before each run
// after the first.
func Retry(ctx context.Context, log *slog.Logger, busy string, retried func(), try func() (retry bool, err error)) error {
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		retry, err := try()
		if !retry {
			return err
		}
		if ctx.Err() != nil {
			return fault.Wrap(fault.Unavailable, err, "the request was cancelled")
		}
		if attempt == MaxAttempts {
			return fault.Wrap(fault.Unavailable, err, busy)
		}
		log.WarnContext(ctx, "transient database failure, retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fault.Wrap(fault.Unavailable, ctx.Err(), "the request was cancelled")
		case <-time.After(backoff/2 + rand.N(backoff)):
		}
		backoff *= 2
		retried()
	}
}
