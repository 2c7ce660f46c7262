// A client of the shop's API made from its OpenAPI document alone: the types are
// openapi-typescript's (src/shop.d.ts, from internal/openapi/testdata/shop.openapi.json) and the
// requests openapi-fetch's. cmd/plinth's TestTypeScriptClient runs it against a live server
// with PLINTH_URL, PLINTH_ADMIN_TOKEN and PLINTH_CUSTOMER_TOKEN; any failure exits non-zero.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import createClient from "openapi-fetch";
import type { components, paths } from "./shop.js";

type Product = components["schemas"]["products"];

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const baseUrl = env("PLINTH_URL");
const as = (token: string) => createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
const admin = as(env("PLINTH_ADMIN_TOKEN"));
const customer = as(env("PLINTH_CUSTOMER_TOKEN"));

// An admin creates products.
const products: Product[] = [];
for (const body of [
  { sku: "MUG-01", name: "Mug", price_cents: 1200, stock: 10 },
  { sku: "CUP-01", name: "Cup", price_cents: 800, stock: 5 },
  { sku: "TEA-01", name: "Tea", price_cents: 500 },
]) {
  const { data, error, response } = await admin.POST("/v1/products", { body });
  assert.equal(response.status, 201, `create ${body.sku}: ${JSON.stringify(error)}`);
  assert.ok(data, `create ${body.sku}: no record`);
  assert.equal(data.sku, body.sku);
  products.push(data);
}
const mug = products[0]!;

// A customer orders with an Idempotency-Key; the retry gets the same order back.
const key = randomUUID();
const order = { items: [{ product_id: mug.id!, quantity: 2 }], note: "gift" };
const first = await customer.POST("/v1/orders", { params: { header: { "Idempotency-Key": key } }, body: order });
assert.equal(first.response.status, 201, `create an order: ${JSON.stringify(first.error)}`);
assert.ok(first.data?.id);
assert.equal(first.data.items[0]?.quantity, 2);
const again = await customer.POST("/v1/orders", { params: { header: { "Idempotency-Key": key } }, body: order });
assert.equal(again.response.status, 201, `the retry: ${JSON.stringify(again.error)}`);
assert.equal(again.response.headers.get("Idempotent-Replayed"), "true");
assert.deepEqual(again.data, first.data);
const mine = await customer.GET("/v1/orders", {});
assert.equal(mine.data?.items.length, 1, "the retry wrote a second order");

// A list, page by page through its cursor.
const listed: string[] = [];
let cursor: string | undefined;
for (let pages = 0; ; pages++) {
  assert.ok(pages < products.length, "the cursor did not end");
  const page = await admin.GET("/v1/products", { params: { query: { limit: 2, sort: ["name"], ...(cursor ? { cursor } : {}) } } });
  assert.equal(page.response.status, 200, `list: ${JSON.stringify(page.error)}`);
  assert.ok(page.data);
  listed.push(...page.data.items.map((p) => p.id));
  if (page.data.next_cursor == null) break;
  cursor = page.data.next_cursor;
}
assert.deepEqual(listed, ["Cup", "Mug", "Tea"].map((n) => products.find((p) => p.name === n)!.id));

// A write with a stale If-Match is 412 stale-version; with the current ETag it goes through.
const read = await admin.GET("/v1/products/{id}", { params: { path: { id: mug.id! } } });
assert.equal(read.response.status, 200);
const etag = read.response.headers.get("ETag");
assert.ok(etag);
const stale = await admin.PATCH("/v1/products/{id}", {
  params: { path: { id: mug.id! }, header: { "If-Match": '"7"' } },
  body: { stock: 20 },
});
assert.equal(stale.response.status, 412);
assert.equal(stale.error?.type, "urn:plinth:problem:stale-version");
assert.equal(stale.error?.current_version, read.data?.version);
const fresh = await admin.PATCH("/v1/products/{id}", {
  params: { path: { id: mug.id! }, header: { "If-Match": etag } },
  body: { stock: 20 },
});
assert.equal(fresh.response.status, 200, `a current If-Match: ${JSON.stringify(fresh.error)}`);
assert.equal(fresh.data?.stock, 20);

console.log("ok: products, an idempotent order, a paged list and a stale If-Match, through openapi-fetch");
