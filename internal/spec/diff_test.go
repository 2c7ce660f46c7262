package spec

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"
)

// diffBase is the old spec of every case in diffCases: each case edits a copy of it into the
// new spec.
const diffBase = `plinth: 1
name: base
version: 1

auth:
  roles: [admin, member]
  jwt: {issuer: base-issuer, audience: base}

resources:
  products:
    fields:
      sku:    {type: string, required: true, unique: true, max_length: 32, pattern: "^[A-Z0-9-]+$"}
      name:   {type: string, required: true, min_length: 1, max_length: 200}
      email:  {type: string, format: email, max_length: 320}
      price:  {type: integer, required: true, min: 0, max: 100000}
      stock:  {type: integer, default: 0, min: 0}
      note:   {type: string, max_length: 500}
      active: {type: boolean, default: true}
      label:  {type: string, computed: 'name + " " + sku'}
      tags:   {type: array, of: {type: string, max_length: 20}, max_items: 10}
    access:
      list: "true"
      read: "true"
      write: 'auth.role == "admin"'

  orders:
    list: {default_limit: 20, max_limit: 100}
    fields:
      owner: {type: string, default: auth.sub, immutable: true, max_length: 200}
      status:
        type: enum
        values: [pending, paid, shipped, cancelled]
        default: pending
        transitions: {pending: [paid, cancelled], paid: [shipped, cancelled]}
      kind: {type: enum, values: [retail, wholesale], required: true, default: retail}
      items:
        type: array
        required: true
        min_items: 1
        max_items: 50
        of:
          product:  {type: ref, resource: products, required: true}
          quantity: {type: integer, required: true, min: 1}
      address:
        type: object
        fields:
          city: {type: string, max_length: 100}
    access:
      list:   'auth.role == "admin" || record.owner == auth.sub'
      read:   'auth.role == "admin" || record.owner == auth.sub'
      create: 'auth.sub != null'
      update: 'auth.role == "admin"'
    effects:
      reserve:
        on: [create]
        for_each: record.items
        target: products
        id: item.product
        guard: target.stock >= item.quantity
        set: {stock: target.stock - item.quantity}

  notes:
    fields:
      text: {type: string, max_length: 100}
    access: {list: "true", read: "true", write: "true"}

webhooks:
  fulfil:
    url: "${FULFIL_URL}"
    secret: "${FULFIL_SECRET}"
    on: [orders.updated]
    when: 'record.status == "paid"'
`

// diffCase is one edit of diffBase and the change Diff must report for it. swap makes the
// edited spec the old one and diffBase the new. at is a piece of the old or the new spec
// (in) with ^ where the change is located; also lists the kinds of the other changes the same
// edit makes.
type diffCase struct {
	name     string
	edits    [][2]string
	swap     bool
	kind     string
	breaking bool
	resource string
	field    string
	webhook  string
	old, new string
	reason   string
	note     string
	in, at   string
	also     []string
}

// The base spec's pieces the cases edit.
const (
	notesBlock = "  notes:\n    fields:\n      text: {type: string, max_length: 100}\n    access: {list: \"true\", read: \"true\", write: \"true\"}\n"
	noteLine   = "      note:   {type: string, max_length: 500}\n"
	activeLine = "      active: {type: boolean, default: true}\n"
	webhooks   = "webhooks:\n  fulfil:\n    url: \"${FULFIL_URL}\"\n    secret: \"${FULFIL_SECRET}\"\n    on: [orders.updated]\n    when: 'record.status == \"paid\"'\n"
	guardLine  = "        guard: target.stock >= item.quantity\n"
	updateRule = `update: 'auth.role == "admin"'`
	kindLine   = "kind: {type: enum, values: [retail, wholesale], required: true, default: retail}"
)

