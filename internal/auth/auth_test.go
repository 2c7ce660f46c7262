package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

var key = []byte(strings.Repeat("k", 32))

func signer(t *testing.T, cfg Config) *HS256 {
	t.Helper()
	if cfg.Key == nil {
		cfg.Key = key
	}
	h, err := NewHS256(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// raw signs arbitrary claims, as a client (or an attacker) could.
func raw(t *testing.T, k []byte, build func(*jwt.Builder) *jwt.Builder) string {
	t.Helper()
	tok, err := build(jwt.NewBuilder()).Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), k))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hand signs a payload written out as JSON, for claims no JWT builder would write.
func hand(t *testing.T, k []byte, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	h := signer(t, Config{Issuer: "iss", Audience: "aud", Roles: []string{"admin", "customer"}, Now: clock})
	good, err := h.Sign("alice", "customer", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.Verify(good)
	if err != nil || c.Subject != "alice" || c.Role != "customer" || c.All["iss"] != "iss" {
		t.Fatalf("verify: %+v %v", c, err)
	}
	exp := now.Add(time.Hour)
	base := func(b *jwt.Builder) *jwt.Builder {
		return b.Subject("alice").Issuer("iss").Audience([]string{"aud"}).Expiration(exp)
	}
	bad := map[string]string{
		"expired":        raw(t, key, func(b *jwt.Builder) *jwt.Builder { return base(b).Expiration(now.Add(-time.Minute)) }),
		"no expiry":      raw(t, key, func(b *jwt.Builder) *jwt.Builder { return b.Subject("alice").Issuer("iss").Audience([]string{"aud"}) }),
		"no subject":     raw(t, key, func(b *jwt.Builder) *jwt.Builder { return b.Issuer("iss").Audience([]string{"aud"}).Expiration(exp) }),
		"other issuer":   raw(t, key, func(b *jwt.Builder) *jwt.Builder { return base(b).Issuer("evil") }),
		"other audience": raw(t, key, func(b *jwt.Builder) *jwt.Builder { return base(b).Audience([]string{"evil"}) }),
		"other key":      raw(t, []byte(strings.Repeat("x", 32)), base),
		"undeclared role": raw(t, key, func(b *jwt.Builder) *jwt.Builder {
			return base(b).Claim("role", "root")
		}),
		"role not a string": raw(t, key, func(b *jwt.Builder) *jwt.Builder {
			return base(b).Claim("role", []string{"admin"})
		}),
		"alg none": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." +
			base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","iss":"iss","aud":"aud","exp":9999999999,"role":"admin"}`)) + ".",
		"garbage": "not.a.token",
		// RFC 7519 dates are numbers; the JWT library alone would read these strings.
		"exp a numeric string": hand(t, key, fmt.Sprintf(`{"sub":"alice","iss":"iss","aud":"aud","exp":"%d"}`, exp.Unix())),
		"nbf a numeric string": hand(t, key, fmt.Sprintf(`{"sub":"alice","iss":"iss","aud":"aud","exp":%d,"nbf":"%d"}`, exp.Unix(), now.Unix()-60)),
		"iat a numeric string": hand(t, key, fmt.Sprintf(`{"sub":"alice","iss":"iss","aud":"aud","exp":%d,"iat":"%d"}`, exp.Unix(), now.Unix())),
	}
	// The same claims with numbers pass, so the refusals above are about the strings alone.
	if _, err := h.Verify(hand(t, key, fmt.Sprintf(`{"sub":"alice","iss":"iss","aud":"aud","exp":%d,"nbf":%d,"iat":%d}`, exp.Unix(), now.Unix()-60, now.Unix()))); err != nil {
		t.Fatalf("a hand-signed token with numeric dates: %v", err)
	}
	for name, tok := range bad {
		if _, err := h.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: verified (%v)", name, err)
		}
	}
	if _, err := h.Sign("bob", "root", time.Hour); err == nil {
		t.Error("signed a token with an undeclared role")
	}
	if _, err := NewHS256(Config{Key: []byte("short")}); err == nil {
		t.Error("accepted a short key")
	}
}

func TestKeyIsGeneratedOnceAndKeptPrivate(t *testing.T) {
	t.Setenv("TEST_JWT_KEY", "")
	dir := t.TempDir()
	k1, err := Key("TEST_JWT_KEY", dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Key("TEST_JWT_KEY", dir)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("the key changed between uses: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	t.Setenv("TEST_JWT_KEY", "too-short")
	if _, err := Key("TEST_JWT_KEY", dir); err == nil {
		t.Error("accepted a short key from the environment")
	}
	t.Setenv("TEST_JWT_KEY", strings.Repeat("e", 40))
	if k, _ := Key("TEST_JWT_KEY", dir); string(k) != strings.Repeat("e", 40) {
		t.Error("the environment does not win over the data folder")
	}
}

func TestRememberedTokensStillExpire(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	h := signer(t, Config{Now: func() time.Time { return now }})
	tok, err := h.Sign("alice", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second answer comes from memory
		if _, err := h.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Hour)
	if _, err := h.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("an expired token was accepted from memory: %v", err)
	}
}
