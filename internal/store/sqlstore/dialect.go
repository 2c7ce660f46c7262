package sqlstore

// The internal tables, quoted, as both drivers name them. Each name starts with an underscore,
// which a resource's cannot, so that they never meet a resource's table.
const (
	Events        = `"_plinth_events"`        // the outbox
	Subscriptions = `"_plinth_subscriptions"` // each webhook's place in the outbox
	Deliveries    = `"_plinth_deliveries"`    // the webhook queue
	Leases        = `"_plinth_leases"`        // named leases, such as a schedule's tick
)

// DeliveriesIndexes is the DDL of the deliveries' indexes, on table (Deliveries as the
// driver's DDL qualifies it): due finds the pending deliveries whose time has come, which a
// claim takes; record finds a record's earlier pending deliveries, which hold its later
// ones back.
func DeliveriesIndexes(table string) (due, record string) {
	return `CREATE INDEX IF NOT EXISTS "_plinth_deliveries_due" ON ` + table + ` ("state", "next_at")`,
		`CREATE INDEX IF NOT EXISTS "_plinth_deliveries_record" ON ` + table + ` ("subscription", "resource", "record_id", "event_seq")`
}
