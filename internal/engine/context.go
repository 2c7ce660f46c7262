package engine

import "context"

// Principal is the caller of a request, as access rules see it through `auth`.
type Principal struct {
	Subject string         // auth.sub; empty for anonymous callers
	Role    string         // auth.role
	Claims  map[string]any // auth.claims: every claim of the token
}

// Anonymous reports whether the caller presented no credentials.
func (p Principal) Anonymous() bool { return p.Subject == "" }

// AuthValue is the `auth` variable of expressions, the same for every evaluator (rules,
// defaults, effects, webhook conditions). An anonymous caller has no subject and no
// role: auth.sub and auth.role are null, so that no rule comparing a record with auth.sub can
// take an anonymous caller for the owner of a record, and `default: auth.sub` gives null.
func (p Principal) AuthValue() map[string]any {
	claims := p.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	return map[string]any{"sub": nullIfEmpty(p.Subject), "role": nullIfEmpty(p.Role), "claims": claims}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type principalKey struct{}

// caller is what a context carries of its caller: the principal, and its auth value built
// once, since a write evaluates many expressions and each reads it. Expressions never change
// a variable, so one map serves them all.
type caller struct {
	p    Principal
	auth map[string]any
}

// anonymousAuth is the auth value of a context that carries no caller.
var anonymousAuth = Principal{}.AuthValue()

// WithPrincipal returns a context carrying the caller.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, &caller{p: p, auth: p.AuthValue()})
}

// PrincipalFrom returns the caller carried by ctx; anonymous when there is none.
func PrincipalFrom(ctx context.Context) Principal {
	if c, ok := ctx.Value(principalKey{}).(*caller); ok {
		return c.p
	}
	return Principal{}
}

// authFrom is the auth variable of expressions evaluated for the caller carried by ctx.
func authFrom(ctx context.Context) map[string]any {
	if c, ok := ctx.Value(principalKey{}).(*caller); ok {
		return c.auth
	}
	return anonymousAuth
}

type requestIDKey struct{}

// WithRequestID returns a context carrying the id of the request it serves, which the engine
// adds to what it logs about that request.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id carried by ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
