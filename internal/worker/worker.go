// Package worker delivers webhooks from the outbox: it matches events to subscriptions,
// queues one delivery per match, and sends them with signatures, retries, per-record order,
// circuit breakers and a dead-letter list (docs/decisions/0010-webhook-delivery.md).
package worker

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/plinth-dev/plinth/internal/obs"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/trace"
)

// Config holds what a Worker needs. Model and Store are required.
type Config struct {
	Model  *spec.Model
	Store  store.Queue
	Logger *slog.Logger
	Now    func() time.Time
	// Getenv resolves the ${NAME} references of webhook URLs and secrets; default os.Getenv.
	Getenv func(string) string
	// Client sends deliveries; default an http.Client without a timeout of its own (each
	// attempt carries its webhook's timeout).
	Client *http.Client
	// Poll is how often the worker looks for work when nobody wakes it; default 1s.
	Poll time.Duration
	// Parallel bounds the deliveries in flight at once; default 8.
	Parallel int
	// Retention is how long delivered deliveries are kept; default 7 days. Dead ones are kept
	// until they are replayed.
	Retention time.Duration
	// Metrics counts attempts and deliveries by outcome; nil for none.
	Metrics *obs.Metrics
	// Tracing makes a span per attempt, linked to the trace of the write that made the event;
	// nil is tracing off.
	Tracing *trace.Tracing
}

// Worker matches outbox events to webhooks and delivers them.
type Worker struct {
	model     *spec.Model
	queue     store.Queue
	log       *slog.Logger
	now       func() time.Time
	client    *http.Client
	tracing   *trace.Tracing
	poll      time.Duration
	retention time.Duration
	claimFor  time.Duration  // how long a claimed delivery is this process's: the longest attempt and a margin
	slots     chan struct{}  // one per delivery in flight, up to Parallel
	inflight  sync.WaitGroup // the deliveries in flight
	subs      map[string]*subscription
	order     []*subscription // declaration order, for stable output
	wake      chan struct{}   // new events were committed
	due       chan struct{}   // deliveries may be due: a slot came free or dead ones were replayed

	metrics *obs.Metrics

	mu       sync.Mutex
	breakers map[string]circuitbreaker.CircuitBreaker[any] // per destination host
	retries  []time.Time                                   // retry times noted since Run last looked
}

// subscription is a webhook with its references resolved.
type subscription struct {
	spec    *spec.Webhook
	url     string
	host    string
	secrets [][]byte // the current secret first; both sign during a rotation
	enabled bool
	// scanned is how far this process has matched the outbox. It runs ahead of the stored
	// cursor over events that made no delivery, so that they cost no write; the stored
	// cursor catches up at the next delivery or poll. seen is the stored cursor as this
	// process last knew it: when it has moved since, another process has matched events.
	// Only Run's goroutine touches them.
	scanned, seen int64
}

