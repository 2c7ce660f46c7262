package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Response is what a worker learns from one response: the status and the headers a scenario
// acts on. Body holds the start of an error body, for the report.
type Response struct {
	Status   int
	ETag     string
	Location string
	Body     []byte
}

// Worker makes one connection's requests. Request appends a complete HTTP/1.1 request to dst;
// Response sees its answer (also during warm-up). A worker is used by one goroutine only.
type Worker interface {
	Request(dst []byte) []byte
	Response(r *Response)
}

// Load is one closed-loop run: Conns keep-alive connections, each sending its next request as
// soon as the previous answer has been read, as wrk does. It runs for Warmup and then for
// Duration, recording only the requests that complete in the measured window; with Duration
// zero it runs until MaxRequests requests have been sent (a seed) and records them all.
type Load struct {
	Addr        string // host:port, a loopback IP address
	Conns       int
	Warmup      time.Duration
	Duration    time.Duration
	MaxRequests int64         // bound on requests sent, warm-up included; required when Duration is 0
	Timeout     time.Duration // per request; default 10s
	NewWorker   func(id int) Worker
}

// Result is what a run measured.
type Result struct {
	Requests int64         // completed in the measured window, whatever their status
	Sent     int64         // completed in the whole run, warm-up included
	Errors   int64         // transport failures: refused, reset, timed out, unparsable
	Non2xx   int64         // responses with a status outside 200-299
	Statuses map[int]int64 // every status seen in the measured window
	Elapsed  time.Duration // the measured window
	Latency  Histogram     // every measured request, error or not
	Samples  []string      // the first few failures, for diagnosis
}

// PerSecond is the throughput of the measured window.
func (r *Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Merge adds another run of the same workload to r.
func (r *Result) Merge(o *Result) {
	r.Requests += o.Requests
	r.Sent += o.Sent
	r.Errors += o.Errors
	r.Non2xx += o.Non2xx
	r.Elapsed += o.Elapsed
	r.Latency.Merge(&o.Latency)
	if r.Statuses == nil {
		r.Statuses = map[int]int64{}
	}
	for s, n := range o.Statuses {
		r.Statuses[s] += n
	}
	r.Samples = append(r.Samples, o.Samples...)
	r.Samples = r.Samples[:min(len(r.Samples), maxSamples)]
}

const maxSamples = 5

// Run performs the load and returns what it measured. It fails only when it cannot run at
// all; failed requests are counted in the result.
func (l Load) Run(ctx context.Context) (*Result, error) {
	if l.Conns < 1 || l.NewWorker == nil || (l.Duration == 0 && l.MaxRequests <= 0) {
		return nil, errors.New("load: Conns, NewWorker and Duration or MaxRequests are required")
	}
	if host, _, err := net.SplitHostPort(l.Addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return nil, fmt.Errorf("load: %q is not a loopback address; the harness loads only this machine", l.Addr)
	}
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	start := time.Now()
	measureFrom, measureTo := start.Add(l.Warmup), start.Add(l.Warmup+l.Duration)
	if l.Duration == 0 {
		measureFrom, measureTo = start, time.Time{}
	}
	var sent atomic.Int64
	results := make([]*Result, l.Conns)
	var wg sync.WaitGroup
	for i := range l.Conns {
		results[i] = &Result{Statuses: map[int]int64{}}
		c := &conn{addr: l.Addr, timeout: timeout}
		w := l.NewWorker(i)
		wg.Go(func() {
			defer c.close()
			res := results[i]
			var req []byte
			var resp Response
			for ctx.Err() == nil {
				if !measureTo.IsZero() && !time.Now().Before(measureTo) {
					return
				}
				if l.MaxRequests > 0 && sent.Add(1) > l.MaxRequests {
					return
				}
				req = w.Request(req[:0])
				t0 := time.Now()
				err := c.do(req, &resp)
				t1 := time.Now()
				res.Sent++
				if err == nil {
					w.Response(&resp)
				}
				if t1.Before(measureFrom) || (!measureTo.IsZero() && t1.After(measureTo)) {
					if err != nil {
						pause(ctx)
					}
					continue
				}
				res.Requests++
				res.Latency.Record(t1.Sub(t0))
				switch {
				case err != nil:
					res.Errors++
					res.sample(fmt.Sprintf("transport: %v", err))
					pause(ctx)
				default:
					res.Statuses[resp.Status]++
					if resp.Status < 200 || resp.Status > 299 {
						res.Non2xx++
						res.sample(fmt.Sprintf("%d: %s", resp.Status, bytes.TrimSpace(resp.Body)))
					}
				}
			}
		})
	}
	wg.Wait()
	total := &Result{Statuses: map[int]int64{}}
	for _, r := range results {
		total.Merge(r)
	}
	end := time.Now()
	if !measureTo.IsZero() && end.After(measureTo) {
		end = measureTo
	}
	total.Elapsed = end.Sub(measureFrom)
	return total, ctx.Err()
}

func (r *Result) sample(s string) {
	if len(r.Samples) < maxSamples {
		r.Samples = append(r.Samples, s)
	}
}

// pause keeps a worker whose server is gone from spinning on refused connections.
func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Millisecond):
	}
}

