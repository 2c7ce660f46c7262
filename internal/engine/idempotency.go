package engine

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/obs"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// Idempotency follows the IETF httpapi Idempotency-Key draft with Stripe's semantics: a key
// names one attempt of one operation by one caller; a replay returns the first response byte
// for byte and does nothing else; the stored response is written in the same transaction as
// the write it protects, so a crash can never leave one without the other. The rules are the
// engine's, for every transport; what a response is, is the transport's: the engine stores
// and returns its bytes unread (docs/decisions/0016-idempotency-outcomes.md).

// DefaultIdempotencyTTL is how long a key is remembered unless configured otherwise.
const DefaultIdempotencyTTL = 24 * time.Hour

// MaxKeyLength bounds Idempotency-Key values, in bytes.
const MaxKeyLength = 255

// IdempotencyKey identifies one attempt of an operation: the client's key, the operation as
// the transport names it (REST: "POST /v1/orders", its method and request path), to which the
// key is scoped with the caller, and a fingerprint of its input, to tell a retry from another
// request.
type IdempotencyKey struct {
	Key         string
	Operation   string
	Fingerprint string
}

// Renderer turns the outcome of a write (its records, or the error that stopped it, which is a
// *BatchError when one operation failed) into the response the client receives, encoded as
// the transport reads it back: a replay returns these bytes as they are.
type Renderer func(records []*store.Record, err error) []byte

// ApplyIdempotent runs ops like Apply under an Idempotency-Key. The first request with a key
// executes and its response is stored with the write; a later request with the same key and
// body gets that response again (replayed is true) and writes nothing. Errors:
// Invalid (idempotency-key-invalid) for a malformed key, Invalid with status 422
// (idempotency-key-reused) for the same key with another body, Conflict
// (idempotency-key-in-flight) while the first request still runs. Outcomes that are the
// client's fault (4xx) are stored and replayed too; failures on our side (5xx) are not, so the
// client may retry them. When replayed is false, the bytes returned are those of render's last
// call, so a transport may send the response it rendered last without reading them back.
func (e *Engine) ApplyIdempotent(ctx context.Context, ops []Op, key IdempotencyKey, render Renderer) (resp []byte, replayed bool, err error) {
	var answered error // the failure a response was rendered of, which err does not carry
	defer func() {
		switch {
		case replayed:
			e.countOutcome(ctx, ops, obs.OutcomeReplayed)
		case err != nil:
			e.countWrite(ctx, ops, err)
		default:
			e.countWrite(ctx, ops, answered)
		}
	}()
	if idempotencyOff(ops, e.model) {
		recs, err := e.apply(ctx, ops, false, nil)
		if err != nil && !clientFault(err) {
			return nil, false, err
		}
		answered = err
		return render(recs, err), false, nil
	}
	if err := checkKey(key.Key); err != nil {
		return nil, false, err
	}
	scope := scopeOf(ctx)
	slot := strings.Join([]string{scope, key.Operation, key.Key}, "\x00")
	if !e.inflight.acquire(slot) {
		// The first request may have committed and not yet let go of its slot: then its answer
		// is the one to give. Only while it has none is the request still in flight.
		if resp, ok, err := e.replay(ctx, scope, key); ok || err != nil {
			return resp, ok, err
		}
		return nil, false, &fault.Error{Code: fault.Conflict, Type: fault.TypeIdempotencyKeyInFlight,
			Message: "a request with this Idempotency-Key is still being processed; retry shortly"}
	}
	defer e.inflight.release(slot)

	// The write goes first, its outcome in its transaction: a key answered before is found
	// there, since the store refuses a second live outcome for it and the write then rolls
	// back whole, so a first attempt, nearly every request, reads nothing beforehand.
	now := e.clock()
	stored := store.Outcome{Scope: scope, Operation: key.Operation, Key: key.Key,
		Fingerprint: key.Fingerprint, CreatedAt: now, ExpiresAt: now.Add(e.idemTTL)}
	_, err = e.apply(ctx, ops, true, func(tx store.Tx, recs []*store.Record) error {
		stored.Response = render(recs, nil)
		return tx.PutOutcome(ctx, stored)
	})
	if err == nil {
		return stored.Response, false, nil
	}
	if store.IsKeyTaken(err) {
		// An earlier attempt, here or in another process, has the key: its answer is the one.
		return e.replayAfterRace(ctx, scope, key)
	}
	if !clientFault(err) {
		// The write failed on our side; an earlier attempt may still have an answer to give.
		if resp, ok, rerr := e.replay(ctx, scope, key); ok && rerr == nil {
			return resp, true, nil
		}
		return nil, false, err
	}
	answered = err
	stored.Response = render(nil, err)
	err = e.db.Write(ctx, func(tx store.Tx) error { return tx.PutOutcome(ctx, stored) })
	if store.IsKeyTaken(err) {
		return e.replayAfterRace(ctx, scope, key)
	}
	if err != nil {
		e.log.WarnContext(ctx, "could not store an idempotent failure", "err", err)
	}
	return stored.Response, false, nil
}

