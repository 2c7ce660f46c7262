package worker

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/plinth-dev/plinth/internal/codec"
	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/obs"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/trace"
)

// matchBatch is how many outbox events one matching step reads.
const matchBatch = 200

// match turns the subscription's new outbox events into deliveries, and says whether new
// deliveries may be waiting: it made some, or another process moved the stored cursor (and
// may have made some) since this one last looked. Deliveries are stored together with the
// cursor's move past their events, in one transaction: a crash repeats the step or not at
// all, so no delivery is lost or made twice. Events that make no delivery move only
// s.scanned, unless persist is set.
func (w *Worker) match(ctx context.Context, s *subscription, persist bool) (bool, error) {
	if !s.enabled {
		return false, nil
	}
	// A webhook disabled by 410 still matches: its deliveries wait (Claim passes them over)
	// rather than its events ageing out of the outbox before an admin replays.
	st, err := w.queue.Subscription(ctx, s.spec.Name)
	if err != nil {
		return false, err
	}
	stored := st.Cursor
	news := stored != s.seen
	defer func() { s.seen = stored }()
	cursor := max(stored, s.scanned)
	for {
		// All events are read, not just the subscription's resources, so that the cursor moves
		// past the others too and no step scans them again.
		events, err := w.queue.Events(ctx, cursor, nil, matchBatch)
		if err != nil {
			return news, err
		}
		if len(events) == 0 {
			break
		}
		ds, err := w.deliveries(ctx, s, events)
		if err != nil {
			return news, err
		}
		next := events[len(events)-1].Seq
		if len(ds) > 0 {
			if err := w.advance(ctx, s, stored, next, ds); err != nil {
				return news || errors.Is(err, store.ErrCursorMoved), ignoreMoved(err)
			}
			stored, news = next, true
		}
		cursor = next
		if len(events) < matchBatch {
			break
		}
	}
	s.scanned = cursor
	if persist && cursor > stored {
		err := w.advance(ctx, s, stored, cursor, nil)
		if err == nil {
			stored = cursor
		}
		return news || errors.Is(err, store.ErrCursorMoved), ignoreMoved(err)
	}
	return news, nil
}

// advance stores deliveries and moves the stored cursor from from to to. When another
// process has moved it first (ErrCursorMoved), this one forgets how far it scanned and
// starts again from the stored cursor at its next step.
func (w *Worker) advance(ctx context.Context, s *subscription, from, to int64, ds []store.Delivery) error {
	err := w.queue.Enqueue(ctx, s.spec.Name, from, to, ds)
	if errors.Is(err, store.ErrCursorMoved) {
		s.scanned = 0
	}
	return err
}

// ignoreMoved treats another process's matching the same events first as no error.
func ignoreMoved(err error) error {
	if errors.Is(err, store.ErrCursorMoved) {
		return nil
	}
	return err
}

