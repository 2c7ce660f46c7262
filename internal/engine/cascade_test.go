package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

// blogSpec is a blog whose deletes clean up after themselves: a post takes its comments with
// it, a comment its replies (a cascade of comments to themselves) and its votes, and
// bookmarks let go of a deleted post. Pins hold their post, and a comment the one it replaces
// (restrict). Each comment counts
// itself on its post with effects. Only admins may delete comments or votes directly, and
// a post only its owner.
const blogSpec = `
plinth: 1
name: blog
resources:
  posts:
    fields:
      title: {type: string, max_length: 100}
      owner: {type: string, max_length: 50, default: auth.sub}
      comment_count: {type: integer, default: 0, min: 0}
      pinned: {type: ref, resource: comments, on_delete: set_null}
    access: {list: "true", read: "true", create: "true", update: "true", delete: "record.owner == auth.sub"}
  comments:
    fields:
      post: {type: ref, resource: posts, required: true, on_delete: cascade}
      parent: {type: ref, resource: comments, on_delete: cascade}
      quotes: {type: ref, resource: comments, on_delete: set_null}
      replaces: {type: ref, resource: comments}
      body: {type: string, max_length: 100}
    access: {list: "true", read: "true", create: "true", update: "true", delete: 'auth.role == "admin"'}
    effects:
      count_up:
        on: [create]
        target: posts
        id: record.post
        set: {comment_count: target.comment_count + 1}
      count_down:
        on: [delete]
        target: posts
        id: record.post
        set: {comment_count: target.comment_count - 1}
  votes:
    fields:
      comment: {type: ref, resource: comments, required: true, on_delete: cascade}
    access: {list: "true", read: "true", create: "true", update: "true", delete: 'auth.role == "admin"'}
  bookmarks:
    fields:
      post: {type: ref, resource: posts, on_delete: set_null}
      note: {type: string, max_length: 50}
    access: {list: "true", read: "true", create: "true", update: "true", delete: "true"}
  pins:
    fields:
      post: {type: ref, resource: posts}
    access: {list: "true", read: "true", create: "true", update: "true", delete: "true"}
`