func (e *Engine) replay(ctx context.Context, scope string, key IdempotencyKey) ([]byte, bool, error) {
	o, err := e.db.Outcome(ctx, scope, key.Operation, key.Key)
	if fault.CodeOf(err) == fault.NotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !o.ExpiresAt.After(e.clock()) {
		return nil, false, nil
	}
	if o.Fingerprint != key.Fingerprint {
		return nil, false, &fault.Error{Code: fault.Invalid, Type: fault.TypeIdempotencyKeyReused,
			Message: "this Idempotency-Key was used with a different request body; use a new key for a new request"}
	}
	return o.Response, true, nil
}

func (e *Engine) replayAfterRace(ctx context.Context, scope string, key IdempotencyKey) ([]byte, bool, error) {
	resp, ok, err := e.replay(ctx, scope, key)
	if err == nil && !ok {
		err = fault.New(fault.Conflict, "the request raced with another using the same Idempotency-Key; retry")
	}
	return resp, ok, err
}

// clientFault reports whether err is the client's doing, so its response may be stored.
func clientFault(err error) bool {
	switch fault.CodeOf(err) {
	case fault.Invalid, fault.Unauthorized, fault.Forbidden, fault.NotFound, fault.Conflict, fault.PreconditionFailed:
		return true
	}
	return false
}

func checkKey(k string) error {
	bad := k == "" || len(k) > MaxKeyLength
	for _, r := range k {
		if unicode.IsControl(r) {
			bad = true
		}
	}
	if bad {
		return &fault.Error{Code: fault.Invalid, Type: fault.TypeIdempotencyKeyInvalid,
			Message: "Idempotency-Key must be 1 to 255 characters without control characters; a UUID is a good choice"}
	}
	return nil
}

// scopeOf is whose keys a request's key is among: the caller's.
func scopeOf(ctx context.Context) string {
	p := PrincipalFrom(ctx)
	if p.Anonymous() {
		return "anonymous"
	}
	return "sub:" + p.Subject
}

// needsKey enforces `idempotency: required`: creates and merge patches must carry a key.
func needsKey(ops []Op, model *spec.Model) error {
	for _, op := range ops {
		r, ok := model.Resource(op.Resource)
		if ok && r.Idempotency == spec.IdempotencyRequired && (op.Kind == OpCreate || op.Kind == OpUpdate) {
			return &fault.Error{Code: fault.Invalid, Type: fault.TypeIdempotencyKeyMissing,
				Message: "writes to " + r.Name + " must carry an Idempotency-Key header, such as a fresh UUID per operation"}
		}
	}
	return nil
}

// idempotencyOff reports whether every operation's resource has `idempotency: off`, whose
// keys are ignored.
func idempotencyOff(ops []Op, model *spec.Model) bool {
	for _, op := range ops {
		if r, ok := model.Resource(op.Resource); !ok || r.Idempotency != spec.IdempotencyOff {
			return false
		}
	}
	return true
}

// inflight holds the keys whose first request is running in this process.
type inflight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func (f *inflight) acquire(k string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[string]struct{}{}
	}
	if _, busy := f.keys[k]; busy {
		return false
	}
	f.keys[k] = struct{}{}
	return true
}

func (f *inflight) release(k string) {
	f.mu.Lock()
	delete(f.keys, k)
	f.mu.Unlock()
}

// sweepBatch is how many expired keys one sweep statement deletes, so that the writer is
// never held for long.
const sweepBatch = 500

// SweepIdempotency deletes expired keys in small batches until none is left or ctx ends.
func (e *Engine) SweepIdempotency(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := e.db.SweepOutcomes(ctx, e.clock(), sweepBatch)
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}

// RunSweeper deletes expired idempotency keys and events every interval until ctx ends.
func (e *Engine) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for what, sweep := range map[string]func(context.Context) (int, error){
				"idempotency keys": e.SweepIdempotency, "events": e.SweepEvents} {
				n, err := sweep(ctx)
				if err != nil && ctx.Err() == nil {
					e.log.WarnContext(ctx, "sweep failed", "what", what, "err", err)
				} else if n > 0 {
					e.log.LogAttrs(ctx, slog.LevelDebug, "swept", slog.String("what", what), slog.Int("count", n))
				}
			}
		}
	}
}
