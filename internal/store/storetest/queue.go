package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/store"
)

// The webhook queue's checks (store.Queue). Due times and claims are measured by the real
// clock: PostgreSQL compares what is due, and makes a claim last, by the database's clock
// (so that replicas on hosts whose clocks differ agree), so every claim here is made at the
// time of the call. A check that a claim runs out or a retry falls due polls for it with a
// generous deadline, and checks at each claim that nothing came before its time.

// queue is a store's webhook queue, with the time its check started.
type queue struct {
	*fixture
	q      store.Queue
	now    time.Time
	events int // events appended so far, to name the next
}

func newQueue(t *testing.T, open Opener) *queue {
	t.Helper()
	f := newFixture(t, open)
	q, ok := f.store.(store.Queue)
	if !ok {
		t.Fatal("the store keeps no webhook queue")
	}
	return &queue{fixture: f, q: q, now: time.Now()}
}

// delivery returns a pending delivery of sub for the event at seq of record, due at next,
// last touched seq microseconds after the check started (so that listings have an order);
// the delivery of an event at an even seq carries a trace context, the others none.
func (q *queue) delivery(id, sub, record string, seq int64, next time.Time) store.Delivery {
	d := store.Delivery{ID: id, Subscription: sub, EventID: fmt.Sprintf("ev-%s-%d", record, seq), EventSeq: seq,
		EventType: "things.updated", Resource: "things", RecordID: record,
		Payload: []byte(fmt.Sprintf(`{"id":"ev-%d","type":"things.updated","data":{"record":{"s":"ü 日本語 \"q\""}}}`, seq)),
		State:   store.Pending, NextAt: next, CreatedAt: q.now, UpdatedAt: q.now.Add(time.Duration(seq) * time.Microsecond)}
	if seq%2 == 0 {
		d.Trace = fmt.Sprintf("00-4bf92f3577b34da6a3ce929d0e0e%04x-00f067aa0ba902b7-01", seq)
	}
	return d
}

// dead returns d as the last failed attempt left it.
func dead(d store.Delivery) store.Delivery {
	d.State, d.Attempts, d.LastStatus, d.LastError = store.Dead, 3, 500, "the receiver answered 500"
	return d
}

// subscription reads (and on first use creates) a subscription.
func (q *queue) subscription(name string) store.Subscription {
	q.t.Helper()
	s, err := q.q.Subscription(q.ctx, name)
	if err != nil {
		q.t.Fatalf("subscription %s: %v", name, err)
	}
	return s
}

// enqueue stores deliveries of sub, leaving its cursor where it is.
func (q *queue) enqueue(sub string, ds ...store.Delivery) {
	q.t.Helper()
	at := q.subscription(sub).Cursor
	if err := q.q.Enqueue(q.ctx, sub, at, at, ds); err != nil {
		q.t.Fatalf("enqueue for %s: %v", sub, err)
	}
}

// newEvents appends n events to the outbox and returns their sequence numbers.
func (q *queue) newEvents(n int) []int64 {
	q.t.Helper()
	var evs []store.Event
	for range n {
		q.events++
		id := fmt.Sprintf("qe%d", q.events)
		evs = append(evs, store.Event{ID: id, Type: "things.created", Resource: "things", RecordID: id, Time: q.now,
			Record: store.FromMap(row{"id": id})})
	}
	q.appendEvents(q.res("things"), evs...)
	all := q.fixture.events(0, nil, 1000)
	var seqs []int64
	for _, ev := range all[len(all)-n:] {
		seqs = append(seqs, ev.Seq)
	}
	return seqs
}

// claim claims up to limit deliveries for d from the time of the call, and returns them
// sorted by id. It checks that each is pending and held, as Claimed says, until d after the
// call (give or take a millisecond of rounding).
func (q *queue) claim(limit int, d time.Duration) []store.Delivery {
	q.t.Helper()
	start := time.Now()
	ds, err := q.q.Claim(q.ctx, start, start.Add(d), limit)
	end := time.Now()
	if err != nil {
		q.t.Fatalf("claim: %v", err)
	}
	for _, c := range ds {
		if c.State != store.Pending || !c.Claimed.Equal(c.NextAt) ||
			c.Claimed.Before(start.Add(d-time.Millisecond)) || c.Claimed.After(end.Add(d+time.Millisecond)) {
			q.t.Errorf("claimed for %s between %v and %v: %s is %s, claimed until %v, due at %v",
				d, start, end, c.ID, c.State, c.Claimed, c.NextAt)
		}
	}
	slices.SortFunc(ds, func(a, b store.Delivery) int { return strings.Compare(a.ID, b.ID) })
	return ds
}

