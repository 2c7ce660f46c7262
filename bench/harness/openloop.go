package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// OpenLoad is an open-loop run: requests are sent at a fixed arrival rate, on a schedule that
// does not wait for answers, as real clients arrive. Each goes out on an idle keep-alive
// connection of a pool, which dials a new one when all are busy (up to MaxConns), and its
// latency runs from the time it was scheduled to be sent, not from when it went out: a
// server that stalls is charged for every request it kept waiting, which a closed loop, whose
// clients wait politely, would omit (coordinated omission).
type OpenLoad struct {
	Addr     string // host:port, a loopback IP address
	Rate     float64
	Warmup   time.Duration // sent, not measured
	Duration time.Duration // measured: requests scheduled in it, answers received in it
	// MaxConns bounds the pool; a request due when every connection is busy and the pool is
	// full is not sent, and counted in Unsent: its client gave up. Default 1,024, several times
	// what a server that sheds keeps busy; a server that does not shed exhausts it.
	MaxConns  int
	Timeout   time.Duration // per request; default 5s
	NewWorker func(id int) Worker
}

// OpenResult is what an open-loop run measured.
type OpenResult struct {
	Result             // requests scheduled in the measured window; Elapsed is the window
	Goodput  int64     // 2xx answers received in the measured window
	Shed     int64     // 503 overloaded answers, of requests scheduled in the window
	Admitted Histogram // latency of the answers that were not shed
	Unsent   int64     // requests not sent for want of a connection
	Conns    int       // connections the pool opened
}

// GoodputPerSecond is the 2xx answers per second of the measured window.
func (r *OpenResult) GoodputPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Goodput) / r.Elapsed.Seconds()
}

// pooled is a connection of the pool with the worker that makes its requests and what it
// measured; one request at a time uses it.
type pooled struct {
	c   conn
	w   Worker
	req []byte
	res Response
	out OpenResult
}

// Run sends the requests and waits for their answers, each within Timeout.
func (l OpenLoad) Run(ctx context.Context) (*OpenResult, error) {
	if l.Rate <= 0 || l.Duration <= 0 || l.NewWorker == nil {
		return nil, errors.New("open load: Rate, Duration and NewWorker are required")
	}
	if host, _, err := net.SplitHostPort(l.Addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return nil, fmt.Errorf("open load: %q is not a loopback address; the harness loads only this machine", l.Addr)
	}
	maxConns := l.MaxConns
	if maxConns == 0 {
		maxConns = 1024
	}
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	var (
		idle   = make(chan *pooled, maxConns)
		all    []*pooled
		wg     sync.WaitGroup
		unsent int64
	)
	start := time.Now()
	measureFrom, measureTo := start.Add(l.Warmup), start.Add(l.Warmup+l.Duration)
	interval := time.Duration(float64(time.Second) / l.Rate)
	send := func(p *pooled, at time.Time) {
		defer func() { idle <- p }()
		p.req = p.w.Request(p.req[:0])
		err := p.c.do(p.req, &p.res)
		done := time.Now()
		if err == nil {
			p.w.Response(&p.res)
		}
		o := &p.out
		if err == nil && p.res.Status/100 == 2 && !done.Before(measureFrom) && !done.After(measureTo) {
			o.Goodput++
		}
		if at.Before(measureFrom) {
			return
		}
		o.Requests++
		o.Latency.Record(done.Sub(at))
		if err != nil {
			o.Errors++
			o.sample(fmt.Sprintf("transport: %v", err))
			return
		}
		o.Statuses[p.res.Status]++
		if p.res.Status == 503 && bytes.Contains(p.res.Body, []byte("overloaded")) {
			o.Shed++
			return
		}
		o.Admitted.Record(done.Sub(at))
		if p.res.Status/100 != 2 {
			o.Non2xx++
			o.sample(fmt.Sprintf("%d: %s", p.res.Status, bytes.TrimSpace(p.res.Body)))
		}
	}
	for i := 0; ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(measureTo) {
			break
		}
		// Behind schedule, the requests due are sent at once; latency still counts from when
		// each was due.
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		var p *pooled
		select {
		case p = <-idle:
		default:
			if len(all) >= maxConns {
				if !at.Before(measureFrom) {
					unsent++
				}
				continue
			}
			p = &pooled{c: conn{addr: l.Addr, timeout: timeout}, w: l.NewWorker(len(all)), out: OpenResult{Result: Result{Statuses: map[int]int64{}}}}
			all = append(all, p)
		}
		p.out.Sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(p, at)
		}()
	}
	wg.Wait()
	total := &OpenResult{Result: Result{Statuses: map[int]int64{}}, Unsent: unsent, Conns: len(all)}
	for _, p := range all {
		p.c.close()
		total.Result.Merge(&p.out.Result)
		total.Goodput += p.out.Goodput
		total.Shed += p.out.Shed
		total.Admitted.Merge(&p.out.Admitted)
	}
	total.Elapsed = l.Duration
	return total, ctx.Err()
}
