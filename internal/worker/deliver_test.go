package worker

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffStaysInBounds(t *testing.T) {
	initial, limit := 100*time.Millisecond, 2*time.Second
	for attempts := 1; attempts <= 60; attempts++ {
		ceiling := limit
		if attempts < 6 {
			ceiling = initial << (attempts - 1)
		}
		for range 50 {
			d := backoff(initial, limit, attempts, 0)
			if d < 0 || d > ceiling {
				t.Fatalf("attempt %d: waited %s, want 0..%s", attempts, d, ceiling)
			}
		}
	}
	if d := backoff(initial, limit, 1, time.Second); d < time.Second {
		t.Errorf("Retry-After 1s was not honoured: %s", d)
	}
	if d := backoff(initial, limit, 1, time.Hour); d != limit {
		t.Errorf("Retry-After beyond max: waited %s, want %s", d, limit)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":     0,
		"3":    3 * time.Second,
		"-1":   0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	}
	for v, want := range cases {
		if got := retryAfter(v, now); got != want {
			t.Errorf("Retry-After %q: %s, want %s", v, got, want)
		}
	}
}

func TestSignFollowsStandardWebhooks(t *testing.T) {
	// The example of the Standard Webhooks specification.
	secret, err := decodeSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign([][]byte{secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
	for _, bad := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_short", "whsec_!!!"} {
		if _, err := decodeSecret(bad); err == nil {
			t.Errorf("accepted the secret %q", bad)
		}
	}
}
