package obs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The outcomes of webhook deliveries (plinth_webhook_deliveries_total's outcome label).
const (
	DeliveryDelivered = "delivered" // the receiver answered 2xx
	DeliveryFailed    = "failed"    // the attempt failed and the delivery will be retried
	DeliveryDead      = "dead"      // out of attempts, or refused for good: a dead letter
)

// Delivery counts a delivery attempt of webhook that ended with outcome (a Delivery
// constant).
func (m *Metrics) Delivery(webhook, outcome string) {
	if m != nil {
		m.deliveries.WithLabelValues(webhook, outcome).Inc()
	}
}

// Attempt counts an attempt sent to webhook's receiver.
func (m *Metrics) Attempt(webhook string) {
	if m != nil {
		m.attempts.WithLabelValues(webhook).Inc()
	}
}

// ScheduleRun observes a run of schedule that took d, and failed unless ok.
func (m *Metrics) ScheduleRun(schedule string, ok bool, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	if !ok {
		outcome = "failed"
	}
	m.scheduleRuns.WithLabelValues(schedule, outcome).Inc()
	m.scheduleSeconds.WithLabelValues(schedule).Observe(d.Seconds())
}

// LeaseTakeover counts a run of schedule that outlived its lease: another process may have
// taken it and run beside it.
func (m *Metrics) LeaseTakeover(schedule string) {
	if m != nil {
		m.takeovers.WithLabelValues(schedule).Inc()
	}
}

// Outbox is the state of the outbox and of its subscriptions at one moment.
type Outbox struct {
	Head     int64 // the sequence of the last event; 0 for an empty outbox
	Webhooks []Webhook
}

// Webhook is the state of one webhook subscription.
type Webhook struct {
	Name       string
	LagEvents  int64   // events after the subscription's cursor
	LagSeconds float64 // the age of the oldest of them; 0 when there is none
	Dead       int     // dead letters waiting for a replay or a discard
	Breaker    Breaker // the state of its destination's circuit breaker
}

// Breaker is the state of a circuit breaker.
type Breaker int

// The states of a circuit breaker (plinth_webhook_breaker_state's values).
const (
	BreakerClosed Breaker = iota
	BreakerHalfOpen
	BreakerOpen
)

// WatchOutbox exports the outbox head, the subscriptions' lag, dead letters and breaker
// states, reading them with read at each scrape, given timeout to answer: they are a few
// indexed queries, cheaper than polling them between scrapes. A read that fails is
// reported as a scrape error (logged), and the other metrics are still served.
func (m *Metrics) WatchOutbox(read func(context.Context) (Outbox, error), timeout time.Duration) {
	if m != nil {
		m.reg.MustRegister(outboxCollector{read: read, timeout: timeout})
	}
}

var (
	outboxHead = prometheus.NewDesc("plinth_outbox_head_sequence",
		"The sequence number of the last event in the outbox.", nil, nil)
	lagEvents = prometheus.NewDesc("plinth_subscription_lag_events",
		"Events in the outbox that a subscription has not yet taken.", []string{"subscription"}, nil)
	lagSeconds = prometheus.NewDesc("plinth_subscription_lag_seconds",
		"Age of the oldest event a subscription has not yet taken; 0 when it is caught up.", []string{"subscription"}, nil)
	deadLetters = prometheus.NewDesc("plinth_webhook_dead_letters",
		"Dead webhook deliveries waiting for a replay or a discard.", []string{"webhook"}, nil)
	breakerOpen = prometheus.NewDesc("plinth_webhook_breaker_open",
		"1 while the circuit breaker of the webhook's destination is open, else 0.", []string{"webhook"}, nil)
	breakerState = prometheus.NewDesc("plinth_webhook_breaker_state",
		"State of the circuit breaker of the webhook's destination: 0 closed, 1 half-open, 2 open.", []string{"webhook"}, nil)
)

type outboxCollector struct {
	read    func(context.Context) (Outbox, error)
	timeout time.Duration
}

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{outboxHead, lagEvents, lagSeconds, deadLetters, breakerOpen, breakerState} {
		ch <- d
	}
}

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	o, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxHead, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(outboxHead, prometheus.GaugeValue, float64(o.Head))
	for _, w := range o.Webhooks {
		ch <- prometheus.MustNewConstMetric(lagEvents, prometheus.GaugeValue, float64(w.LagEvents), w.Name)
		ch <- prometheus.MustNewConstMetric(lagSeconds, prometheus.GaugeValue, w.LagSeconds, w.Name)
		ch <- prometheus.MustNewConstMetric(deadLetters, prometheus.GaugeValue, float64(w.Dead), w.Name)
		open := 0.0
		if w.Breaker == BreakerOpen {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(breakerOpen, prometheus.GaugeValue, open, w.Name)
		ch <- prometheus.MustNewConstMetric(breakerState, prometheus.GaugeValue, float64(w.Breaker), w.Name)
	}
}