// lastSeq is the sequence number of the newest event.
func (e *env) lastSeq() int64 {
	e.t.Helper()
	evs := e.eventsAfter(0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// eventsAfter reads every event after seq, as admin.
func (e *env) eventsAfter(seq int64) []store.Event {
	e.t.Helper()
	page, err := e.eng.Events(admin, engine.EventParams{After: seq, Limit: new(engine.MaxEventLimit)})
	if err != nil {
		e.t.Fatal(describe(err))
	}
	return page.Items
}

// snapshot is every record of the blog, for checking that a refused delete changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	var s string
	for _, r := range []string{"posts", "comments", "votes", "bookmarks", "pins"} {
		s += r + ":"
		for _, rec := range e.all(r) {
			s += fmt.Sprintf(" %v", rec.Map())
		}
		s += "\n"
	}
	return s
}

// TestDeleteCascades deletes a post: its comments go, with their replies and their votes
// (two levels down), the bookmarks and the post's own pin on a comment let go, each touched
// record emits its event and runs its effects, and the caller needs no right to delete
// the comments and votes that go with her post.
func TestDeleteCascades(t *testing.T) {
	t.Parallel()
	e := newEnv(t, blogSpec)
	post := e.create(alice, "posts", `{"title": "Hello"}`).ID
	other := e.create(alice, "posts", `{"title": "Other"}`).ID
	c1 := e.create(bob, "comments", `{"post": "`+post+`", "body": "first"}`).ID
	c2 := e.create(bob, "comments", `{"post": "`+post+`", "body": "second", "quotes": "`+c1+`"}`).ID
	reply := e.create(bob, "comments", `{"post": "`+post+`", "parent": "`+c1+`", "body": "reply"}`).ID
	vote := e.create(bob, "votes", `{"comment": "`+reply+`"}`).ID
	fix := e.create(bob, "comments", `{"post": "`+post+`", "replaces": "`+c1+`", "body": "first, fixed"}`).ID
	kept := e.create(bob, "comments", `{"post": "`+other+`", "quotes": "`+c2+`", "body": "elsewhere"}`).ID
	keptVote := e.create(bob, "votes", `{"comment": "`+kept+`"}`).ID
	mark := e.create(bob, "bookmarks", `{"post": "`+post+`", "note": "read later"}`).ID
	otherMark := e.create(bob, "bookmarks", `{"post": "`+other+`"}`).ID
	e.patch(alice, "posts", post, `{"pinned": "`+c2+`"}`)
	if n := e.get(admin, "posts", post).Fields["comment_count"]; n != int64(4) {
		t.Fatalf("comment_count before = %v, want 4", n)
	}
	since := e.lastSeq()

	if err := delete1(e.eng, alice, "posts", post, engine.Precondition{}); err != nil {
		t.Fatalf("delete the post: %s", describe(err))
	}

	for _, gone := range []struct{ resource, id string }{{"posts", post}, {"comments", c1}, {"comments", c2}, {"comments", reply}, {"comments", fix}, {"votes", vote}} {
		if _, err := e.eng.Get(admin, gone.resource, gone.id); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("%s %s after the cascade: %v, want NotFound", gone.resource, gone.id, describe(err))
		}
	}
	// The other post's comment let go of the quoted comment; its vote and bookmark stay.
	if got := e.get(admin, "comments", kept); got.Fields["quotes"] != nil || got.Version != int64(2) {
		t.Errorf("the other post's comment: %v, want quotes null at version 2", got)
	}
	e.get(admin, "votes", keptVote)
	if got := e.get(admin, "bookmarks", mark); got.Fields["post"] != nil || got.Fields["note"] != "read later" || got.Version != int64(2) {
		t.Errorf("bookmark of the deleted post: %v, want post null, the note kept, version 2", got)
	}
	if got := e.get(admin, "bookmarks", otherMark); got.Fields["post"] != other || got.Version != int64(1) {
		t.Errorf("bookmark of the other post: %v, want it untouched", got)
	}

	events := e.eventsAfter(since)
	pos := map[string]int{} // "type id" → index in the feed
	for i, ev := range events {
		k := ev.Type + " " + ev.RecordID
		if _, dup := pos[k]; dup && ev.Type != "posts.updated" {
			t.Errorf("event %s emitted twice", k)
		}
		pos[k] = i
		if ev.Actor != "alice" {
			t.Errorf("event %s has actor %q, want the caller, alice", k, ev.Actor)
		}
	}
	for _, want := range []string{"posts.deleted " + post, "comments.deleted " + c1, "comments.deleted " + c2,
		"comments.deleted " + reply, "comments.deleted " + fix, "votes.deleted " + vote, "bookmarks.updated " + mark, "comments.updated " + kept, "posts.updated " + post} {
		if _, ok := pos[want]; !ok {
			t.Errorf("no event %s; the feed has:\n%s", want, feed(events))
		}
	}
	// 6 deletes, 3 records let go (a bookmark, a comment, the post's pin), 4 counts down.
	if len(events) != 13 {
		t.Errorf("%d events, want 13:\n%s", len(events), feed(events))
	}
	// What refers to a record goes before it; the post goes last.
	for _, before := range [][2]string{
		{"votes.deleted " + vote, "comments.deleted " + reply},
		{"comments.deleted " + reply, "comments.deleted " + c1},
		{"comments.updated " + kept, "comments.deleted " + c2},
		{"comments.deleted " + fix, "comments.deleted " + c1},
		{"comments.deleted " + c2, "comments.deleted " + c1},
		{"comments.deleted " + c1, "posts.deleted " + post},
	} {
		if pos[before[0]] > pos[before[1]] {
			t.Errorf("%s came after %s:\n%s", before[0], before[1], feed(events))
		}
	}
	last := events[len(events)-1]
	if last.Type != "posts.deleted" {
		t.Fatalf("the last event is %s, want posts.deleted:\n%s", last.Type, feed(events))
	}
	// The comments' effects ran on the post before it went, and its event shows the result.
	if last.Record.Fields["comment_count"] != int64(0) || last.Record.Fields["pinned"] != nil {
		t.Errorf("the post's delete event shows %v, want comment_count 0 and pinned null", last.Record)
	}
}