// deliveries makes the deliveries of the events the subscription wants.
func (w *Worker) deliveries(ctx context.Context, s *subscription, events []store.Event) ([]store.Delivery, error) {
	var ds []store.Delivery
	for _, ev := range events {
		if !s.spec.Matches(ev.Type) {
			continue
		}
		wanted, whenErr := w.when(s, ev)
		if whenErr == nil && !wanted {
			continue
		}
		d, err := w.delivery(s, ev)
		if err != nil {
			return nil, err
		}
		if whenErr != nil {
			// Whether the receiver wants the event is unknown: it goes to the dead letters,
			// where an operator sees why and can send it after all.
			w.log.WarnContext(ctx, "webhook condition failed", "webhook", s.spec.Name, "event", ev.ID, "err", whenErr)
			d.State, d.LastError = store.Dead, "the webhook's when condition could not be evaluated: "+whenErr.Error()
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// when evaluates the subscription's condition.
func (w *Worker) when(s *subscription, ev store.Event) (bool, error) {
	if s.spec.When == nil {
		return true, nil
	}
	// auth is the writer as far as the event knows it: its subject alone.
	vars := map[string]any{"record": engine.RecordValue(ev.Record), "old": engine.RecordValue(ev.Old), "now": w.now(),
		"auth": engine.Principal{Subject: ev.Actor}.AuthValue()}
	out, _, err := s.spec.When.Program.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("the condition gave %s, not a boolean", out.Type())
	}
	return bool(b), nil
}

func (w *Worker) delivery(s *subscription, ev store.Event) (store.Delivery, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return store.Delivery{}, err
	}
	now := w.now()
	return store.Delivery{ID: id.String(), Subscription: s.spec.Name, EventID: ev.ID, EventSeq: ev.Seq, EventType: ev.Type,
		Resource: ev.Resource, RecordID: ev.RecordID, Payload: codec.AppendEvent(nil, w.resource(ev.Resource), ev), Trace: ev.Trace,
		State: store.Pending, NextAt: now, CreatedAt: now, UpdatedAt: now}, nil
}

// dispatch claims as many due deliveries as there are free slots and sends each in its own
// goroutine, without waiting for them: a slow receiver holds one slot, not the others. It
// says how many it took up.
func (w *Worker) dispatch(ctx context.Context) (int, error) {
	free := cap(w.slots) - len(w.slots)
	if free == 0 {
		return 0, nil
	}
	now := w.now()
	due, err := w.queue.Claim(ctx, now, now.Add(w.claimFor), free)
	if err != nil {
		return 0, err
	}
	for _, d := range due {
		w.slots <- struct{}{}
		w.inflight.Go(func() {
			defer func() {
				<-w.slots
				signal(w.due) // a slot is free, and the record's next delivery may be due
			}()
			w.deliver(ctx, d)
		})
	}
	return len(due), nil
}

// notConfiguredRetry is how long a delivery of a webhook that is not configured waits before
// it is looked at again.
const notConfiguredRetry = time.Minute

// deliver makes one attempt and records its outcome.
func (w *Worker) deliver(ctx context.Context, d store.Delivery) {
	s := w.subs[d.Subscription]
	now := w.now()
	if s == nil || !s.enabled {
		d.NextAt, d.LastError = now.Add(notConfiguredRetry), "the webhook is not configured"
		w.save(ctx, d)
		return
	}
	cb := w.breaker(s)
	if !cb.TryAcquirePermit() {
		// While the breaker is open, deliveries wait without spending attempts.
		d.NextAt, d.LastError = now.Add(max(cb.RemainingDelay(), 10*time.Millisecond)), "the destination's circuit breaker is open"
		w.save(ctx, d)
		return
	}
	// An attempt under way finishes even when the worker is stopping (it is bounded by the
	// webhook's timeout), so that its outcome is recorded rather than sent again.
	ctx = context.WithoutCancel(ctx)
	var span oteltrace.Span
	if w.tracing.On() {
		ctx, span = w.startAttempt(ctx, d)
	}
	start := time.Now()
	status, retryAfter, err := w.send(ctx, s, d)
	latency := time.Since(start)
	if span != nil {
		endAttempt(span, status, err)
	}
	failed := err != nil || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
	if failed {
		cb.RecordFailure()
	} else {
		cb.RecordSuccess()
	}
	d.Attempts++
	d.LastStatus = status
	d.LastError = ""
	if err != nil {
		d.LastError = err.Error()
	}
	now = w.now()
	switch {
	case err == nil && status >= 200 && status < 300:
		d.State = store.Delivered
	case status == http.StatusGone:
		d.State, d.LastError = store.Dead, "the receiver answered 410 Gone; the webhook is disabled"
		if err := w.queue.Disable(ctx, s.spec.Name, now); err != nil {
			w.log.WarnContext(ctx, "could not disable webhook", "webhook", s.spec.Name, "err", err)
		}
	case d.Attempts >= s.spec.MaxAttempts:
		d.State = store.Dead
		if d.LastError == "" {
			d.LastError = fmt.Sprintf("the receiver answered %d", status)
		}
	default:
		if d.LastError == "" {
			d.LastError = fmt.Sprintf("the receiver answered %d", status)
		}
		d.NextAt = now.Add(backoff(s.spec.Initial, s.spec.Max, d.Attempts, retryAfter))
	}
	w.metrics.Attempt(s.spec.Name)
	switch d.State {
	case store.Delivered:
		w.metrics.Delivery(s.spec.Name, obs.DeliveryDelivered)
	case store.Dead:
		w.metrics.Delivery(s.spec.Name, obs.DeliveryDead)
	default:
		w.metrics.Delivery(s.spec.Name, obs.DeliveryFailed)
	}
	w.log.InfoContext(ctx, "webhook attempt", "webhook", s.spec.Name, "event", d.EventID, "attempt", d.Attempts,
		"status", status, "latency_ms", float64(latency.Microseconds())/1000, "state", string(d.State), "error", d.LastError)
	w.save(ctx, d)
}

func (w *Worker) save(ctx context.Context, d store.Delivery) {
	d.UpdatedAt = w.now()
	if d.State == store.Pending {
		w.noteRetry(d.NextAt)
	}
	err := w.queue.Save(ctx, d)
	if errors.Is(err, store.ErrClaimLost) {
		w.log.WarnContext(ctx, "a webhook attempt outlived its claim; its outcome was not recorded", "delivery", d.ID)
		return
	}
	if err != nil && ctx.Err() == nil {
		w.log.WarnContext(ctx, "could not record a webhook attempt", "delivery", d.ID, "err", err)
	}
}

// backoff is the wait before the next attempt: exponential from initial, capped at limit,
// with full jitter; a receiver's Retry-After is honoured up to limit.
func backoff(initial, limit time.Duration, attempts int, retryAfter time.Duration) time.Duration {
	ceiling := initial
	for i := 1; i < attempts && ceiling < limit; i++ {
		ceiling *= 2 // doubling stops at the cap, long before it could overflow
	}
	ceiling = min(ceiling, limit)
	d := time.Duration(mrand.Int64N(int64(ceiling) + 1))
	return min(max(d, retryAfter), limit)
}

// maxResponseBody is how much of a receiver's answer is read before the connection is reused.
const maxResponseBody = 64 << 10

// send makes one signed request and returns the status and any Retry-After.
func (w *Worker) send(ctx context.Context, s *subscription, d store.Delivery) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.spec.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(string(d.Payload)))
	if err != nil {
		return 0, 0, err
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Plinth-Webhooks/1")
	req.Header.Set("webhook-id", d.EventID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", Sign(s.secrets, d.EventID, ts, d.Payload))
	if oteltrace.SpanContextFromContext(ctx).IsValid() {
		trace.Inject(ctx, req.Header)
	} else {
		req.Header.Set("traceparent", newTraceparent())
	}
	res, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, 0, fmt.Errorf("no answer within %s", s.spec.Timeout)
		}
		return 0, 0, errors.New("the receiver could not be reached")
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, maxResponseBody))
	return res.StatusCode, retryAfter(res.Header.Get("Retry-After"), w.now()), nil
}

