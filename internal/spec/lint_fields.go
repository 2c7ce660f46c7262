package spec

import (
	"fmt"
	"slices"
	"strings"
)

// The checks of the data model: what each field's name says it holds against what its
// declaration lets in.

// stringWithoutMaxLength: a string with no bound takes whatever fits the request body, and
// keeps it in every record, index and response.
func stringWithoutMaxLength(v *review) {
	v.eachField(func(x fieldVisit) {
		f := x.Field
		if f.Type != TypeString || f.MaxLength != nil || f.Format != "" || f.Pattern != nil || f.Computed != nil {
			return
		}
		v.warn(f.Pos, fmt.Sprintf("bound it: `%s: {type: string, max_length: 200}` (the longest value you mean to accept)", x.Name),
			"%s: a string without max_length accepts up to the 1 MiB body limit", x.Path)
	})
}

// arrayWithoutMaxItems: each item of an array is validated, and its references checked, in
// the write's transaction, so an unbounded array is unbounded work under a lock.
func arrayWithoutMaxItems(v *review) {
	v.eachField(func(x fieldVisit) {
		if x.Field.Type != TypeArray || x.Field.MaxItems != nil || x.Field.Computed != nil {
			return
		}
		v.warn(x.Field.Pos, "add `max_items: 100` (the most items a record needs)",
			"%s: an array without max_items accepts as many items as fit the body, each checked in the write's transaction", x.Path)
	})
}

// statusWords name fields that hold where a record is in its life.
var statusWords = []string{"status", "state", "stage", "phase", "lifecycle"}

// statusWithoutTransitions: an enum named like a status with three values or more is a life
// cycle, and without transitions any value may follow any other: a cancelled order can become
// paid again with one PATCH.
func statusWithoutTransitions(v *review) {
	for _, r := range v.model.Resources {
		for _, f := range r.Fields {
			if f.Type != TypeEnum || f.Transitions != nil || len(f.Values) < 3 || !slices.Contains(statusWords, last(words(f.Name))) {
				continue
			}
			start := f.Values[0]
			if f.Default != nil && f.Default.Literal != nil {
				start = f.Default.Literal.(string)
			}
			order := append([]string{start}, slices.DeleteFunc(slices.Clone(f.Values), func(s string) bool { return s == start })...)
			steps := make([]string, len(order)-1)
			for i := range steps {
				steps[i] = fmt.Sprintf("%s: [%s]", order[i], order[i+1])
			}
			fix := fmt.Sprintf("say which value may follow which, as in `transitions: {%s}`", strings.Join(steps, ", "))
			if f.Default == nil || f.Default.Literal == nil {
				fix += fmt.Sprintf(" with `default: %s`", start)
			}
			fix += ", then edit the lists to the changes your life cycle allows (a value with no entry is final)"
			v.warn(f.Pos, fix, "%s.%s looks like a life cycle (%s), but without transitions any value may follow any other, so any update can move a record back or skip a step",
				r.Name, f.Name, strings.Join(f.Values, ", "))
		}
	}
}

// moneyLast are last words of a name that hold an amount of money (unit_price, total);
// moneyFirst are first words that do (amount_due, price_eur); moneyAny are words that make
// any name money (price_in_cents). notMoney are last words that make it a ratio instead
// (tax_rate, discount_percent).
var (
	moneyLast  = []string{"price", "amount", "cost", "total", "subtotal", "balance", "fee", "tax", "salary", "wage", "revenue", "discount", "refund", "payout", "budget"}
	moneyFirst = []string{"price", "amount", "cost", "balance", "subtotal", "salary", "revenue", "refund", "payout"}
	moneyAny   = []string{"cents", "pence"}
	notMoney   = []string{"rate", "ratio", "percent", "percentage", "pct", "factor", "multiplier", "share"}
)

func isMoney(name string) bool {
	ws := words(name)
	if slices.Contains(notMoney, last(ws)) {
		return false
	}
	return slices.Contains(moneyLast, last(ws)) || slices.Contains(moneyFirst, ws[0]) || slices.ContainsFunc(ws, func(w string) bool { return slices.Contains(moneyAny, w) })
}

// moneyAsNumber: `number` is a binary float, which holds no exact cent: 0.1 + 0.2 is
// 0.30000000000000004, and totals drift.
func moneyAsNumber(v *review) {
	v.eachField(func(x fieldVisit) {
		if x.Field.Type != TypeNumber || !isMoney(x.Name) {
			return
		}
		fix := fmt.Sprintf("count it in cents (the currency's minor unit) with an integer: `%s_cents: {type: integer, min: 0}`", x.Name)
		if ws := words(x.Name); slices.ContainsFunc(ws, func(w string) bool { return slices.Contains(moneyAny, w) }) {
			fix = fmt.Sprintf("it is counted in minor units already, so make it an integer: `%s: {type: integer, min: 0}`", x.Name)
		}
		v.warn(x.Field.decl.at("type"), fix,
			"%s looks like money but is a number, a binary float that holds no exact cent: 0.10 + 0.20 is 0.30000000000000004, and sums drift", x.Path)
	})
}

// dateVerbs are words before `_on` that make a date of it, besides past participles
// (created_on): due_on, starts_on.
var dateVerbs = []string{"due", "born", "start", "starts", "end", "ends", "effective", "expires", "renews", "valid"}

// isTimestamp reports whether a name says its field holds a point in time: created_at,
// published_on, due_on, date, expiry_date, timestamp.
func isTimestamp(name string) bool {
	ws := words(name)
	switch {
	case slices.Contains([]string{"date", "time", "datetime", "timestamp"}, name):
		return true
	case len(ws) < 2:
		return false
	case slices.Contains([]string{"at", "date", "datetime", "timestamp"}, last(ws)):
		return true
	case last(ws) == "on": // published_on, due_on; not add_on
		before := ws[len(ws)-2]
		return strings.HasSuffix(before, "ed") || slices.Contains(dateVerbs, before)
	}
	return false
}