// feed renders events one per line, for failure messages.
func feed(events []store.Event) string {
	var s string
	for _, ev := range events {
		s += fmt.Sprintf("  %d %s %s\n", ev.Seq, ev.Type, ev.RecordID)
	}
	return s
}

// TestDeleteCascadeRefusals: a delete the rules deny, one that a restrict ref holds, and one
// that would reach too many records or too deep are refused, and change nothing at all.
func TestDeleteCascadeRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, blogSpec)
	post := e.create(alice, "posts", `{"title": "Hello"}`).ID
	for i := range 4 {
		c := e.create(bob, "comments", fmt.Sprintf(`{"post": %q, "body": "c%d"}`, post, i)).ID
		e.create(bob, "votes", `{"comment": "`+c+`"}`)
	}
	e.create(bob, "bookmarks", `{"post": "`+post+`"}`)

	refused := func(t *testing.T, eng *engine.Engine, ctx context.Context, resource, id string, code fault.Code, typ fault.Type) *fault.Error {
		t.Helper()
		before, since := e.snapshot(), e.lastSeq()
		f := wantCode(t, delete1(eng, ctx, resource, id, engine.Precondition{}), code)
		if typ != (fault.Type{}) && f.Type != typ {
			t.Errorf("problem type %q, want %q: %s", f.Type, typ, describe(f))
		}
		if after := e.snapshot(); after != before {
			t.Errorf("a refused delete changed records:\nbefore %s\nafter  %s", before, after)
		}
		if evs := e.eventsAfter(since); len(evs) > 0 {
			t.Errorf("a refused delete emitted events:\n%s", feed(evs))
		}
		return f
	}

	t.Run("denied", func(t *testing.T) {
		refused(t, e.eng, bob, "posts", post, fault.Forbidden, fault.Type{})
		// Alice may not delete a comment, though her post's delete takes them with it.
		refused(t, e.eng, alice, "comments", e.all("comments")[0].ID, fault.Forbidden, fault.Type{})
	})

	t.Run("too many", func(t *testing.T) {
		// 4 comments, 4 votes and 1 bookmark are 9 records: one over a limit of 8.
		small, err := engine.New(engine.Config{Model: e.eng.Model(), Store: e.store, Now: e.clock.Now, MaxCascade: 8})
		if err != nil {
			t.Fatal(err)
		}
		f := refused(t, small, alice, "posts", post, fault.Conflict, fault.TypeCascadeTooLarge)
		if f.Extra["found"] != 9 || f.Extra["limit"] != 8 || f.Extra["max_depth"] != engine.MaxCascadeDepth {
			t.Errorf("problem members %v, want found 9, limit 8, max_depth %d", f.Extra, engine.MaxCascadeDepth)
		}
	})

	t.Run("restrict", func(t *testing.T) {
		pin := e.create(bob, "pins", `{"post": "`+post+`"}`).ID
		refused(t, e.eng, alice, "posts", post, fault.Conflict, fault.TypeReferenced)
		if err := delete1(e.eng, bob, "pins", pin, engine.Precondition{}); err != nil {
			t.Fatal(describe(err))
		}
	})

	t.Run("records in a cycle", func(t *testing.T) {
		// Two comments, each the other's parent: neither can go first.
		a := e.create(bob, "comments", `{"post": "`+post+`"}`).ID
		b := e.create(bob, "comments", `{"post": "`+post+`", "parent": "`+a+`"}`).ID
		e.patch(bob, "comments", a, `{"parent": "`+b+`"}`)
		refused(t, e.eng, alice, "posts", post, fault.Conflict, fault.TypeReferenced)
		e.patch(bob, "comments", a, `{"parent": null}`)
	})

	t.Run("too deep", func(t *testing.T) {
		// A thread 33 replies deep below its first comment: deleting the first comment would
		// follow 33 references, deleting the second 32.
		thread := []string{e.create(bob, "comments", `{"post": "`+post+`"}`).ID}
		for range engine.MaxCascadeDepth + 1 {
			parent := thread[len(thread)-1]
			thread = append(thread, e.create(bob, "comments", `{"post": "`+post+`", "parent": "`+parent+`"}`).ID)
		}
		f := refused(t, e.eng, admin, "comments", thread[0], fault.Conflict, fault.TypeCascadeTooLarge)
		if f.Extra["found"] != engine.MaxCascadeDepth {
			t.Errorf("found %v before the depth was exceeded, want %d", f.Extra["found"], engine.MaxCascadeDepth)
		}
		if err := delete1(e.eng, admin, "comments", thread[1], engine.Precondition{}); err != nil {
			t.Fatalf("deleting a thread %d deep: %s", engine.MaxCascadeDepth, describe(err))
		}
		if got := e.all("comments"); len(got) != 7 {
			t.Errorf("%d comments left, want the 4, the former cycle's 2 and the thread's first", len(got))
		}
	})

	// Once nothing holds it, the post goes with everything that cascades from it.
	if err := delete1(e.eng, alice, "posts", post, engine.Precondition{}); err != nil {
		t.Fatal(describe(err))
	}
	for _, r := range []string{"posts", "comments", "votes"} {
		if got := e.all(r); len(got) != 0 {
			t.Errorf("%s left: %v", r, got)
		}
	}
	if got := e.all("bookmarks"); len(got) != 1 || got[0].Fields["post"] != nil {
		t.Errorf("bookmarks: %v, want one, let go of the post", got)
	}
}