// conn is a minimal HTTP/1.1 keep-alive client connection: it writes prepared request bytes
// and parses only what a benchmark needs from the answer (status, Content-Length, chunked
// bodies, Connection: close, ETag, Location). Unlike net/http's client it allocates next to
// nothing per request, so the load generator takes little of the CPU it shares with the
// server.
type conn struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

func (c *conn) do(req []byte, resp *Response) error {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return err
		}
		c.c = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 16<<10)
		} else {
			c.br.Reset(nc)
		}
	}
	c.c.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return err
	}
	keep, err := c.read(resp, bytes.HasPrefix(req, []byte("HEAD ")))
	if err != nil || !keep {
		c.close()
	}
	return err
}

var errMalformed = errors.New("malformed response")

// read parses one response. It reports whether the connection may be reused.
func (c *conn) read(resp *Response, head bool) (bool, error) {
	*resp = Response{Body: resp.Body[:0]}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	resp.Status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	keep := line[7] == '1'
	length, chunked := int64(-1), false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		case bytes.EqualFold(name, []byte("ETag")):
			resp.ETag = string(value)
		case bytes.EqualFold(name, []byte("Location")):
			resp.Location = string(value)
		}
	}
	keepBody := resp.Status < 200 || resp.Status > 299
	switch {
	case head || resp.Status == 204 || resp.Status == 304 || resp.Status < 200:
		return keep, nil
	case chunked:
		for {
			line, err := c.br.ReadSlice('\n')
			if err != nil {
				return false, err
			}
			size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
			n, err := strconv.ParseInt(string(size), 16, 64)
			if err != nil || n < 0 {
				return false, fmt.Errorf("%w: chunk size %q", errMalformed, line)
			}
			if n == 0 {
				for { // trailers, then the blank line
					line, err := c.br.ReadSlice('\n')
					if err != nil {
						return false, err
					}
					if len(bytes.TrimRight(line, "\r\n")) == 0 {
						return keep, nil
					}
				}
			}
			if err := c.body(resp, n+2, keepBody); err != nil {
				return false, err
			}
		}
	case length >= 0:
		return keep, c.body(resp, length, keepBody)
	default: // the body runs to the end of the connection
		if err := c.body(resp, 1<<40, keepBody); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return false, err
		}
		return false, nil
	}
}

// body consumes n bytes, keeping the first few hundred of an error body.
func (c *conn) body(resp *Response, n int64, keep bool) error {
	if keep && len(resp.Body) < 512 {
		k := min(n, int64(512-len(resp.Body)))
		start := len(resp.Body)
		resp.Body = append(resp.Body, make([]byte, k)...)
		if _, err := io.ReadFull(c.br, resp.Body[start:]); err != nil {
			return err
		}
		n -= k
	}
	for n > 0 {
		d, err := c.br.Discard(int(min(n, 1<<20)))
		n -= int64(d)
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