// save records an attempt's outcome, which must find its claim.
func (q *queue) save(d store.Delivery) {
	q.t.Helper()
	if err := q.q.Save(q.ctx, d); err != nil {
		q.t.Fatalf("save %s: %v", d.ID, err)
	}
}

// list returns up to limit deliveries in a state, as the store orders them.
func (q *queue) list(state store.State, limit int) []store.Delivery {
	q.t.Helper()
	ds, err := q.q.Deliveries(q.ctx, state, limit)
	if err != nil {
		q.t.Fatalf("deliveries %s: %v", state, err)
	}
	return ds
}

// find returns the stored delivery with the id, in whatever state.
func (q *queue) find(id string) (store.Delivery, bool) {
	q.t.Helper()
	for _, st := range []store.State{store.Pending, store.Delivered, store.Dead} {
		for _, d := range q.list(st, 1000) {
			if d.ID == id {
				return d, true
			}
		}
	}
	return store.Delivery{}, false
}

// mustHold checks that the delivery is stored as want.
func (q *queue) mustHold(what string, want store.Delivery) {
	q.t.Helper()
	got, ok := q.find(want.ID)
	if !ok {
		q.t.Errorf("%s: %s is not stored", what, want.ID)
		return
	}
	checkDelivery(q.t, what, want, got)
}

// counts returns Counts, which must succeed.
func (q *queue) counts() map[string]map[store.State]int {
	q.t.Helper()
	c, err := q.q.Counts(q.ctx)
	if err != nil {
		q.t.Fatalf("counts: %v", err)
	}
	return c
}

// checkCounts compares Counts with want: only the states and subscriptions that have
// deliveries are present.
func (q *queue) checkCounts(what string, want map[string]map[store.State]int) {
	q.t.Helper()
	if got := q.counts(); !reflect.DeepEqual(got, want) {
		q.t.Errorf("%s: counts %v, want %v", what, got, want)
	}
}

