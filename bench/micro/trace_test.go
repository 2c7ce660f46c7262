package micro

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/plinth-dev/plinth"
)

// discard is a span exporter that drops what it is given, so that the benchmark measures
// making and batching spans, not sending them.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracing is the cost of tracing on the request path: a read (GET /v1/products/{id}:
// server and operation spans) and an order (POST /v1/orders: server, operation, write and two
// effect spans), with tracing off (no provider, no endpoint: no span at all) and on (every
// request sampled, batched to an exporter that drops them).
func BenchmarkTracing(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		var opts plinth.Options
		if mode == "on" {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))
			b.Cleanup(func() { tp.Shutdown(context.Background()) })
			opts.TracerProvider = tp
		}
		s := newShopWith(b, 1000, opts)
		b.Run("read/"+mode, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				s.do(b, "GET", "/v1/products/"+s.ids[i%len(s.ids)], s.customer, "", http.StatusOK)
			}
		})
		b.Run("order/"+mode, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				s.do(b, "POST", "/v1/orders", s.customer, `{"items":[{"product_id":"`+s.ids[i%len(s.ids)]+`","quantity":1}]}`, http.StatusCreated,
					"Idempotency-Key", "trace-"+mode+"-"+strconv.Itoa(i))
			}
		})
	}
}