// New resolves every webhook's URL and secrets. A webhook whose URL variable is unset is
// disabled, with one log line; one whose secret is missing or malformed is an error, since
// unsigned deliveries would be worse than none.
func New(cfg Config) (*Worker, error) {
	if cfg.Model == nil || cfg.Store == nil {
		return nil, errors.New("worker: Model and Store are required")
	}
	w := &Worker{
		model:     cfg.Model,
		queue:     cfg.Store,
		log:       cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:       cfg.Now,
		client:    cfg.Client,
		tracing:   cfg.Tracing,
		poll:      cmp.Or(cfg.Poll, time.Second),
		retention: cmp.Or(cfg.Retention, 7*24*time.Hour),
		slots:     make(chan struct{}, cmp.Or(cfg.Parallel, 8)),
		subs:      map[string]*subscription{},
		wake:      make(chan struct{}, 1),
		due:       make(chan struct{}, 1),
		breakers:  map[string]circuitbreaker.CircuitBreaker[any]{},
		metrics:   cfg.Metrics,
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.client == nil {
		// Redirects are not followed: the payload would not survive them (a 302 turns the POST
		// into an empty GET), and a receiver must not steer Plinth to other addresses. A 3xx is
		// a failed attempt.
		w.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, hook := range cfg.Model.Webhooks {
		s, err := resolve(hook, getenv)
		if err != nil {
			return nil, err
		}
		if !s.enabled {
			w.log.Info("webhook disabled: its URL variable is not set", "webhook", hook.Name, "variable", hook.URLEnv)
		}
		w.subs[hook.Name] = s
		w.order = append(w.order, s)
		w.claimFor = max(w.claimFor, hook.Timeout+claimMargin)
	}
	return w, nil
}

func resolve(hook *spec.Webhook, getenv func(string) string) (*subscription, error) {
	s := &subscription{spec: hook, url: hook.URL}
	if hook.URLEnv != "" {
		s.url = getenv(hook.URLEnv)
	}
	if s.url == "" {
		return s, nil
	}
	u, err := url.Parse(s.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %s: $%s is not an http(s) URL", hook.Name, hook.URLEnv)
	}
	s.host = u.Host
	for i, name := range []string{hook.SecretEnv, hook.PreviousSecretEnv} {
		if name == "" || (i == 1 && getenv(name) == "") {
			continue // no rotation under way
		}
		secret, err := decodeSecret(getenv(name))
		if err != nil {
			return nil, fmt.Errorf("webhook %s: $%s: %w", hook.Name, name, err)
		}
		s.secrets = append(s.secrets, secret)
	}
	s.enabled = true
	return s, nil
}

// decodeSecret reads a Standard Webhooks secret: "whsec_" and base64 of at least 24 bytes.
func decodeSecret(v string) ([]byte, error) {
	raw, ok := strings.CutPrefix(v, "whsec_")
	if !ok {
		return nil, errors.New(`a webhook secret is "whsec_" followed by base64 (see docs/webhooks.md)`)
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(b) < 24 {
		return nil, errors.New("a webhook secret must hold at least 24 bytes of base64 after whsec_")
	}
	return b, nil
}

// Subscribe records every configured webhook's starting point in the outbox, if it has none
// yet: a webhook receives the events written after it was first served. Call it before the
// API accepts writes, so that none falls between the start and the worker's first step.
func (w *Worker) Subscribe(ctx context.Context) error {
	for _, s := range w.order {
		if !s.enabled {
			continue
		}
		if _, err := w.queue.Subscription(ctx, s.spec.Name); err != nil {
			return fmt.Errorf("webhook %s: %w", s.spec.Name, err)
		}
	}
	return nil
}

// claimMargin is how much longer than its attempt's timeout a delivery stays claimed.
const claimMargin = 5 * time.Second

// Wake tells the worker that new events may be waiting. It never blocks.
func (w *Worker) Wake() { signal(w.wake) }

// signal sends on a channel of capacity one without blocking: one pending signal is enough.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run matches and delivers until ctx ends; deliveries in flight finish first (each is bounded
// by its timeout). With no webhook configured it only sweeps old deliveries.
func (w *Worker) Run(ctx context.Context) {
	if !slices.ContainsFunc(w.order, func(s *subscription) bool { return s.enabled }) {
		w.sweepUntil(ctx) // deliveries made while a webhook was configured still age out
		return
	}
	defer w.inflight.Wait() // deliveries in flight finish, each within its timeout
	t := time.NewTicker(w.poll)
	defer t.Stop()
	sweep := time.NewTicker(sweepInterval)
	defer sweep.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	// A commit only wakes the worker to match its events; claiming (a write) waits for
	// something that can make a delivery due: a match, a retry's time, a free slot, a replay,
	// or the poll, which also finds the claims of a process that died.
	claim, poll := true, true
	clock := &retryClock{timer: retry}
	for {
		w.step(ctx, claim, poll)
		for _, at := range w.takeRetries() {
			clock.add(w.now(), at)
		}
		claim, poll = false, false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			claim, poll = true, true
		case <-retry.C:
			claim = true
			clock.fired(w.now())
		case <-w.due:
			claim = true
		case <-w.wake:
		case <-sweep.C:
			w.sweep(ctx)
		}
	}
}

// maxNotedRetries bounds the retry times noted between two looks; past it, the poll
// finds them.
const maxNotedRetries = 1024

// noteRetry remembers when a rescheduled delivery falls due, for Run's retry clock.
func (w *Worker) noteRetry(at time.Time) {
	w.mu.Lock()
	if len(w.retries) < maxNotedRetries {
		w.retries = append(w.retries, at)
	}
	w.mu.Unlock()
}

// takeRetries returns the retry times noted since the last look.
func (w *Worker) takeRetries() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.retries
	w.retries = nil
	return out
}

// sweepInterval is how often delivered deliveries past their retention are deleted.
const sweepInterval = 10 * time.Minute

// sweepUntil sweeps every sweepInterval until ctx ends.
func (w *Worker) sweepUntil(ctx context.Context) {
	every(ctx, sweepInterval, func() bool {
		w.sweep(ctx)
		return true
	})
}

// every calls fn every d until ctx ends or fn returns false.
func every(ctx context.Context, d time.Duration, fn func() bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !fn() {
				return
			}
		}
	}
}

func (w *Worker) sweep(ctx context.Context) {
	for {
		n, err := w.queue.SweepDeliveries(ctx, w.now().Add(-w.retention), 500)
		if err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "sweeping deliveries failed", "err", err)
		}
		if err != nil || n < 500 {
			return
		}
	}
}

// step matches new events and, when claim is set or there may be new deliveries, sends
// what is due until nothing more is. On a poll the subscriptions' stored cursors catch up.
func (w *Worker) step(ctx context.Context, claim, poll bool) {
	for _, s := range w.order {
		news, err := w.match(ctx, s, poll)
		if err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "matching events failed", "webhook", s.spec.Name, "err", err)
		}
		claim = claim || news
	}
	for claim && ctx.Err() == nil {
		n, err := w.dispatch(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "dispatching deliveries failed", "err", err)
		}
		if n == 0 || err != nil {
			return
		}
	}
}

// resource returns the model's resource by name, or nil.
func (w *Worker) resource(name string) *spec.Resource {
	r, _ := w.model.Resource(name)
	return r
}

// breaker returns the circuit breaker of a destination host.
func (w *Worker) breaker(s *subscription) circuitbreaker.CircuitBreaker[any] {
	w.mu.Lock()
	defer w.mu.Unlock()
	cb, ok := w.breakers[s.host]
	if !ok {
		cb = circuitbreaker.NewBuilder[any]().
			WithFailureThreshold(uint(s.spec.BreakerFailures)).
			WithDelay(s.spec.BreakerDelay).
			WithSuccessThreshold(1). // half-open lets one probe through; its outcome decides
			OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
				w.log.Warn("webhook circuit breaker", "host", s.host, "from", e.OldState.String(), "to", e.NewState.String())
			}).
			Build()
		w.breakers[s.host] = cb
	}
	return cb
}
