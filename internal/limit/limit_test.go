package limit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/limit"
	"github.com/plinth-dev/plinth/internal/spec"
)

// TestBucketsBounded: a client cycling through more addresses than the limiter keeps costs
// no more buckets than MaxKeys, and a caller seen recently keeps its (spent) bucket.
func TestBucketsBounded(t *testing.T) {
	rule := &spec.Limit{Name: "anonymous", Per: spec.CallerAddress, Count: 1, Period: time.Minute, Burst: 1}
	now := time.Now()
	l, err := limit.New(limit.Config{Limits: []*spec.Limit{rule}, MaxKeys: 100, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rt := l.Route("GET /v1/notes")
	ctx := context.Background()
	if d := rt.Check(ctx, limit.Caller{Anonymous: true, Address: "192.0.2.1"}); d.Refused != nil {
		t.Fatal("the first request refused")
	}
	for i := range 10_000 {
		rt.Check(ctx, limit.Caller{Anonymous: true, Address: "10.0.0." + strconv.Itoa(i)})
		if i%50 == 0 { // the regular caller keeps coming back, and so keeps its spent bucket
			if d := rt.Check(ctx, limit.Caller{Anonymous: true, Address: "192.0.2.1"}); d.Refused == nil {
				t.Fatalf("after %d other callers, the regular caller's spent bucket was forgotten", i)
			}
		}
	}
	if n := l.Buckets(); n != 100 {
		t.Errorf("%d buckets kept, want the bound, 100", n)
	}
}

// BenchmarkCheck measures the check a request costs: the shop's order-create rule and the
// default for callers with a token, in memory, for one caller and for callers spread over
// many buckets (docs/performance.md).
func BenchmarkCheck(b *testing.B) {
	rules := []*spec.Limit{{Name: "order-creates", Roles: []string{"customer"}, Per: spec.CallerSubject, Count: 1 << 30, Period: time.Second, Burst: 1 << 20}}
	rules = append(rules, spec.DefaultLimits()...)
	rules[2].Count, rules[2].Burst = 1<<30, 1<<20 // never refuse: measure the admitted path
	l, err := limit.New(limit.Config{Limits: rules})
	if err != nil {
		b.Fatal(err)
	}
	rt := l.Route("POST /v1/orders")
	ctx := context.Background()
	subjects := make([]string, 10_000)
	for i := range subjects {
		subjects[i] = "customer-" + strconv.Itoa(i)
	}
	b.Run("one-caller", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rt.Check(ctx, limit.Caller{Role: "customer", Subject: "alice"}).Refused != nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("10k-callers", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			rt.Check(ctx, limit.Caller{Role: "customer", Subject: subjects[i%len(subjects)]})
			i++
		}
	})
	b.Run("redis", func(b *testing.B) {
		shared, err := limit.New(limit.Config{Limits: rules, RedisURL: "redis://127.0.0.1:6379/0", RedisTimeout: time.Second, Prefix: "plinth-bench:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"})
		if err != nil {
			b.Fatal(err)
		}
		defer shared.Close()
		rt := shared.Route("POST /v1/orders")
		b.ReportAllocs()
		for b.Loop() {
			if rt.Check(ctx, limit.Caller{Role: "customer", Subject: "alice"}).Refused != nil {
				b.Fatal("refused")
			}
		}
		if !shared.RedisUp() {
			b.Fatal("measured without Redis")
		}
	})
}
