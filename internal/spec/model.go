package spec

import (
	"errors"
	"fmt"
	"regexp"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/plinth-dev/plinth/internal/query"
)

// Model is a compiled spec: the single source of truth from which routes, storage schema,
// validation and documentation are derived. It is immutable once Compile returns it.
type Model struct {
	Name      string
	Version   int // the API major version, served under /v{Version}
	Auth      Auth
	Resources []*Resource // in declaration order
	Webhooks  []*Webhook  // in declaration order
	Schedules []*Schedule // in declaration order
	SLOs      []*SLO      // in declaration order; not part of the API contract
	// Limits are the rate limits: the spec's in declaration order, then the defaults it did not
	// override or turn off; not part of the API contract.
	Limits []*Limit
	// LimitsRedis is the Redis URL the rate limits are shared through, as written (a ${NAME}
	// reference is resolved where the server runs); empty for limits per process.
	LimitsRedis string
	// Versions are the older majors still served beside this one, newest first (see Version).
	Versions []*Version
	// Timeouts are the deadlines of requests (`timeouts:`), which each resource may override;
	// batches take their Write.
	Timeouts Timeouts

	byName    map[string]*Resource
	referrers map[string][]Referrer // top-level ref fields by the resource they refer to
	decl      declared              // where version and auth are written
}

// Resource returns the resource with the given name.
func (m *Model) Resource(name string) (*Resource, bool) {
	r, ok := m.byName[name]
	return r, ok
}

// Auth is the spec's authentication section.
type Auth struct {
	// Roles lists the roles a token may carry. Empty means any role is accepted.
	Roles []string
	// JWT configures bearer tokens; nil means the development defaults.
	JWT *JWT
}

// JWT configures HS256 bearer token verification.
type JWT struct {
	Issuer   string
	Audience string
	// SecretEnv names the environment variable holding the HS256 key, from "${NAME}".
	SecretEnv string
}

// Operation is an action a caller may attempt on a resource.
type Operation string

// The operations access rules govern.
const (
	OpList   Operation = "list"
	OpRead   Operation = "read"
	OpCreate Operation = "create"
	OpUpdate Operation = "update"
	OpDelete Operation = "delete"
)

// Operations lists every operation in a stable order.
var Operations = []Operation{OpList, OpRead, OpCreate, OpUpdate, OpDelete}

// Idempotency says whether writes to a resource take an Idempotency-Key.
type Idempotency string

// Idempotency modes.
const (
	IdempotencyOff      Idempotency = "off"
	IdempotencyOptional Idempotency = "optional"
	IdempotencyRequired Idempotency = "required"
)

// Resource is one collection of records, served at /v{N}/{Name}.
type Resource struct {
	Name        string
	Pos         Pos
	Description string   // for documentation; may be empty
	Fields      []*Field // user fields in declaration order
	// Access holds the rule per operation; a missing entry means only role admin may act.
	Access      map[Operation]*Rule
	Idempotency Idempotency
	// ConcurrencyRequired makes updates and deletes carry If-Match.
	ConcurrencyRequired bool
	Indexes             []Index // explicit and derived (unique fields, refs), deduplicated
	DefaultLimit        int
	MaxLimit            int
	Effects             []*Effect // in declaration order
	Events              bool      // whether writes append events to the outbox; default true
	// RenamedFrom is the name the resource had before, whose table a planned migration
	// renames (`renamed_from:`); empty when it has not been renamed.
	RenamedFrom string
	// Timeouts are the deadlines of the resource's requests: its own `timeouts:`, else the
	// spec's.
	Timeouts Timeouts

	byName      map[string]*Field
	decl        declared
	filterEnv   *cel.Env
	queryOnce   sync.Once
	queryFields map[string]query.Field
}

// CompileFilter compiles a list filter written by a client: CEL over the resource's fields
// by bare name, e.g. `price_cents > 500 && name.startsWith("A")`. The error is a sentence
// about the client's own expression, safe to show to them.
func (r *Resource) CompileFilter(src string) (*query.Plan, error) {
	checked, err := r.CheckFilter(src)
	if err != nil {
		return nil, err
	}
	plan, err := query.Compile(r.filterEnv, checked, r.QueryFields(), query.Options{Bare: true, Untrusted: true})
	var qe *query.Error
	if errors.As(err, &qe) {
		return nil, qe
	}
	if err != nil {
		return nil, errors.New("this filter cannot be used")
	}
	return plan, nil
}

// CheckFilter parses and type-checks a list filter written by a client, without planning it
// for the database: an older version checks its clients' filters against its own fields
// this way before translating them. The error is a sentence about the client's expression.
func (r *Resource) CheckFilter(src string) (*cel.Ast, error) {
	checked, iss := r.filterEnv.Compile(src)
	if iss != nil && iss.Err() != nil {
		e := iss.Errors()[0]
		return nil, fmt.Errorf("at character %d: %s", e.Location.Column()+1, e.Message)
	}
	return checked, nil
}

// Field returns the user field with the given name.
func (r *Resource) Field(name string) (*Field, bool) {
	f, ok := r.byName[name]
	return f, ok
}

// Column is one stored column of a resource's table: the system columns, then one per
// top-level field.
type Column struct {
	Name  string
	Kind  query.Kind
	Field *Field // nil for the system columns
}

// Columns lists the resource's stored columns, system columns first (id, created_at,
// updated_at, version), then the fields in declaration order. Every driver lays out its table
// this way.
func (r *Resource) Columns() []Column {
	cols := make([]Column, 0, len(SystemFields)+len(r.Fields))
	for _, s := range SystemFields {
		cols = append(cols, Column{Name: s.Name, Kind: s.Type.Kind()})
	}
	for _, f := range r.Fields {
		cols = append(cols, Column{Name: f.Name, Kind: f.Type.Kind(), Field: f})
	}
	return cols
}

