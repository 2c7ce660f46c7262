package engine_test

import (
	"testing"
)

// TestScheduleIsNotStarvedByFailingRecords: records whose scheduled update always fails (no
// transition allows it) are passed over, so the others still change.
func TestScheduleIsNotStarvedByFailingRecords(t *testing.T) {
	e := newEnv(t, `
plinth: 1
name: sched
resources:
  tickets:
    fields:
      state:
        type: enum
        values: [open, closed, frozen]
        initial: [open, frozen]
        transitions: {open: [closed]}
    access: {list: "true", read: "true", create: "true", update: "true"}
schedules:
  close:
    every: 1m
    resource: tickets
    where: 'state != "closed"'
    set: {state: closed}
    limit: 2
`)
	for _, s := range []string{"frozen", "frozen", "open", "open"} {
		e.create(admin, "tickets", `{"state": "`+s+`"}`)
	}
	n, err := e.eng.RunSchedule(admin, e.eng.Model().Schedules[0])
	if err != nil || n != 2 {
		t.Fatalf("changed %d (%v), want the 2 open tickets", n, err)
	}
	for _, rec := range e.all("tickets") {
		if rec.Fields["state"] == "open" {
			t.Errorf("an open ticket was starved: %v", rec.ID)
		}
	}
}
