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

// authValue is the `auth` variable of expressions.
func (p Principal) authValue() map[string]any {
	claims := p.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	return map[string]any{"sub": p.Subject, "role": p.Role, "claims": claims}
}

type principalKey struct{}

// WithPrincipal returns a context carrying the caller.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller carried by ctx; anonymous when there is none.
func PrincipalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