var diffCases = []diffCase{
	{name: "version rises", edits: [][2]string{{"version: 1", "version: 2"}},
		kind: "version-raised", breaking: true, old: "1", new: "2", in: "new", at: "version: ^2",
		reason: "version rose from 1 to 2: the API moves from /v1 to /v2, so breaking changes are allowed",
		note:   "/v1 is no longer served: its clients need the old major declared under `versions:` to keep working until they move"},
	{name: "version rises, the old major still served", edits: [][2]string{{"version: 1", "version: 2\nversions:\n  1: {deprecated: 2026-12-01, sunset: 2027-06-30, changes: []}"}},
		kind: "version-raised", breaking: true, old: "1", new: "2", in: "new", at: "version: ^2",
		reason: "version rose from 1 to 2: the API moves from /v1 to /v2, so breaking changes are allowed",
		note:   "/v1 is still served, translated through `versions:`, until its sunset on 2027-06-30T00:00:00Z"},
	{name: "version falls", edits: [][2]string{{"version: 1", "version: 3"}}, swap: true,
		kind: "version-lowered", breaking: true, old: "3", new: "1", in: "new", at: "version: ^1",
		reason: "version fell from 3 to 1: the API moves from /v3 to /v1, and its clients lose it"},

	{name: "roles listed where any role was accepted", edits: [][2]string{{"  roles: [admin, member]\n", ""}}, swap: true,
		kind: "roles-restricted", breaking: true, new: "admin, member", in: "new", at: "roles: ^[admin",
		reason: "auth.roles now lists admin, member: tokens with any other role, accepted before, are refused"},
	{name: "roles no longer listed", edits: [][2]string{{"  roles: [admin, member]\n", ""}},
		kind: "roles-unrestricted", old: "admin, member", in: "old", at: "roles: ^[admin",
		reason: "auth.roles was removed: tokens with any role are accepted"},
	{name: "role removed", edits: [][2]string{{"[admin, member]", "[admin]"}},
		kind: "role-removed", breaking: true, old: "member", in: "old", at: "[admin, ^member]",
		reason: "role member was removed from auth.roles: tokens that carry it are refused"},
	{name: "role added", edits: [][2]string{{"[admin, member]", "[admin, member, guest]"}},
		kind: "role-added", new: "guest", in: "new", at: "member, ^guest]",
		reason: "role guest was added to auth.roles: tokens that carry it are accepted"},
	{name: "token issuer changed", edits: [][2]string{{"issuer: base-issuer", "issuer: other-issuer"}},
		kind: "token-check-tightened", breaking: true, old: "base-issuer", new: "other-issuer", in: "new", at: "issuer: ^other-issuer",
		reason: `auth.jwt.issuer is now "other-issuer": tokens whose iss claim is not "other-issuer", accepted before, are refused`},
	{name: "token audience no longer checked", edits: [][2]string{{"base-issuer, audience: base}", "base-issuer}"}},
		kind: "token-check-loosened", old: "base", in: "old", at: "audience: ^base}",
		reason: "auth.jwt.audience was removed: a token's aud claim is no longer checked"},

	{name: "resource removed", edits: [][2]string{{notesBlock, ""}},
		kind: "resource-removed", breaking: true, resource: "notes", old: "notes", in: "old", at: "  ^notes:",
		reason: "resource notes was removed: every route of /v1/notes answers 404, and its events stop"},
	{name: "resource added", edits: [][2]string{{notesBlock, ""}}, swap: true,
		kind: "resource-added", resource: "notes", new: "notes", in: "new", at: "  ^notes:",
		reason: "resource notes was added, with routes under /v1/notes"},

	{name: "field removed", edits: [][2]string{{noteLine, ""}},
		kind: "field-removed", breaking: true, resource: "products", field: "note", old: "string", in: "old", at: "      ^note:",
		reason: "products.note was removed: responses and events no longer carry it, and writes that send it are refused as unknown"},
	{name: "field removed from an object, in a webhook's payload", edits: [][2]string{{"          city: {type: string, max_length: 100}\n", "          zip: {type: string, max_length: 10}\n"}},
		kind: "field-removed", breaking: true, resource: "orders", field: "address.city", old: "string", in: "old", at: "          ^city:",
		reason: "orders.address.city was removed: responses and events no longer carry it, and writes that send it are refused as unknown",
		also:   []string{"field-added", "webhook-payload-changed"}},
	{name: "field added", edits: [][2]string{{activeLine, activeLine + "      color:  {type: string, max_length: 20}\n"}},
		kind: "field-added", resource: "products", field: "color", new: "string", in: "new", at: "      ^color:",
		reason: "products.color was added; writes may omit it"},
	{name: "computed field added", edits: [][2]string{{activeLine, activeLine + "      length: {type: integer, computed: 'size(name)'}\n"}},
		kind: "field-added", resource: "products", field: "length", new: "integer", in: "new", at: "      ^length:",
		reason: "products.length was added, computed by the server: responses carry it"},
	{name: "required field added", edits: [][2]string{{activeLine, activeLine + "      color:  {type: string, required: true, max_length: 20}\n"}},
		kind: "required-field-added", breaking: true, resource: "products", field: "color", new: "string", in: "new", at: "      ^color:",
		reason: "products.color was added, required and without a default: creates and replacements (PUT) that omit it, accepted before, are refused"},
	{name: "required field added to an array's objects", edits: [][2]string{{"          quantity: {type: integer, required: true, min: 1}\n",
		"          quantity: {type: integer, required: true, min: 1}\n          size: {type: integer, required: true, min: 1}\n"}},
		kind: "required-field-added", breaking: true, resource: "orders", field: "items[].size", new: "integer", in: "new", at: "          ^size:",
		reason: "orders.items[].size was added, required and without a default: creates and replacements (PUT) that omit it, accepted before, are refused"},
	{name: "field retyped", edits: [][2]string{{"note:   {type: string, max_length: 500}", "note:   {type: integer}"}},
		kind: "field-retyped", breaking: true, resource: "products", field: "note", old: "string", new: "integer", in: "new", at: "note:   {type: ^integer}",
		reason: "products.note changed type from string to integer: clients read and send values of the old type"},
	{name: "array element retyped", edits: [][2]string{{"of: {type: string, max_length: 20}", "of: {type: integer}"}},
		kind: "field-retyped", breaking: true, resource: "products", field: "tags[]", old: "string", new: "integer", in: "new", at: "of: {type: ^integer}",
		reason: "products.tags[] changed type from string to integer: clients read and send values of the old type"},
	{name: "ref retargeted", edits: [][2]string{{"product:  {type: ref, resource: products,", "product:  {type: ref, resource: notes,"}},
		kind: "field-retyped", breaking: true, resource: "orders", field: "items[].product", old: "ref(products)", new: "ref(notes)", in: "new", at: "{type: ^ref, resource: notes",
		reason: "orders.items[].product changed type from ref(products) to ref(notes): clients read and send values of the old type",
		also:   []string{"webhook-payload-changed"}},

	{name: "field made required", edits: [][2]string{{"note:   {type: string, max_length: 500}", "note:   {type: string, required: true, max_length: 500}"}},
		kind: "field-made-required", breaking: true, resource: "products", field: "note", old: "false", new: "true", in: "new", at: "note:   {type: string, required: ^true",
		reason: "products.note became required without a default: creates and replacements that omit it, and writes that set it to null, accepted before, are refused"},
	{name: "field given a default", edits: [][2]string{{"note:   {type: string, max_length: 500}", `note:   {type: string, default: "n/a", max_length: 500}`}},
		kind: "field-made-non-nullable", breaking: true, resource: "products", field: "note", new: `"n/a"`, in: "new", at: `default: ^"n/a"`,
		reason: `products.note gained the default "n/a", so it may no longer hold null: writes that set it to null, accepted before, are refused`},
	{name: "field no longer required", edits: [][2]string{{"price:  {type: integer, required: true, min: 0", "price:  {type: integer, min: 0"}},
		kind: "field-made-nullable", breaking: true, resource: "products", field: "price", old: "true", new: "false", in: "old", at: "price:  {type: integer, required: ^true",
		reason: "products.price is no longer required and has no default: responses may hold null where clients always got a value"},
	{name: "default removed", edits: [][2]string{{"stock:  {type: integer, default: 0, min: 0}", "stock:  {type: integer, min: 0}"}},
		kind: "default-removed", breaking: true, resource: "products", field: "stock", old: "0", in: "old", at: "stock:  {type: integer, default: ^0",
		reason: "products.stock lost its default: creates that omit it store null, and responses may hold null where clients always got a value"},
	{name: "default removed from a required field", edits: [][2]string{{kindLine, "kind: {type: enum, values: [retail, wholesale], required: true}"}},
		kind: "default-removed", breaking: true, resource: "orders", field: "kind", old: `"retail"`, in: "old", at: "required: true, default: ^retail}",
		reason: "orders.kind lost its default and is required: creates that omit it, accepted before, are refused"},
	{name: "default added to a required field", edits: [][2]string{{"required: true, min_length: 1,", "required: true, default: unnamed, min_length: 1,"}},
		kind: "default-added", resource: "products", field: "name", new: `"unnamed"`, in: "new", at: "default: ^unnamed",
		reason: `products.name gained the default "unnamed": creates may omit it`},
	{name: "default changed", edits: [][2]string{{"default: 0, min: 0", "default: 5, min: 0"}},
		kind: "default-changed", resource: "products", field: "stock", old: "0", new: "5", in: "new", at: "default: ^5",
		reason: "products.stock has its default changed from 0 to 5: creates that omit it store the new value"},
	{name: "field made computed", edits: [][2]string{{"note:   {type: string, max_length: 500}", "note:   {type: string, max_length: 500, computed: 'name'}"}},
		kind: "field-made-read-only", breaking: true, resource: "products", field: "note", new: "name", in: "new", at: "computed: ^'name'}",
		reason: "products.note is now computed by the server: writes that send it, accepted before, are refused as read-only"},
	{name: "field no longer computed", edits: [][2]string{{`label:  {type: string, computed: 'name + " " + sku'}`, "label:  {type: string, max_length: 300}"}},
		kind: "field-made-writable", resource: "products", field: "label", old: `name + " " + sku`, in: "old", at: "label:  {type: string, computed: ^'name",
		reason: "products.label is no longer computed: clients may write it",
		also:   []string{"field-made-nullable", "constraint-narrowed"}},
	{name: "field made immutable", edits: [][2]string{{"note:   {type: string, max_length: 500}", "note:   {type: string, max_length: 500, immutable: true}"}},
		kind: "field-made-immutable", breaking: true, resource: "products", field: "note", old: "false", new: "true", in: "new", at: "immutable: ^true}",
		reason: "products.note became immutable: updates that change it, accepted before, are refused"},
	{name: "field made mutable", edits: [][2]string{{"default: auth.sub, immutable: true,", "default: auth.sub,"}},
		kind: "field-made-mutable", resource: "orders", field: "owner", old: "true", new: "false", in: "old", at: "immutable: ^true, max_length: 200",
		reason: "orders.owner is no longer immutable: updates may change it"},

	{name: "max_length lowered", edits: [][2]string{{"min_length: 1, max_length: 200}", "min_length: 1, max_length: 100}"}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "name", old: "200", new: "100", in: "new", at: "min_length: 1, max_length: ^100}",
		reason: "products.name has its max_length lowered from 200 to 100: values beyond the new bound, accepted before, are refused"},
	{name: "min_length raised", edits: [][2]string{{"min_length: 1, max_length: 200}", "min_length: 3, max_length: 200}"}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "name", old: "1", new: "3", in: "new", at: "min_length: ^3",
		reason: "products.name has its min_length raised from 1 to 3: values beyond the new bound, accepted before, are refused"},
	{name: "min raised", edits: [][2]string{{"min: 0, max: 100000", "min: 1, max: 100000"}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "price", old: "0", new: "1", in: "new", at: "min: ^1, max: 100000",
		reason: "products.price has its min raised from 0 to 1: values beyond the new bound, accepted before, are refused"},
	{name: "max added", edits: [][2]string{{"default: 0, min: 0}", "default: 0, min: 0, max: 1000000}"}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "stock", new: "1000000", in: "new", at: "max: ^1000000}",
		reason: "products.stock gained max: 1000000: values beyond it, accepted before, are refused"},
	{name: "max_items lowered", edits: [][2]string{{"max_items: 10", "max_items: 5"}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "tags", old: "10", new: "5", in: "new", at: "max_items: ^5}",
		reason: "products.tags has its max_items lowered from 10 to 5: values beyond the new bound, accepted before, are refused"},
	{name: "min_items raised", edits: [][2]string{{"min_items: 1", "min_items: 2"}},
		kind: "constraint-narrowed", breaking: true, resource: "orders", field: "items", old: "1", new: "2", in: "new", at: "min_items: ^2",
		reason: "orders.items has its min_items raised from 1 to 2: values beyond the new bound, accepted before, are refused"},
	{name: "nested min raised", edits: [][2]string{{"required: true, min: 1}", "required: true, min: 2}"}},
		kind: "constraint-narrowed", breaking: true, resource: "orders", field: "items[].quantity", old: "1", new: "2", in: "new", at: "required: true, min: ^2}",
		reason: "orders.items[].quantity has its min raised from 1 to 2: values beyond the new bound, accepted before, are refused"},
	{name: "array element's max_length lowered", edits: [][2]string{{"of: {type: string, max_length: 20}", "of: {type: string, max_length: 10}"}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "tags[]", old: "20", new: "10", in: "new", at: "of: {type: string, max_length: ^10}",
		reason: "products.tags[] has its max_length lowered from 20 to 10: values beyond the new bound, accepted before, are refused"},
	{name: "pattern changed", edits: [][2]string{{`pattern: "^[A-Z0-9-]+$"`, `pattern: "^[A-Z0-9_-]+$"`}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "sku", old: "^[A-Z0-9-]+$", new: "^[A-Z0-9_-]+$", in: "new", at: `pattern: ^"^[A-Z0-9_-]+$"`,
		reason: `products.sku has its pattern changed from "^[A-Z0-9-]+$" to "^[A-Z0-9_-]+$": values only the old one accepts are refused`},
	{name: "pattern added", edits: [][2]string{{"note:   {type: string, max_length: 500}", `note:   {type: string, max_length: 500, pattern: "^[a-z ]*$"}`}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "note", new: "^[a-z ]*$", in: "new", at: `pattern: ^"^[a-z ]*$"`,
		reason: `products.note gained pattern "^[a-z ]*$": values it does not accept, accepted before, are refused`},
	{name: "format added", edits: [][2]string{{"note:   {type: string, max_length: 500}", "note:   {type: string, max_length: 500, format: uri}"}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "note", new: "uri", in: "new", at: "format: ^uri}",
		reason: `products.note gained format "uri": values it does not accept, accepted before, are refused`},
	{name: "unique added", edits: [][2]string{{"email:  {type: string, format: email,", "email:  {type: string, unique: true, format: email,"}},
		kind: "constraint-narrowed", breaking: true, resource: "products", field: "email", old: "false", new: "true", in: "new", at: "unique: ^true, format: email",
		reason: "products.email became unique: writes that repeat a stored value, accepted before, are refused"},
	{name: "max_length raised", edits: [][2]string{{"min_length: 1, max_length: 200}", "min_length: 1, max_length: 300}"}},
		kind: "constraint-widened", resource: "products", field: "name", old: "200", new: "300", in: "new", at: "min_length: 1, max_length: ^300}",
		reason: "products.name has its max_length raised from 200 to 300: it accepts more values"},
	{name: "min lowered", edits: [][2]string{{"required: true, min: 1}", "required: true, min: 0}"}},
		kind: "constraint-widened", resource: "orders", field: "items[].quantity", old: "1", new: "0", in: "new", at: "required: true, min: ^0}",
		reason: "orders.items[].quantity has its min lowered from 1 to 0: it accepts more values"},
	{name: "max removed", edits: [][2]string{{"min: 0, max: 100000}", "min: 0}"}},
		kind: "constraint-widened", resource: "products", field: "price", old: "100000", in: "old", at: "max: ^100000}",
		reason: "products.price lost max: 100000: it accepts more values"},
	{name: "pattern removed", edits: [][2]string{{`, pattern: "^[A-Z0-9-]+$"`, ""}},
		kind: "constraint-widened", resource: "products", field: "sku", old: "^[A-Z0-9-]+$", in: "old", at: `pattern: ^"^[A-Z0-9-]+$"`,
		reason: `products.sku lost pattern "^[A-Z0-9-]+$": it accepts more values`},
	{name: "unique removed", edits: [][2]string{{"required: true, unique: true, max_length: 32", "required: true, max_length: 32"}},
		kind: "constraint-widened", resource: "products", field: "sku", old: "true", new: "false", in: "old", at: "unique: ^true, max_length: 32",
		reason: "products.sku is no longer unique: writes may repeat a stored value"},

	{name: "enum value removed", edits: [][2]string{{kindLine, "kind: {type: enum, values: [retail], required: true, default: retail}"}},
		kind: "enum-value-removed", breaking: true, resource: "orders", field: "kind", old: "wholesale", in: "old", at: "values: [retail, ^wholesale]",
		reason: `orders.kind lost the value "wholesale": writes that send it, accepted before, are refused`},
	{name: "enum value added", edits: [][2]string{{kindLine, "kind: {type: enum, values: [retail, wholesale, export], required: true, default: retail}"}},
		kind: "enum-value-added", resource: "orders", field: "kind", new: "export", in: "new", at: "wholesale, ^export]",
		reason: `orders.kind gained the value "export": writes may send it`,
		note:   "responses may now hold it: a strict client (a generated enum, an exhaustive switch) may fail on a value it does not know, so tell client teams before records hold it"},
	{name: "transitions added", edits: [][2]string{{kindLine, "kind: {type: enum, values: [retail, wholesale], required: true, default: retail, transitions: {retail: [wholesale]}}"}},
		kind: "transitions-added", breaking: true, resource: "orders", field: "kind", in: "new", at: "transitions: ^{retail",
		reason: "orders.kind gained transitions: updates that move it other than the transitions allow, accepted before, are refused"},
	{name: "transitions removed", edits: [][2]string{{"        transitions: {pending: [paid, cancelled], paid: [shipped, cancelled]}\n", ""}},
		kind: "transitions-removed", resource: "orders", field: "status", in: "old", at: "transitions: ^{pending",
		reason: "orders.status lost its transitions: updates may set any value"},
	{name: "transition removed", edits: [][2]string{{"paid: [shipped, cancelled]}", "paid: [shipped]}"}},
		kind: "transition-removed", breaking: true, resource: "orders", field: "status", old: "paid -> cancelled", in: "old", at: "paid: [shipped, ^cancelled]}",
		reason: "orders.status no longer moves from paid to cancelled: updates that do, accepted before, are refused"},
	{name: "transition added", edits: [][2]string{{"paid: [shipped, cancelled]}", "paid: [shipped, cancelled], shipped: [cancelled]}"}},
		kind: "transition-added", resource: "orders", field: "status", new: "shipped -> cancelled", in: "new", at: "shipped: [^cancelled]}",
		reason: "orders.status may move from shipped to cancelled"},
	{name: "initial state removed", edits: [][2]string{{"        default: pending\n", "        default: pending\n        initial: [pending, paid]\n"}}, swap: true,
		kind: "initial-state-removed", breaking: true, resource: "orders", field: "status", old: "paid", in: "old", at: "initial: [pending, ^paid]",
		reason: `orders.status may no longer start as "paid": creates that set it, accepted before, are refused`},
	{name: "initial state added", edits: [][2]string{{"        default: pending\n", "        default: pending\n        initial: [pending, paid]\n"}},
		kind: "initial-state-added", resource: "orders", field: "status", new: "paid", in: "new", at: "initial: [pending, ^paid]",
		reason: `orders.status may start as "paid"`},

	{name: "access rule replaced", edits: [][2]string{{updateRule, "update: 'record.owner == auth.sub'"}},
		kind: "access-rule-changed", breaking: true, resource: "orders", old: `auth.role == "admin"`, new: "record.owner == auth.sub", in: "new", at: "update: ^'record.owner",
		reason: "orders.access.update changed from `auth.role == \"admin\"` to `record.owner == auth.sub`, and Plinth cannot prove it admits every caller and record the old rule did: requests that passed may be refused"},
	{name: "access rule narrowed", edits: [][2]string{{`list:   'auth.role == "admin" || record.owner == auth.sub'`, `list:   'auth.role == "admin"'`}},
		kind: "access-rule-changed", breaking: true, resource: "orders", old: `auth.role == "admin" || record.owner == auth.sub`, new: `auth.role == "admin"`, in: "new", at: `list:   ^'auth.role == "admin"'`,
		reason: "orders.access.list changed from `auth.role == \"admin\" || record.owner == auth.sub` to `auth.role == \"admin\"`, and Plinth cannot prove it admits every caller and record the old rule did: requests that passed may be refused"},
	{name: "access rule removed", edits: [][2]string{{"      create: 'auth.sub != null'\n", ""}},
		kind: "access-rule-changed", breaking: true, resource: "orders", old: "auth.sub != null", in: "old", at: "create: ^'auth.sub",
		reason: "orders.access.create changed from `auth.sub != null` to no rule (role admin only), and Plinth cannot prove it admits every caller and record the old rule did: requests that passed may be refused"},
	{name: "access rule widened", edits: [][2]string{{updateRule, `update: 'auth.role == "admin" || record.owner == auth.sub'`}},
		kind: "access-rule-loosened", resource: "orders", old: `auth.role == "admin"`, new: `auth.role == "admin" || record.owner == auth.sub`, in: "new", at: `update: ^'auth.role == "admin" ||`,
		reason: "orders.access.update changed from `auth.role == \"admin\"` to `auth.role == \"admin\" || record.owner == auth.sub`: it admits every caller and record the old rule did"},
	{name: "access rule given where none was", edits: [][2]string{{updateRule, updateRule + "\n      delete: 'true'"}},
		kind: "access-rule-loosened", resource: "orders", new: "true", in: "new", at: "delete: ^'true'",
		reason: "orders.access.delete changed from no rule (role admin only) to `true`: it admits every caller and record the old rule did"},

	{name: "idempotency required", edits: [][2]string{{"  orders:\n", "  orders:\n    idempotency: required\n"}},
		kind: "idempotency-tightened", breaking: true, resource: "orders", old: "optional", new: "required", in: "new", at: "idempotency: ^required",
		reason: "orders.idempotency changed from optional to required: creates and updates without an Idempotency-Key, accepted before, are refused"},
	{name: "idempotency off", edits: [][2]string{{"  orders:\n", "  orders:\n    idempotency: off\n"}},
		kind: "idempotency-tightened", breaking: true, resource: "orders", old: "optional", new: "off", in: "new", at: "idempotency: ^off",
		reason: "orders.idempotency changed from optional to off: Idempotency-Key is ignored, so a client's retry is no longer answered from the first response and may write twice"},
	{name: "idempotency no longer required", edits: [][2]string{{"  orders:\n", "  orders:\n    idempotency: required\n"}}, swap: true,
		kind: "idempotency-loosened", resource: "orders", old: "required", new: "optional", in: "old", at: "idempotency: ^required",
		reason: "orders.idempotency changed from required to optional: keys are honoured and no longer demanded"},
	{name: "concurrency required", edits: [][2]string{{"  orders:\n", "  orders:\n    concurrency: required\n"}},
		kind: "concurrency-required", breaking: true, resource: "orders", old: "optional", new: "required", in: "new", at: "concurrency: ^required",
		reason: "orders.concurrency changed from optional to required: updates and deletes without If-Match, accepted before, are refused (428)"},
	{name: "concurrency no longer required", edits: [][2]string{{"  orders:\n", "  orders:\n    concurrency: required\n"}}, swap: true,
		kind: "concurrency-optional", resource: "orders", old: "required", new: "optional", in: "old", at: "concurrency: ^required",
		reason: "orders.concurrency changed from required to optional: If-Match is checked when sent, and no longer demanded"},
	{name: "events turned off", edits: [][2]string{{"  notes:\n", "  notes:\n    events: false\n"}},
		kind: "events-disabled", breaking: true, resource: "notes", old: "true", new: "false", in: "new", at: "events: ^false",
		reason: "notes.events changed from true to false: its writes no longer append events, so GET /v1/events and the change feeds stop showing them"},
	{name: "events turned on", edits: [][2]string{{"  notes:\n", "  notes:\n    events: false\n"}}, swap: true,
		kind: "events-enabled", resource: "notes", old: "false", new: "true", in: "old", at: "events: ^false",
		reason: "notes.events changed from false to true: its writes append events"},
	{name: "max_limit lowered", edits: [][2]string{{"max_limit: 100}", "max_limit: 50}"}},
		kind: "max-limit-lowered", breaking: true, resource: "orders", old: "100", new: "50", in: "new", at: "max_limit: ^50}",
		reason: "orders.list.max_limit lowered from 100 to 50: lists asking for more, accepted before, are refused"},
	{name: "max_limit raised", edits: [][2]string{{"max_limit: 100}", "max_limit: 200}"}},
		kind: "max-limit-raised", resource: "orders", old: "100", new: "200", in: "new", at: "max_limit: ^200}",
		reason: "orders.list.max_limit raised from 100 to 200: lists may ask for more"},
	{name: "default_limit changed", edits: [][2]string{{"default_limit: 20", "default_limit: 10"}},
		kind: "default-limit-changed", resource: "orders", old: "20", new: "10", in: "new", at: "default_limit: ^10",
		reason: "orders.list.default_limit changed from 20 to 10: lists without a limit get pages of the new size, and next_cursor still walks every record"},
	{name: "guard narrowed", edits: [][2]string{{guardLine, "        guard: target.stock >= item.quantity && target.active\n"}},
		kind: "guard-tightened", breaking: true, resource: "orders", old: "target.stock >= item.quantity", new: "target.stock >= item.quantity && target.active", in: "new", at: "guard: ^target.stock >= item.quantity &&",
		reason: "orders.effects.reserve's guard changed, and Plinth cannot prove it refuses no write the old one accepted: such writes fail with 409 guard-failed"},
	{name: "guard added", edits: [][2]string{{guardLine, ""}}, swap: true,
		kind: "guard-tightened", breaking: true, resource: "orders", new: "target.stock >= item.quantity", in: "new", at: "guard: ^target.stock",
		reason: "orders.effects.reserve guards writes with `target.stock >= item.quantity`: writes it refuses, accepted before, fail with 409 guard-failed"},
	{name: "guard widened", edits: [][2]string{{guardLine, "        guard: target.stock >= item.quantity || target.active\n"}},
		kind: "guard-loosened", resource: "orders", old: "target.stock >= item.quantity", new: "target.stock >= item.quantity || target.active", in: "new", at: "guard: ^target.stock >= item.quantity ||",
		reason: "orders.effects.reserve's guard was loosened: it refuses no write the old one accepted"},
	{name: "guard removed", edits: [][2]string{{guardLine, ""}},
		kind: "guard-loosened", resource: "orders", old: "target.stock >= item.quantity", in: "old", at: "guard: ^target.stock",
		reason: "orders.effects.reserve no longer guards writes: the writes it refused are accepted"},

	{name: "webhook removed", edits: [][2]string{{webhooks, ""}},
		kind: "webhook-removed", breaking: true, webhook: "fulfil", old: "fulfil", in: "old", at: "  ^fulfil:",
		reason: "webhook fulfil was removed: its receiver gets no more deliveries"},
	{name: "webhook added", edits: [][2]string{{webhooks, ""}}, swap: true,
		kind: "webhook-added", webhook: "fulfil", new: "fulfil", in: "new", at: "  ^fulfil:",
		reason: "webhook fulfil was added"},
	{name: "webhook event removed", edits: [][2]string{{"on: [orders.updated]", "on: [orders.created]"}},
		kind: "webhook-event-removed", breaking: true, webhook: "fulfil", old: "orders.updated", in: "old", at: "on: [^orders.updated]",
		reason: "webhook fulfil no longer delivers orders.updated: its receiver stops getting them", also: []string{"webhook-event-added"}},
	{name: "webhook event added", edits: [][2]string{{"on: [orders.updated]", "on: [orders.updated, orders.created]"}},
		kind: "webhook-event-added", webhook: "fulfil", new: "orders.created", in: "new", at: "orders.updated, ^orders.created]",
		reason: "webhook fulfil delivers orders.created too", note: "a receiver that does not expect this type should acknowledge and ignore it"},
	{name: "webhook condition narrowed", edits: [][2]string{{`when: 'record.status == "paid"'`, `when: 'record.status == "paid" && old.status != "paid"'`}},
		kind: "webhook-condition-tightened", breaking: true, webhook: "fulfil", old: `record.status == "paid"`, new: `record.status == "paid" && old.status != "paid"`, in: "new", at: "when: ^'record",
		reason: "webhook fulfil's condition changed from `record.status == \"paid\"` to `record.status == \"paid\" && old.status != \"paid\"`, and Plinth cannot prove it delivers every event the old one did"},
	{name: "webhook condition removed", edits: [][2]string{{"    when: 'record.status == \"paid\"'\n", ""}},
		kind: "webhook-condition-loosened", webhook: "fulfil", old: `record.status == "paid"`, in: "old", at: "when: ^'record",
		reason: "webhook fulfil's condition changed from `record.status == \"paid\"` to no condition: it delivers every event it did, and maybe more"},
	{name: "webhook payload changed", edits: [][2]string{{"      address:\n        type: object\n        fields:\n          city: {type: string, max_length: 100}\n", ""}},
		kind: "webhook-payload-changed", breaking: true, resource: "orders", webhook: "fulfil", in: "new", at: "on: [^orders.updated]",
		reason: "webhook fulfil delivers orders records, whose shape changed: address (field-removed); its receiver reads the old shape",
		also:   []string{"field-removed"}},
}

// TestDiffReportsEveryKindOfChange edits the base spec once per case and checks the change
// Diff reports: its kind, verdict, names, values, reason and place.
func TestDiffReportsEveryKindOfChange(t *testing.T) {
	for _, tc := range diffCases {
		t.Run(tc.name, func(t *testing.T) {
			newSrc := diffBase
			for _, e := range tc.edits {
				if strings.Count(newSrc, e[0]) != 1 {
					t.Fatalf("the edit %q matches %d times", e[0], strings.Count(newSrc, e[0]))
				}
				newSrc = strings.Replace(newSrc, e[0], e[1], 1)
			}
			oldSrc := diffBase
			if tc.swap {
				oldSrc, newSrc = newSrc, oldSrc
			}
			old := mustCompile(t, "old.yaml", oldSrc)
			changes, err := Diff(old, mustCompile(t, "new.yaml", newSrc))
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, c := range changes {
				kinds = append(kinds, c.Kind)
			}
			if want := append([]string{tc.kind}, tc.also...); !sameKinds(kinds, want) {
				t.Fatalf("kinds %v, want %v:\n%s", kinds, want, render(changes))
			}
			c := changes[slices.Index(kinds, tc.kind)]
			src := map[string]string{"old": oldSrc, "new": newSrc}[tc.in]
			want := Change{Kind: tc.kind, Breaking: tc.breaking, Reason: tc.reason, Resource: tc.resource, Field: tc.field,
				Webhook: tc.webhook, Old: tc.old, New: tc.new, Note: tc.note, Location: locate(t, tc.in+".yaml", src, tc.at), Source: "spec"}
			c.shape = false
			if c != want {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
		})
	}
}

func mustCompile(t *testing.T, file, src string) *Model {
	t.Helper()
	m, diags := Compile(file, []byte(src))
	if m == nil {
		t.Fatalf("%s does not compile:\n%s", file, diags)
	}
	return m
}

func sameKinds(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func render(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(c.Location.String() + ": " + c.Reason + " [" + c.Kind + "]\n")
	}
	return b.String()
}

// locate finds at, without its ^, in src and returns the position of the ^.
func locate(t *testing.T, file, src, at string) Pos {
	t.Helper()
	needle := strings.Replace(at, "^", "", 1)
	if n := strings.Count(src, needle); n != 1 {
		t.Fatalf("%q is in %s %d times", needle, file, n)
	}
	before := src[:strings.Index(src, needle)+strings.Index(at, "^")]
	line := strings.Count(before, "\n") + 1
	return Pos{File: file, Line: line, Col: len(before) - strings.LastIndex(before, "\n")}
}

// TestEveryChangeKindHasACase holds diffCases and changeKinds in step, verdicts included.
func TestEveryChangeKindHasACase(t *testing.T) {
	for kind, breaking := range changeKinds {
		i := slices.IndexFunc(diffCases, func(tc diffCase) bool { return tc.kind == kind })
		if i < 0 {
			t.Errorf("no case reports %s", kind)
		} else if diffCases[i].breaking != breaking {
			t.Errorf("%s: the case says breaking=%v, changeKinds %v", kind, diffCases[i].breaking, breaking)
		}
	}
}

// TestEveryChangeKindIsDocumented: docs/contract.md has a row for each kind, with its verdict.
func TestEveryChangeKindIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/contract.md")
	if err != nil {
		t.Fatal(err)
	}
	for kind, breaking := range changeKinds {
		verdict := map[bool]string{true: "breaking", false: "non-breaking"}[breaking]
		if !regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(kind) + "` \\| " + verdict + " \\|").Match(doc) {
			t.Errorf("docs/contract.md has no row | `%s` | %s |", kind, verdict)
		}
	}
}

// TestDiffIgnoresEquivalentRewrites: rewriting a spec without changing its contract — block
// style for flow style, another order of fields, resources and enum values, rules with other
// spacing, parentheses or order of || and &&, a missing rule for an admin-only one — is no
// change at all.
func TestDiffIgnoresEquivalentRewrites(t *testing.T) {
	rewritten := diffBase
	for _, e := range [][2]string{
		{"      sku:    {type: string, required: true, unique: true, max_length: 32, pattern: \"^[A-Z0-9-]+$\"}\n", ""},
		{activeLine, activeLine + "      sku:\n        type: string\n        pattern: \"^[A-Z0-9-]+$\"\n        max_length: 32\n        unique: true\n        required: true\n"},
		{"[pending, paid, shipped, cancelled]", "[cancelled, shipped, paid, pending]"},
		{`list:   'auth.role == "admin" || record.owner == auth.sub'`, `list:   '(record.owner == auth.sub) ||   auth.role=="admin"'`},
		{"      " + updateRule + "\n", ""},
		{"      create: 'auth.sub != null'", "      create: 'true && auth.sub != null'"},
		{notesBlock, ""},
		{"resources:\n", "resources:\n" + notesBlock},
	} {
		if strings.Count(rewritten, e[0]) != 1 {
			t.Fatalf("the edit %q matches %d times", e[0], strings.Count(rewritten, e[0]))
		}
		rewritten = strings.Replace(rewritten, e[0], e[1], 1)
	}
	changes, err := Diff(mustCompile(t, "old.yaml", diffBase), mustCompile(t, "new.yaml", rewritten))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) > 0 {
		t.Errorf("an equivalent spec has changes:\n%s", render(changes))
	}
}

// TestConditionImplies: what plinth diff proves about two rules, and what it leaves unproven
// (and so reports as breaking).
func TestConditionImplies(t *testing.T) {
	env, err := cel.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"x == 1", "x == 1", true},
		{"x==1", "(x == 1)", true},
		{"x == 1", "x == 1 || y", true},
		{"x == 1 || y", "y || x == 1", true},
		{"x == 1 && y", "x == 1", true},
		{"x == 1 && y && z", "z && x == 1", true},
		{"a && (b || c)", "a && (b || c || d)", true},
		{"a || b", "a || b || c", true},
		{"false", "x == 1", true},
		{"x == 1", "true", true},
		{"x == 1", "x == 2", false},
		{"x == 1 || y", "x == 1", false},
		{"x == 1", "x == 1 && y", false},
		{"a || b", "a && b", false},
		{"x >= 1", "x >= 0", false}, // true, but not proven: arithmetic is out of reach
		{"true", "x == 1", false},
	} {
		if got := parseCondition(env, tc.a).implies(parseCondition(env, tc.b)); got != tc.want {
			t.Errorf("%s implies %s: %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestCompareMergesComparisons: what a second comparison (the OpenAPI documents') finds
// joins the report, except what the spec comparison already said of the same field or of a
// whole resource it removed; its failure is the report's.
func TestCompareMergesComparisons(t *testing.T) {
	old := mustCompile(t, "old.yaml", diffBase)
	new := mustCompile(t, "new.yaml", strings.Replace(strings.Replace(diffBase, noteLine, "", 1), notesBlock, "", 1))
	second := func(o, n *Model) ([]Change, error) {
		return []Change{
			{Kind: "response-property-removed", Breaking: true, Resource: "products", Field: "note", Source: "openapi"},
			{Kind: "request-property-max-length-decreased", Breaking: true, Resource: "products", Field: "name", Source: "openapi"},
			{Kind: "api-path-removed", Breaking: true, Resource: "notes", Source: "openapi"},
			{Kind: "response-status-removed", Breaking: true, Resource: "products", Source: "openapi"},
		}, nil
	}
	rep, err := Compare(old, new, second)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range rep.Changes {
		got = append(got, c.Source+":"+c.Kind)
	}
	want := []string{"spec:field-removed", "spec:resource-removed", "openapi:request-property-max-length-decreased", "openapi:response-status-removed"}
	if !slices.Equal(got, want) {
		t.Errorf("merged %v, want %v", got, want)
	}
	if rep.Breaking() != 4 || !rep.Refused() {
		t.Errorf("breaking %d, refused %v", rep.Breaking(), rep.Refused())
	}
	failing := func(o, n *Model) ([]Change, error) { return nil, errors.New("no document") }
	if _, err := Compare(old, new, failing); err == nil || err.Error() != "no document" {
		t.Errorf("a failing comparison gives %v", err)
	}
}

// TestReportRefusesBreakingChangesUnlessTheVersionRose: the gate's verdict.
func TestReportRefusesBreakingChangesUnlessTheVersionRose(t *testing.T) {
	breaking := []Change{{Kind: "field-removed", Breaking: true}}
	safe := []Change{{Kind: "field-added"}}
	for _, tc := range []struct {
		old, new int
		changes  []Change
		refused  bool
	}{
		{1, 1, breaking, true},
		{1, 2, breaking, false},
		{2, 1, breaking, true},
		{1, 1, safe, false},
		{1, 1, nil, false},
	} {
		rep := Report{OldVersion: tc.old, NewVersion: tc.new, Changes: tc.changes}
		if rep.Refused() != tc.refused {
			t.Errorf("v%d -> v%d with %v: refused %v, want %v", tc.old, tc.new, tc.changes, rep.Refused(), tc.refused)
		}
	}
}

// TestDiffPointsIntoTheNewSpecAtARetypedElement: an array of scalars that becomes an array of
// objects is retyped where the new spec says so, though the new element has no `type` key.
func TestDiffPointsIntoTheNewSpecAtARetypedElement(t *testing.T) {
	src := strings.Replace(diffBase, "of: {type: string, max_length: 20}", "of: {label: {type: string, max_length: 20}}", 1)
	changes, err := Diff(mustCompile(t, "old.yaml", diffBase), mustCompile(t, "new.yaml", src))
	if err != nil {
		t.Fatal(err)
	}
	want := locate(t, "new.yaml", src, "of: ^{label:")
	if len(changes) != 1 || changes[0].Kind != "field-retyped" || changes[0].Field != "tags[]" || changes[0].Location != want {
		t.Errorf("got\n%s\nwant field-retyped of tags[] at %s", render(changes), want)
	}
}