// Sign computes the Standard Webhooks signature header: "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" per secret, separated by spaces, so that receivers accept either secret
// during a rotation.
func Sign(secrets [][]byte, id, timestamp string, body []byte) string {
	sigs := make([]string, len(secrets))
	for i, secret := range secrets {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(id + "." + timestamp + "."))
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, " ")
}

// retryAfter reads Retry-After in seconds or as an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// startAttempt starts the span of one delivery attempt: a new trace, since the attempt is
// not part of the request that made the event (it may come hours later, or be one of many
// retries), linked to that request's trace when the event carries it.
func (w *Worker) startAttempt(ctx context.Context, d store.Delivery) (context.Context, oteltrace.Span) {
	opts := []oteltrace.SpanStartOption{oteltrace.WithNewRoot(), oteltrace.WithSpanKind(oteltrace.SpanKindClient),
		oteltrace.WithAttributes(attribute.String("plinth.webhook", d.Subscription), attribute.String("plinth.event.id", d.EventID),
			attribute.String("plinth.event.type", d.EventType), attribute.Int("plinth.webhook.attempt", d.Attempts+1))}
	if link, ok := trace.Link(d.Trace); ok {
		opts = append(opts, oteltrace.WithLinks(link))
	}
	return w.tracing.Tracer().Start(ctx, "webhook "+d.Subscription, opts...)
}

// endAttempt ends an attempt's span with the receiver's status, failed when the attempt was.
func endAttempt(span oteltrace.Span, status int, err error) {
	if status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	switch {
	case err != nil:
		span.SetStatus(codes.Error, err.Error())
	case status < 200 || status >= 300:
		span.SetStatus(codes.Error, fmt.Sprintf("the receiver answered %d", status))
	}
	span.End()
}

// newTraceparent starts a W3C trace for one attempt when tracing is off, so that receivers
// can correlate logs all the same.
func newTraceparent() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}