// timestampAsString: a string holds "next Tuesday" as readily as a time; filters and sorts
// compare it as text, so "2024-9-1" sorts after "2024-10-1", and no rule can compare it with
// now.
func timestampAsString(v *review) {
	v.eachField(func(x fieldVisit) {
		f := x.Field
		// A format or a pattern says the author chose the string's shape: format: date for a
		// calendar day, a pattern for a time of day.
		if f.Type != TypeString || f.Format != "" || f.Pattern != nil || !isTimestamp(x.Name) {
			return
		}
		v.warn(f.decl.at("type"), fmt.Sprintf("`%s: {type: timestamp}` (RFC 3339, stored in UTC, compared and sorted as times), or `format: date` for a calendar day", x.Name),
			"%s is named like a time but is a string: it accepts any text, and filters and sorts compare it as text, not as a time", x.Path)
	})
}

// countWords name fields that count things; priceWords name prices. Neither is ever negative,
// unless the name ends in a changeWord (price_change).
var (
	countWords  = []string{"quantity", "qty", "stock", "count", "inventory"}
	priceWords  = []string{"price", "cost", "fee"}
	changeWords = []string{"change", "delta", "diff", "difference", "adjustment"}
)

// negativeAllowed: a count or a price without `min` accepts negative values, and a quantity of
// -3 in an order hands out stock.
func negativeAllowed(v *review) {
	v.eachField(func(x fieldVisit) {
		f := x.Field
		if (f.Type != TypeInteger && f.Type != TypeNumber) || f.Min != nil || f.Computed != nil {
			return
		}
		ws := words(x.Name)
		if slices.Contains(changeWords, last(ws)) {
			return
		}
		isCount := slices.Contains(countWords, last(ws))
		if !isCount && !slices.ContainsFunc(ws, func(w string) bool { return slices.Contains(priceWords, w) }) {
			return
		}
		least := "0"
		if last(ws) == "quantity" || last(ws) == "qty" {
			least = "1"
		}
		v.warn(f.Pos, fmt.Sprintf("add `min: %s` to %s", least, x.Name),
			"%s accepts negative values: nothing stops a client writing -3", x.Path)
	})
}

// identifierWords are last words of names that identify one record to people and other
// systems: a second record with the same one is a bug.
var identifierWords = []string{"sku", "slug", "username", "handle", "isbn", "gtin", "ean", "upc"}

// identifierNotUnique: an identifier that two records can share identifies neither; the shop
// that sells two products as SKU MUG-01 ships the wrong one. Email is not on the list: a
// contact address may be shared (Stripe's customers may), and the subject of a token is the
// identity.
func identifierNotUnique(v *review) {
	for _, r := range v.model.Resources {
		for _, f := range r.Fields {
			if f.Unique || f.Computed != nil || !f.Type.Scalar() || !slices.Contains(identifierWords, last(words(f.Name))) {
				continue
			}
			inUnique := slices.ContainsFunc(r.Indexes, func(ix Index) bool { return ix.Unique && slices.Contains(ix.Fields, f.Name) })
			if inUnique {
				continue
			}
			v.warn(f.Pos, fmt.Sprintf("add `unique: true` to %s, or, when it is unique within a parent, a unique index: `indexes: [{fields: [parent_id, %s], unique: true}]`", f.Name, f.Name),
				"%s.%s looks like an identifier, but two records may share it", r.Name, f.Name)
		}
	}
}

// credentialField: Plinth has no write-only fields, so a password or an API key in a record is
// returned to everyone who may read the record, and kept as written, unhashed.
func credentialField(v *review) {
	v.eachField(func(x fieldVisit) {
		if x.Field.Type != TypeString && x.Field.Type != TypeJSON {
			return
		}
		ws := words(x.Name)
		secretish := slices.ContainsFunc(ws, func(w string) bool { return slices.Contains([]string{"password", "passwd", "passphrase"}, w) }) ||
			last(ws) == "secret" || slices.ContainsFunc([]string{"api_key", "apikey", "private_key", "access_token", "refresh_token", "client_secret"},
			func(s string) bool { return x.Name == s || strings.HasSuffix(x.Name, "_"+s) })
		if !secretish {
			return
		}
		v.warn(x.Field.Pos, "remove the field: sign callers in with tokens (auth.jwt) instead of storing passwords, and keep the credentials of other systems in environment variables or a secret store",
			"%s looks like a credential: every caller who may read the record reads it, as it was written (Plinth neither hashes nor hides a field)", x.Path)
	})
}

// exampleNotDerivable: a string field without an `example:` whose value derived from its
// constraints (Sample) breaks them would show clients, in the API documentation, a value the
// server refuses.
func exampleNotDerivable(v *review) {
	v.eachField(func(x fieldVisit) {
		f := x.Field
		if f.Example != nil || f.Type != TypeString || (f.Default != nil && f.Default.Literal != nil) {
			return
		}
		bad := f.CheckString(f.sampleString())
		if len(bad) == 0 {
			return
		}
		msgs := make([]string, len(bad))
		for i, b := range bad {
			msgs[i] = b.Message
		}
		at := f.decl.at("pattern")
		if f.Pattern == nil {
			at = f.decl.at("type")
		}
		v.warn(at, fmt.Sprintf("give it an example the field accepts: `%s: {…, example: \"…\"}`", x.Name),
			"%s: no example could be derived that the field accepts (it %s), so the API documentation would show a value the server refuses",
			x.Path, strings.Join(msgs, ", "))
	})
}
