// Package auth verifies and issues bearer tokens. This is the development identity story:
// HS256 JWTs with a key from the environment or from the data folder.
package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/plinth-dev/plinth/internal/spec"
)

// SecretEnv is the environment variable that holds the HS256 key when the spec names none.
const SecretEnv = "PLINTH_JWT_SECRET"

// keyFile is where a generated key lives inside the data folder.
const keyFile = "jwt.key"

// Claims are what a verified token says about its bearer.
type Claims struct {
	Subject string
	Role    string
	All     map[string]any
}

// ErrInvalidToken is returned for any token that does not verify. The reason is logged, never
// shown to the client, so that probing learns nothing.
var ErrInvalidToken = errors.New("invalid token")

// HS256 signs and verifies tokens with one shared key.
type HS256 struct {
	key      []byte
	issuer   string
	audience string
	roles    []string
	now      func() time.Time

	// verified remembers tokens that passed, until they expire: a client sends the same token
	// with every request, and checking its signature again costs a quarter of a read.
	mu       sync.Mutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	claims Claims
	exp    time.Time
}

// maxVerified bounds the remembered tokens; when full, the memory starts afresh.
const maxVerified = 10_000

// Config configures NewHS256. Issuer and Audience are checked when set; Roles, when set, is
// the list of roles a token may carry.
type Config struct {
	Key      []byte
	Issuer   string
	Audience string
	Roles    []string
	Now      func() time.Time
}

// NewHS256 returns a signer and verifier. The key must be at least 32 bytes.
func NewHS256(cfg Config) (*HS256, error) {
	if len(cfg.Key) < 32 {
		return nil, errors.New("the HS256 key must be at least 32 bytes")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &HS256{key: cfg.Key, issuer: cfg.Issuer, audience: cfg.Audience, roles: cfg.Roles, now: now}, nil
}

// Verify checks a compact JWT and returns its claims. Every failure is ErrInvalidToken,
// wrapping the reason for the log.
func (h *HS256) Verify(token string) (Claims, error) {
	h.mu.Lock()
	v, ok := h.verified[token]
	h.mu.Unlock()
	if ok && h.now().Before(v.exp) {
		return v.claims, nil
	}
	claims, exp, err := h.verify(token)
	if err != nil {
		return Claims{}, err
	}
	h.mu.Lock()
	if len(h.verified) >= maxVerified || h.verified == nil {
		h.verified = make(map[string]verifiedToken)
	}
	h.verified[token] = verifiedToken{claims: claims, exp: exp}
	h.mu.Unlock()
	return claims, nil
}

// verify checks a token's signature and claims, and returns when it expires.
func (h *HS256) verify(token string) (Claims, time.Time, error) {
	opts := []jwt.ParseOption{
		jwt.WithKey(jwa.HS256(), h.key),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(h.now)),
		jwt.WithAcceptableSkew(30 * time.Second),
	}
	if h.issuer != "" {
		opts = append(opts, jwt.WithIssuer(h.issuer))
	}
	if h.audience != "" {
		opts = append(opts, jwt.WithAudience(h.audience))
	}
	tok, err := jwt.Parse([]byte(token), opts...)
	if err != nil {
		return Claims{}, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if err := numericDates(token); err != nil {
		return Claims{}, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	sub, _ := tok.Subject()
	if sub == "" {
		return Claims{}, time.Time{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	exp, ok := tok.Expiration()
	if !ok {
		return Claims{}, time.Time{}, fmt.Errorf("%w: no expiry", ErrInvalidToken)
	}
	all := map[string]any{}
	for _, k := range tok.Keys() {
		var v any
		if err := tok.Get(k, &v); err == nil {
			if t, ok := v.(time.Time); ok {
				v = t.Unix()
			}
			all[k] = v
		}
	}
	role, isString := all["role"].(string)
	if _, present := all["role"]; present && !isString {
		return Claims{}, time.Time{}, fmt.Errorf("%w: role must be a string", ErrInvalidToken)
	}
	if len(h.roles) > 0 && role != "" && !slices.Contains(h.roles, role) {
		return Claims{}, time.Time{}, fmt.Errorf("%w: role %q is not declared", ErrInvalidToken, role)
	}
	return Claims{Subject: sub, Role: role, All: all}, exp, nil
}

// Sign issues a token for sub with role, valid for ttl.
func (h *HS256) Sign(sub, role string, ttl time.Duration) (string, error) {
	if sub == "" {
		return "", errors.New("a token needs a subject")
	}
	if len(h.roles) > 0 && role != "" && !slices.Contains(h.roles, role) {
		return "", fmt.Errorf("role %q is not one of %s", role, strings.Join(h.roles, ", "))
	}
	now := h.now()
	b := jwt.NewBuilder().Subject(sub).IssuedAt(now).NotBefore(now).Expiration(now.Add(ttl))
	if role != "" {
		b = b.Claim("role", role)
	}
	if h.issuer != "" {
		b = b.Issuer(h.issuer)
	}
	if h.audience != "" {
		b = b.Audience([]string{h.audience})
	}
	tok, err := b.Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), h.key))
	if err != nil {
		return "", err
	}
	return string(signed), nil
}

// Key returns the HS256 key: from the environment variable envName when it is set, else from
// the data folder, where a random key is generated on first use (mode 0600). The key is never
// printed or logged.
func Key(envName, dataDir string) ([]byte, error) {
	if v := os.Getenv(envName); v != "" {
		if len(v) < 32 {
			return nil, fmt.Errorf("%s must hold at least 32 characters", envName)
		}
		return []byte(v), nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	path := filepath.Join(dataDir, keyFile)
	if b, err := os.ReadFile(path); err == nil {
		return decodeKey(b, path)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it first: use theirs
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return decodeKey(b, path)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	enc := hex.EncodeToString(raw)
	if _, err := f.WriteString(enc + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return []byte(enc), nil
}

func decodeKey(b []byte, path string) ([]byte, error) {
	k := strings.TrimSpace(string(b))
	if len(k) < 32 {
		return nil, fmt.Errorf("%s is too short to be a key", path)
	}
	return []byte(k), nil
}

// ForModel returns the development token signer and verifier for a model: HS256 with the key
// from the spec's jwt.hs256_secret variable, else PLINTH_JWT_SECRET, else a key kept in
// dataDir. It also returns the key, from which other secrets are derived.
func ForModel(model *spec.Model, dataDir string, now func() time.Time) (*HS256, []byte, error) {
	envName, cfg := SecretEnv, Config{Roles: model.Auth.Roles, Now: now}
	if j := model.Auth.JWT; j != nil {
		cfg.Issuer, cfg.Audience = j.Issuer, j.Audience
		if j.SecretEnv != "" {
			envName = j.SecretEnv
			if os.Getenv(envName) == "" {
				return nil, nil, fmt.Errorf("the spec reads the JWT key from $%s, which is not set", envName)
			}
		}
	}
	key, err := Key(envName, dataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("jwt key: %w", err)
	}
	cfg.Key = key
	h, err := NewHS256(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("jwt key: %w", err)
	}
	return h, key, nil
}

// numericDates refuses a token whose exp, nbf or iat is not a JSON number. RFC 7519 makes
// them NumericDate values; the JWT library also reads numeric strings ("exp": "99999999999"),
// which no issuer sends, and a token that smuggles one past another verifier must not pass
// here either.
func numericDates(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errors.New("the payload is not base64url")
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return errors.New("the payload is not a JSON object")
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		var n json.Number
		if v, ok := claims[name]; ok && (len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil) {
			return fmt.Errorf("%s must be a number", name)
		}
	}
	return nil
}