// TestDeleteCascadeInBatch: the records a delete cascades to are gone for the batch's later
// operations, and a failing later operation undoes the cascade with the rest.
func TestDeleteCascadeInBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, blogSpec)
	post := e.create(alice, "posts", `{"title": "Hello"}`).ID
	c := e.create(bob, "comments", `{"post": "`+post+`"}`).ID
	before, since := e.snapshot(), e.lastSeq()
	_, err := e.eng.Apply(alice, []engine.Op{
		{Kind: engine.OpDelete, Resource: "posts", ID: post},
		{Kind: engine.OpUpdate, Resource: "comments", ID: c, Body: body(t, `{"body": "edited"}`)},
	})
	var be *engine.BatchError
	if !errors.As(err, &be) || be.Index != 1 || fault.CodeOf(be.Err) != fault.NotFound {
		t.Fatalf("batch: %s, want operation 1 NotFound", describe(err))
	}
	if after := e.snapshot(); after != before {
		t.Errorf("a failed batch changed records:\nbefore %s\nafter  %s", before, after)
	}
	if evs := e.eventsAfter(since); len(evs) > 0 {
		t.Errorf("a failed batch emitted events:\n%s", feed(evs))
	}
	if !slices.Equal(ids(e.all("comments")), []string{c}) {
		t.Errorf("comments after the failed batch: %v", e.all("comments"))
	}
}

// TestDeleteCascadePages deletes a board whose two topics hold 600 notes between them: the
// notes are found in pages of 500 across both topics, and every one goes.
func TestDeleteCascadePages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
plinth: 1
name: boards
resources:
  boards:
    fields:
      name: {type: string, max_length: 10}
  topics:
    fields:
      board: {type: ref, resource: boards, required: true, on_delete: cascade}
  notes:
    fields:
      topic: {type: ref, resource: topics, required: true, on_delete: cascade}
`)
	board := e.create(admin, "boards", `{}`).ID
	topics := []string{e.create(admin, "topics", `{"board": "`+board+`"}`).ID,
		e.create(admin, "topics", `{"board": "`+board+`"}`).ID}
	for i := range 6 {
		ops := make([]engine.Op, 100)
		for j := range ops {
			ops[j] = engine.Op{Kind: engine.OpCreate, Resource: "notes", Body: map[string]any{"topic": topics[(i*100+j)%2]}}
		}
		if _, err := e.eng.Apply(admin, ops); err != nil {
			t.Fatal(describe(err))
		}
	}
	since := e.lastSeq()
	if err := delete1(e.eng, admin, "boards", board, engine.Precondition{}); err != nil {
		t.Fatal(describe(err))
	}
	if left := e.all("notes"); len(left) != 0 {
		t.Errorf("%d notes left", len(left))
	}
	deleted := map[string]int{}
	for _, ev := range e.eventsAfter(since) {
		deleted[ev.Type]++
	}
	if deleted["notes.deleted"] != 600 || deleted["topics.deleted"] != 2 || deleted["boards.deleted"] != 1 || len(deleted) != 3 {
		t.Errorf("events: %v", deleted)
	}
}