// QueryFields describes every filterable column of the resource, system columns included,
// with the kind of the elements of arrays. The map is built once and shared: callers must not
// change it.
func (r *Resource) QueryFields() map[string]query.Field {
	r.queryOnce.Do(func() {
		cols := r.Columns()
		r.queryFields = make(map[string]query.Field, len(cols))
		for _, c := range cols {
			f := query.Field{Name: c.Name, Kind: c.Kind}
			if c.Field != nil && c.Field.Type == TypeArray && c.Field.Of != nil {
				f.Elem = c.Field.Of.Type.Kind()
			}
			r.queryFields[c.Name] = f
		}
	})
	return r.queryFields
}

// Index is a database index over one or more top-level fields.
type Index struct {
	Fields []string
	Unique bool
}

// Rule is a compiled access rule.
type Rule struct {
	Expr
	// Plan is the rule translated for SQL; set only for list rules.
	Plan *query.Plan
	// Constant is the rule's answer when it mentions no variable at all (`"true"`), so that
	// requests need not evaluate it; nil otherwise.
	Constant *bool
	// Partial evaluates the rule with `record` and `old` unknown, so that a rule the caller
	// fails whatever the record (an anonymous caller against `auth.sub != null && ...`) is
	// refused before any record is read; nil when the rule mentions neither.
	Partial cel.Program
}

// RefusesWhatever reports whether the rule, which depends on the record (Partial is set), is
// false with vars whatever the record: it is evaluated with record and old unknown, and only a
// definite false counts.
func (r *Rule) RefusesWhatever(vars map[string]any) bool {
	return r.whatever(vars) == types.False
}

// whatever evaluates the rule with vars and the record unknown: it gives true or false when
// that is the answer whatever the record, and an unknown or an error otherwise.
func (r *Rule) whatever(vars map[string]any) ref.Val {
	if r.Partial == nil {
		out, _, _ := r.Program.Eval(vars)
		return out
	}
	act, err := cel.PartialVars(vars, cel.AttributePattern("record"), cel.AttributePattern("old"))
	if err != nil {
		return types.NewErr("%v", err)
	}
	out, _, _ := r.Partial.Eval(act)
	return out
}

// Expr is a compiled CEL expression together with its source.
type Expr struct {
	Source string
	Pos    Pos
	// Where names the expression's place in the spec, as in orders.effects.reserve_stock.guard:
	// what a client is told, and what is logged, when it fails at run time.
	Where   string
	Program cel.Program
	// Refs reports which of the variables record, old, auth, now the expression mentions.
	Refs map[string]bool
}

// Field is one field of a resource or of a nested object.
type Field struct {
	Name        string
	Pos         Pos
	Type        Type
	Description string // for documentation; may be empty

	Required  bool
	Unique    bool
	Immutable bool

	// string
	MinLength *int
	MaxLength *int
	Pattern   *regexp.Regexp
	Format    string // email, uri, uuid, date
	// integer and number
	Min *float64
	Max *float64
	// enum
	Values      []string
	Transitions map[string][]string // nil means any change is allowed
	// Initial lists the states a record may be created in (or enter from null), for an enum
	// with transitions: `initial:` in the spec, or else the literal default.
	Initial []string
	// ref
	Ref string // the referenced resource
	// OnDelete is what deleting the referenced record does to this one; set on top-level
	// refs only, restrict unless the spec says otherwise.
	OnDelete OnDelete
	// array
	Of       *Field // element of an array of scalars or of objects
	MinItems *int
	MaxItems *int
	// object (and array elements of object type)
	Fields []*Field

	Default  *Default
	Computed *Expr
	// Deprecated marks a field clients should stop sending: documentation says so, and a
	// response to a write that sends it names it in the Plinth-Deprecated-Fields header.
	Deprecated bool
	// Example is the spec's `example:`, a value of the field's type that satisfies its
	// constraints (the compiler checks it), in the Go types records hold; nil when the spec
	// gives none. Documentation shows it instead of a value derived from the constraints
	// (see Sample).
	Example any
	// RenamedFrom is the name a top-level field had before, whose column a planned migration
	// renames, keeping its values (`renamed_from:`); empty when it has not been renamed.
	RenamedFrom string

	decl declared
}

// Nullable reports whether the field may hold null: only when it is neither required nor has a
// default. Computed fields never hold null (an expression that gives null fails). This one
// rule holds on every write path.
func (f *Field) Nullable() bool { return !f.Required && f.Default == nil && f.Computed == nil }

// ReadOnly reports whether clients may never set the field.
func (f *Field) ReadOnly() bool { return f.Computed != nil }

// HasComputed reports whether the field or anything nested in it is computed.
func (f *Field) HasComputed() bool {
	if f.Computed != nil {
		return true
	}
	if f.Of != nil && f.Of.HasComputed() {
		return true
	}
	for _, sub := range f.Fields {
		if sub.HasComputed() {
			return true
		}
	}
	return false
}

// Default is a field's value when a create omits it: a literal, or an expression.
type Default struct {
	Literal any
	Expr    *Expr
}

// SystemField describes a column every record has.
type SystemField struct {
	Name string
	Type Type
}

// SystemFields are present on every record, set by the server and read-only to clients.
var SystemFields = []SystemField{
	{"id", TypeString},
	{"created_at", TypeTimestamp},
	{"updated_at", TypeTimestamp},
	{"version", TypeInteger},
}

// reservedNames may not be used as field names: system fields and the expand envelope.
var reservedNames = map[string]bool{"id": true, "created_at": true, "updated_at": true, "version": true, "expand": true}