// deliveryIDs returns the deliveries' ids in order.
func deliveryIDs(ds []store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// checkIDs checks the ids of deliveries, in order.
func checkIDs(t *testing.T, what string, ds []store.Delivery, want ...string) {
	t.Helper()
	if got := deliveryIDs(ds); !slices.Equal(got, want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

// checkDelivery compares a delivery read back with the one expected: every member equal,
// times as stores keep them (UTC, microseconds); Claimed is not compared.
func checkDelivery(t *testing.T, what string, want, got store.Delivery) {
	t.Helper()
	var bad []string
	for _, tm := range []struct {
		name      string
		want, got time.Time
	}{{"NextAt", want.NextAt, got.NextAt}, {"CreatedAt", want.CreatedAt, got.CreatedAt}, {"UpdatedAt", want.UpdatedAt, got.UpdatedAt}} {
		if !tm.got.Equal(stored(tm.want)) || tm.got.Location() != time.UTC {
			bad = append(bad, fmt.Sprintf("%s %v, want %v", tm.name, tm.got, stored(tm.want)))
		}
	}
	want.NextAt, want.CreatedAt, want.UpdatedAt, want.Claimed = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	got.NextAt, got.CreatedAt, got.UpdatedAt, got.Claimed = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(want, got) {
		bad = append(bad, fmt.Sprintf("got %+v\n  want %+v", got, want))
	}
	if len(bad) > 0 {
		t.Errorf("%s: delivery %s differs:\n  %s", what, want.ID, strings.Join(bad, "\n  "))
	}
}

// waitUntil polls cond until it holds, or fails the test after a minute: long enough for
// any claim or retry time here to come on a busy machine.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testQueueDeliveries: deliveries come back exactly as they were enqueued, listed by state,
// oldest first, a limit at a time; counts go by subscription and state.
func testQueueDeliveries(t *testing.T, open Opener) {
	q := newQueue(t, open)
	q.checkCounts("an empty queue", map[string]map[store.State]int{})
	a1 := q.delivery("a1", "a", "r1", 3, q.now.Add(-time.Minute))
	a2 := q.delivery("a2", "a", "r2", 1, q.now.Add(time.Hour))
	a3 := dead(q.delivery("a3", "a", "r3", 4, q.now))
	b1 := q.delivery("b1", "b", "r1", 2, baseTime)
	b1.LastStatus, b1.LastError, b1.Attempts = 503, "the receiver answered 503", 2
	q.enqueue("a", a1, a2, a3)
	q.enqueue("b", b1)

	pending := q.list(store.Pending, 100)
	checkIDs(t, "pending deliveries, oldest first", pending, "a2", "b1", "a1")
	for i, want := range []store.Delivery{a2, b1, a1} {
		if i < len(pending) {
			checkDelivery(t, "listed", want, pending[i])
		}
	}
	checkIDs(t, "the oldest two pending deliveries", q.list(store.Pending, 2), "a2", "b1")
	dl := q.list(store.Dead, 100)
	checkIDs(t, "dead deliveries", dl, "a3")
	if len(dl) == 1 {
		checkDelivery(t, "listed dead", a3, dl[0])
	}
	checkIDs(t, "delivered deliveries", q.list(store.Delivered, 100))
	q.checkCounts("two subscriptions' deliveries", map[string]map[store.State]int{
		"a": {store.Pending: 2, store.Dead: 1}, "b": {store.Pending: 1}})
}

// testQueueCursor: a subscription starts at the end of the outbox; Enqueue stores
// deliveries and moves the cursor in one step, or, when another process moved it first,
// does neither; processes racing over the same events store their deliveries once.
func testQueueCursor(t *testing.T, open Opener) {
	q := newQueue(t, open)
	backlog := q.newEvents(3)
	if a := q.subscription("a"); a.Name != "a" || a.Cursor != backlog[2] || !a.Disabled.IsZero() {
		t.Errorf("a new subscription: %+v, want its cursor at the end of the outbox, %d, and enabled", a, backlog[2])
	}
	later := q.newEvents(2)
	if a := q.subscription("a"); a.Cursor != backlog[2] {
		t.Errorf("reading a subscription again moved its cursor to %d, from %d", a.Cursor, backlog[2])
	}
	if b := q.subscription("b"); b.Cursor != later[1] {
		t.Errorf("a subscription made later starts at %d, want the end of the outbox then, %d", b.Cursor, later[1])
	}
	cursor := func(want int64, what string) {
		t.Helper()
		if got := q.subscription("a").Cursor; got != want {
			t.Errorf("%s: cursor %d, want %d", what, got, want)
		}
	}

	d1 := q.delivery("d1", "a", "r1", later[0], q.now)
	if err := q.q.Enqueue(q.ctx, "a", backlog[2], later[0], []store.Delivery{d1}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	cursor(later[0], "after enqueueing")
	q.mustHold("enqueued", d1)

	// Another process matched from the same place: it finds the cursor moved and stores nothing.
	stale := q.delivery("stale", "a", "r1", later[0], q.now)
	if err := q.q.Enqueue(q.ctx, "a", backlog[2], later[1], []store.Delivery{stale}); !errors.Is(err, store.ErrCursorMoved) {
		t.Errorf("enqueue from a cursor that moved: %v, want ErrCursorMoved", err)
	}
	cursor(later[0], "after a stale enqueue")
	if _, ok := q.find("stale"); ok {
		t.Error("a stale enqueue stored its delivery")
	}

	// Events that make no delivery move the cursor alone.
	if err := q.q.Enqueue(q.ctx, "a", later[0], later[1], nil); err != nil {
		t.Fatalf("enqueue nothing: %v", err)
	}
	cursor(later[1], "after moving past events that made nothing")

	// A batch is stored whole or not at all: one that cannot be stored (an id taken) leaves
	// the cursor where it was and stores none of it.
	more := q.newEvents(1)
	fresh, taken := q.delivery("fresh", "a", "r2", more[0], q.now), q.delivery("d1", "a", "r3", more[0], q.now)
	if err := q.q.Enqueue(q.ctx, "a", later[1], more[0], []store.Delivery{fresh, taken}); err == nil || errors.Is(err, store.ErrCursorMoved) {
		t.Errorf("enqueue of a batch with a taken id: %v, want a failure", err)
	}
	cursor(later[1], "after a failed enqueue")
	if _, ok := q.find("fresh"); ok {
		t.Error("part of a failed batch was stored")
	}
	q.mustHold("after a failed enqueue", d1)

	// Several processes match the same events at once: one stores its delivery and moves the
	// cursor, the others find it moved.
	winner := oneWins(t, "enqueueing the same events", 6, func(i int) error {
		return q.q.Enqueue(q.ctx, "a", later[1], more[0],
			[]store.Delivery{q.delivery(fmt.Sprintf("race%d", i), "a", "r4", more[0], q.now)})
	}, func(err error) bool { return errors.Is(err, store.ErrCursorMoved) })
	cursor(more[0], "after the race")
	checkIDs(t, "pending after the race", q.list(store.Pending, 100), "d1", fmt.Sprintf("race%d", winner))
}

// testQueueClaim: a claim takes at most its limit of pending deliveries whose time has
// come, the longest due first, and no other claimer takes them while it lasts.
func testQueueClaim(t *testing.T, open Opener) {
	q := newQueue(t, open)
	var due []store.Delivery
	for i := range 5 {
		due = append(due, q.delivery(fmt.Sprintf("due%d", i), "a", fmt.Sprintf("r%d", i), int64(i+1),
			q.now.Add(-time.Duration(5-i)*time.Minute)))
	}
	later := q.delivery("later", "a", "r-later", 10, q.now.Add(time.Hour))
	deadOne := dead(q.delivery("dead", "a", "r-dead", 11, q.now.Add(-time.Hour)))
	delivered := q.delivery("delivered", "a", "r-delivered", 12, q.now.Add(-time.Hour))
	delivered.State = store.Delivered
	// Enqueued out of due order: the claim, not the insertion, sets the order.
	q.enqueue("a", due[3], later, due[0], deadOne, due[4], delivered, due[2], due[1])

	first := q.claim(3, time.Hour)
	checkIDs(t, "a claim of 3 out of 5 due", first, "due0", "due1", "due2")
	for i, c := range first {
		want := due[i]
		want.NextAt = c.Claimed
		checkDelivery(t, "claimed", want, c)
	}
	// While the claim lasts, a second claimer gets only the other due deliveries, and a
	// third nothing.
	checkIDs(t, "a second claim", q.claim(10, time.Hour), "due3", "due4")
	checkIDs(t, "a third claim", q.claim(10, time.Hour))
	// A claimed delivery is still pending, due again when its claim ends: a process that dies
	// holding it hands it back then.
	for _, c := range first {
		got, _ := q.find(c.ID)
		if got.State != store.Pending || !got.NextAt.Equal(c.Claimed) {
			t.Errorf("claimed %s is stored as %s due at %v, want pending due at its claim's end %v", c.ID, got.State, got.NextAt, c.Claimed)
		}
	}
	q.mustHold("not due", later)
	q.mustHold("dead", deadOne)
	q.mustHold("delivered", delivered)
}

// testQueueClaimRace: claimers claiming from one store at once never take the same delivery.
func testQueueClaimRace(t *testing.T, open Opener) {
	q := newQueue(t, open)
	const n, claimers = 100, 8
	var ds []store.Delivery
	for i := range n {
		ds = append(ds, q.delivery(fmt.Sprintf("d%02d", i), "a", fmt.Sprintf("r%d", i), int64(i+1), q.now.Add(-time.Minute)))
	}
	q.enqueue("a", ds...)
	var mu sync.Mutex
	taken := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range claimers {
		wg.Go(func() {
			<-start
			for {
				now := time.Now()
				got, err := q.q.Claim(q.ctx, now, now.Add(time.Hour), 3)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					taken[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	for id, k := range taken {
		if k > 1 {
			t.Errorf("%s was claimed %d times", id, k)
		}
	}
	if len(taken) != n {
		t.Errorf("%d deliveries claimed, want all %d", len(taken), n)
	}
	checkIDs(t, "a claim after every delivery was taken", q.claim(10, time.Hour))
}

// testQueueClaimExpires: a claim that runs out, as when the process holding it dies, hands
// the delivery to the next claimer, not before; the first claimer's late outcome is then
// refused, and the second's recorded.
func testQueueClaimExpires(t *testing.T, open Opener) {
	q := newQueue(t, open)
	d := q.delivery("d", "a", "r", 1, q.now.Add(-time.Second))
	q.enqueue("a", d)
	lost := q.claim(1, 200*time.Millisecond)
	checkIDs(t, "the first claim", lost, "d")
	if len(lost) != 1 {
		return
	}
	var again []store.Delivery
	waitUntil(t, "the expired claim to be taken again", func() bool {
		again = q.claim(1, time.Hour)
		if len(again) > 0 && time.Now().Before(lost[0].Claimed) {
			t.Errorf("claimed again at %v, before the first claim ended at %v", time.Now(), lost[0].Claimed)
		}
		return len(again) > 0
	})
	checkIDs(t, "the second claim", again, "d")

	late := lost[0]
	late.State, late.Attempts, late.LastStatus, late.UpdatedAt = store.Delivered, 1, 200, time.Now()
	if err := q.q.Save(q.ctx, late); !errors.Is(err, store.ErrClaimLost) {
		t.Errorf("saving under a claim that ran out: %v, want ErrClaimLost", err)
	}
	if got, _ := q.find("d"); got.State != store.Pending || got.Attempts != 0 || !got.NextAt.Equal(again[0].Claimed) {
		t.Errorf("after a lost claim's save: %+v, want it pending under the second claim", got)
	}
	won := again[0]
	won.State, won.Attempts, won.LastStatus, won.UpdatedAt = store.Delivered, 1, 204, time.Now()
	q.save(won)
	q.mustHold("delivered under the second claim", won)
	q.checkCounts("after delivery", map[string]map[store.State]int{"a": {store.Delivered: 1}})
}

// testQueueOrder: a record's later event is not claimed while an earlier one of the same
// subscription is pending — due, in flight or waiting for a retry — whatever their due times;
// a dead letter does not hold it, and other records and subscriptions do not wait.
func testQueueOrder(t *testing.T, open Opener) {
	q := newQueue(t, open)
	// Record r's three events, due in the reverse of their order; another record's event; and
	// r's event for another subscription.
	r1 := q.delivery("r1", "a", "r", 1, q.now.Add(-time.Minute))
	r2 := q.delivery("r2", "a", "r", 2, q.now.Add(-2*time.Minute))
	r3 := q.delivery("r3", "a", "r", 3, q.now.Add(-3*time.Minute))
	s1 := q.delivery("s1", "a", "s", 4, q.now.Add(-time.Minute))
	b1 := q.delivery("b1", "b", "r", 2, q.now.Add(-time.Minute))
	q.enqueue("a", r3, r1, s1, r2)
	q.enqueue("b", b1)

	first := q.claim(10, time.Hour)
	checkIDs(t, "the first claim", first, "b1", "r1", "s1")
	checkIDs(t, "a claim while r's first event is in flight", q.claim(10, time.Hour))
	if len(first) != 3 {
		return
	}
	// Its attempt fails; until its retry has come and gone, r's later events wait.
	retry := first[1]
	retry.Attempts, retry.LastStatus, retry.LastError = 1, 503, "the receiver answered 503"
	retry.NextAt, retry.UpdatedAt = time.Now().Add(100*time.Millisecond), time.Now()
	q.save(retry)
	var again []store.Delivery
	waitUntil(t, "r's first event's retry", func() bool {
		again = q.claim(10, time.Hour)
		if slices.ContainsFunc(again, func(d store.Delivery) bool { return d.ID != "r1" }) {
			t.Fatalf("claimed %v while r's first event waits for its retry", deliveryIDs(again))
		}
		return len(again) > 0
	})
	// Its last attempt fails: once it is dead, the next goes, and after that the last.
	gone := again[0]
	gone.State, gone.Attempts, gone.UpdatedAt = store.Dead, 2, time.Now()
	q.save(gone)
	next := q.claim(10, time.Hour)
	checkIDs(t, "a claim once r's first event is dead", next, "r2")
	if len(next) != 1 {
		return
	}
	next[0].State, next[0].Attempts, next[0].LastStatus, next[0].UpdatedAt = store.Delivered, 1, 200, time.Now()
	q.save(next[0])
	checkIDs(t, "a claim once r's second event is delivered", q.claim(10, time.Hour), "r3")
}

// testQueueRetry: a failed attempt is saved with its count and outcome, and its delivery is
// claimed again when its retry time has come, not before.
func testQueueRetry(t *testing.T, open Opener) {
	q := newQueue(t, open)
	q.enqueue("a", q.delivery("soon", "a", "r1", 1, q.now.Add(-time.Second)), q.delivery("far", "a", "r2", 2, q.now.Add(-time.Second)))
	claimed := q.claim(10, time.Hour)
	checkIDs(t, "the first claim", claimed, "far", "soon")
	if len(claimed) != 2 {
		return
	}
	fail := func(d store.Delivery, at time.Time) store.Delivery {
		d.Attempts++
		d.LastStatus, d.LastError, d.NextAt, d.UpdatedAt = 503, fmt.Sprintf("the receiver answered 503 (attempt %d)", d.Attempts), at, time.Now()
		q.save(d)
		return d
	}
	far := fail(claimed[0], time.Now().Add(time.Hour))
	soon := fail(claimed[1], time.Now().Add(300*time.Millisecond))
	q.mustHold("after a failed attempt retried in an hour", far)
	q.mustHold("after a failed attempt retried soon", soon)

	var again []store.Delivery
	waitUntil(t, "the retry", func() bool {
		again = q.claim(10, time.Hour)
		if len(again) > 0 && time.Now().Before(stored(soon.NextAt)) {
			t.Errorf("a retry due at %v was claimed at %v", stored(soon.NextAt), time.Now())
		}
		return len(again) > 0
	})
	checkIDs(t, "the retry's claim", again, "soon")
	if len(again) == 1 && again[0].Attempts != 1 {
		t.Errorf("the retry's claim counts %d attempts, want 1", again[0].Attempts)
	}
	// A retry already due when it is saved (a Retry-After of 0) is claimed at once.
	if len(again) == 1 {
		twice := fail(again[0], time.Now().Add(-time.Millisecond))
		q.mustHold("after a second failed attempt", twice)
		checkIDs(t, "a claim of a retry already due", q.claim(10, time.Hour), "soon")
	}
}

// testQueueDeadLetters: the last failed attempt, or a delivery enqueued dead (its webhook's
// condition failed), leaves it dead: listed, counted, never claimed.
func testQueueDeadLetters(t *testing.T, open Opener) {
	q := newQueue(t, open)
	cond := q.delivery("cond", "a", "r1", 1, q.now.Add(-time.Minute))
	cond.State, cond.LastError = store.Dead, "the webhook's when condition could not be evaluated: no such key: title"
	q.enqueue("a", cond, q.delivery("d", "a", "r2", 2, q.now.Add(-time.Minute)))
	c := q.claim(10, time.Hour)
	checkIDs(t, "a claim beside a dead delivery", c, "d")
	if len(c) != 1 {
		return
	}
	last := c[0]
	last.State, last.Attempts, last.LastStatus, last.LastError, last.UpdatedAt = store.Dead, 3, 500, "the receiver answered 500", time.Now()
	q.save(last)

	dl := q.list(store.Dead, 10)
	checkIDs(t, "dead letters, oldest first", dl, "cond", "d")
	if len(dl) == 2 {
		checkDelivery(t, "enqueued dead", cond, dl[0])
		checkDelivery(t, "dead after its last attempt", last, dl[1])
	}
	checkIDs(t, "the oldest dead letter", q.list(store.Dead, 1), "cond")
	checkIDs(t, "pending deliveries", q.list(store.Pending, 10))
	checkIDs(t, "a claim of dead letters", q.claim(10, time.Hour))
	q.checkCounts("dead letters", map[string]map[store.State]int{"a": {store.Dead: 2}})
}

// testQueueBacklog: the backlog reads the outbox's head, each subscription's cursor, the
// time of the first event it has not taken, and its dead letters.
func testQueueBacklog(t *testing.T, open Opener) {
	q := newQueue(t, open)
	empty, err := q.q.Backlog(q.ctx)
	if err != nil || empty.Head != 0 || len(empty.Subscriptions) != 0 {
		t.Fatalf("the backlog of an empty outbox: %+v, %v", empty, err)
	}
	q.subscription("caught-up")
	q.subscription("behind")
	seqs := q.newEvents(3)
	q.enqueue("behind", dead(q.delivery("x", "behind", "r1", seqs[0], q.now)))
	if err := q.q.Enqueue(q.ctx, "caught-up", 0, seqs[2], nil); err != nil {
		t.Fatal(err)
	}
	b, err := q.q.Backlog(q.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Head != seqs[2] {
		t.Errorf("head %d, want %d", b.Head, seqs[2])
	}
	if s := b.Subscriptions["caught-up"]; s.Cursor != seqs[2] || !s.Oldest.IsZero() || s.Dead != 0 {
		t.Errorf("a subscription caught up: %+v", s)
	}
	if s := b.Subscriptions["behind"]; s.Cursor != 0 || !s.Oldest.Equal(q.now.Truncate(time.Microsecond)) || s.Dead != 1 {
		t.Errorf("a subscription behind by three events, one dead letter: %+v (events at %s)", s, q.now)
	}
}

// testQueueReplay: a replayed dead letter is pending again, due at the replay with its
// attempts counted from zero, once; replaying a delivery that is not dead changes nothing.
func testQueueReplay(t *testing.T, open Opener) {
	q := newQueue(t, open)
	a1 := dead(q.delivery("a1", "a", "r1", 1, q.now.Add(-time.Hour)))
	a2 := dead(q.delivery("a2", "a", "r2", 2, q.now.Add(-time.Hour)))
	waiting := q.delivery("waiting", "a", "r3", 3, q.now.Add(time.Hour))
	done := q.delivery("done", "a", "r4", 4, q.now.Add(-time.Hour))
	done.State, done.Attempts, done.LastStatus = store.Delivered, 1, 200
	b1 := dead(q.delivery("b1", "b", "r1", 5, q.now.Add(-time.Hour)))
	q.enqueue("a", a1, a2, waiting, done)
	q.enqueue("b", b1)

	// The ids may name deliveries that are not dead, none at all, or none that any store can
	// hold (U+0000, or not UTF-8): those change nothing.
	at := time.Now()
	if n, err := q.q.Replay(q.ctx, []string{"a1", "waiting", "done", "missing", "a2\x00", "a2\xff"}, at); err != nil || n != 1 {
		t.Errorf("replay of one dead delivery among others: %d, %v; want 1", n, err)
	}
	replayed := a1
	replayed.State, replayed.Attempts, replayed.LastError, replayed.NextAt, replayed.UpdatedAt = store.Pending, 0, "", at, at
	q.mustHold("replayed", replayed)
	q.mustHold("a pending delivery replayed", waiting)
	q.mustHold("a delivered delivery replayed", done)
	// Once: it is not dead any more, so replaying it again changes nothing.
	if n, err := q.q.Replay(q.ctx, []string{"a1"}, at.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("replay of a delivery replayed already: %d, %v; want 0", n, err)
	}
	q.mustHold("replayed twice", replayed)
	if n, err := q.q.Replay(q.ctx, []string{"a2\x00"}, at); err != nil || n != 0 {
		t.Errorf("replay of an id no store holds: %d, %v; want 0, not all", n, err)
	}
	checkIDs(t, "a claim after the replay", q.claim(10, time.Hour), "a1")

	// With no ids, every dead delivery of every subscription is replayed.
	if n, err := q.q.Replay(q.ctx, nil, time.Now()); err != nil || n != 2 {
		t.Errorf("replay of all: %d, %v; want 2", n, err)
	}
	checkIDs(t, "dead letters after replaying all", q.list(store.Dead, 10))
	q.checkCounts("after replaying all", map[string]map[store.State]int{
		"a": {store.Pending: 3, store.Delivered: 1}, "b": {store.Pending: 1}})
}

// testQueueDisable: the deliveries of a webhook whose receiver is gone wait, not claimed;
// replaying one of its dead letters enables it again, replaying anything else does not.
func testQueueDisable(t *testing.T, open Opener) {
	q := newQueue(t, open)
	q.enqueue("a", q.delivery("a1", "a", "r1", 1, q.now.Add(-time.Minute)), dead(q.delivery("a2", "a", "r2", 2, q.now.Add(-time.Minute))))
	q.enqueue("b", q.delivery("b1", "b", "r1", 3, q.now.Add(-time.Minute)))
	if err := q.q.Disable(q.ctx, "a", baseTime); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if s := q.subscription("a"); !s.Disabled.Equal(stored(baseTime)) || s.Disabled.Location() != time.UTC {
		t.Errorf("disabled subscription: %+v, want disabled at %v", s, stored(baseTime))
	}
	if s := q.subscription("b"); !s.Disabled.IsZero() {
		t.Errorf("another subscription was disabled: %+v", s)
	}
	checkIDs(t, "a claim while a is disabled", q.claim(10, time.Hour), "b1")

	if n, err := q.q.Replay(q.ctx, []string{"a1"}, time.Now()); err != nil || n != 0 {
		t.Errorf("replay of a pending delivery: %d, %v; want 0", n, err)
	}
	if s := q.subscription("a"); s.Disabled.IsZero() {
		t.Error("replaying a delivery that is not dead enabled its webhook")
	}
	checkIDs(t, "a claim while a is still disabled", q.claim(10, time.Hour))

	if n, err := q.q.Replay(q.ctx, []string{"a2"}, time.Now()); err != nil || n != 1 {
		t.Errorf("replay of a dead letter: %d, %v; want 1", n, err)
	}
	if s := q.subscription("a"); !s.Disabled.IsZero() {
		t.Errorf("after a replay the webhook is still disabled: %+v", s)
	}
	checkIDs(t, "a claim once a is enabled again", q.claim(10, time.Hour), "a1", "a2")
}

// testQueueDiscard: discarding deletes dead deliveries only, by id or all at once.
func testQueueDiscard(t *testing.T, open Opener) {
	q := newQueue(t, open)
	waiting := q.delivery("waiting", "a", "r3", 3, q.now.Add(time.Hour))
	done := q.delivery("done", "a", "r4", 4, q.now.Add(-time.Hour))
	done.State = store.Delivered
	q.enqueue("a", dead(q.delivery("d1", "a", "r1", 1, q.now)), dead(q.delivery("d2", "a", "r2", 2, q.now)), waiting, done)
	q.enqueue("b", dead(q.delivery("d3", "b", "r1", 5, q.now)))

	// As in a replay, ids of deliveries that are not dead, or of none, are passed over.
	if n, err := q.q.Discard(q.ctx, []string{"d1", "waiting", "done", "missing", "d2\x00", "d2\xff"}); err != nil || n != 1 {
		t.Errorf("discard of one dead delivery among others: %d, %v; want 1", n, err)
	}
	if n, err := q.q.Discard(q.ctx, []string{"d1"}); err != nil || n != 0 {
		t.Errorf("discard of a discarded delivery: %d, %v; want 0", n, err)
	}
	if n, err := q.q.Discard(q.ctx, []string{"d2\x00"}); err != nil || n != 0 {
		t.Errorf("discard of an id no store holds: %d, %v; want 0, not all", n, err)
	}
	checkIDs(t, "dead letters after discarding one", q.list(store.Dead, 10), "d2", "d3")
	q.mustHold("a pending delivery discarded", waiting)
	q.mustHold("a delivered delivery discarded", done)
	if n, err := q.q.Discard(q.ctx, nil); err != nil || n != 2 {
		t.Errorf("discard of all: %d, %v; want 2", n, err)
	}
	q.checkCounts("after discarding all", map[string]map[store.State]int{"a": {store.Pending: 1, store.Delivered: 1}})
}

// testQueueSweep: a sweep deletes delivered deliveries last touched before its time, a limit
// at a time; it keeps the later ones, and pending and dead ones however old.
func testQueueSweep(t *testing.T, open Opener) {
	q := newQueue(t, open)
	cutoff := baseTime
	at := func(d store.Delivery, state store.State, touched time.Time) store.Delivery {
		d.State, d.UpdatedAt = state, touched
		return d
	}
	var ds []store.Delivery
	for i, age := range []time.Duration{2 * time.Hour, time.Hour, time.Microsecond} {
		ds = append(ds, at(q.delivery(fmt.Sprintf("old%d", i), "a", "r", int64(i+1), cutoff), store.Delivered, cutoff.Add(-age)))
	}
	ds = append(ds,
		at(q.delivery("atCutoff", "a", "r", 4, cutoff), store.Delivered, cutoff),
		at(q.delivery("recent", "a", "r", 5, cutoff), store.Delivered, cutoff.Add(time.Hour)),
		at(q.delivery("pending", "a", "p", 6, q.now.Add(time.Hour)), store.Pending, cutoff.Add(-2*time.Hour)),
		at(q.delivery("dead", "a", "d", 7, cutoff), store.Dead, cutoff.Add(-2*time.Hour)))
	q.enqueue("a", ds...)

	for i, want := range []int{2, 1, 0} {
		if n, err := q.q.SweepDeliveries(q.ctx, cutoff, 2); err != nil || n != want {
			t.Errorf("sweep %d: %d, %v; want %d", i+1, n, err, want)
		}
	}
	checkIDs(t, "delivered after sweeping", q.list(store.Delivered, 10), "atCutoff", "recent")
	checkIDs(t, "pending after sweeping", q.list(store.Pending, 10), "pending")
	checkIDs(t, "dead after sweeping", q.list(store.Dead, 10), "dead")
}
