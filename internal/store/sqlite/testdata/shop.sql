CREATE TABLE "products" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "sku" TEXT,
  "name" TEXT,
  "description" TEXT,
  "price_cents" INTEGER,
  "stock" INTEGER,
  "active" INTEGER
) STRICT;
ux_products_sku ON products (sku) UNIQUE;
ix_products_price_cents ON products (price_cents);

CREATE TABLE "customers" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "user_id" TEXT,
  "email" TEXT,
  "name" TEXT
) STRICT;
ux_customers_user_id ON customers (user_id) UNIQUE;

CREATE TABLE "orders" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "customer_id" TEXT,
  "status" TEXT,
  "items" TEXT,
  "total_cents" INTEGER,
  "note" TEXT
) STRICT;
ix_orders_customer_id_status ON orders (customer_id, status);

