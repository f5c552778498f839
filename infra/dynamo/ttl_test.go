package dynamo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// uniqueName returns a name no other test (or run) uses.
func uniqueName(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return strings.ReplaceAll(t.Name(), "/", "_") + "-" + hex.EncodeToString(b[:])
}

// testIdentity owns the sessions of connected: a session resumes only
// for the identity it belongs to (session.Session.Kept).
const testIdentity = "tester"

// connected returns a Store and the id of a new session online on conn c1.
func connected(t *testing.T) (*dynamo.Store, string) {
	t.Helper()
	skipWithoutTable(t)
	st := dynamo.New(db, table)
	id := uniqueName(t)
	s := &session.Session{ClientID: id, Identity: testIdentity, Conn: "c1", Proxy: "p", Version: packet.V5, ReceiveMax: 20, ExpiryInterval: 3600}
	if _, err := st.Connect(t.Context(), s, true, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	return st, id
}

// outbound returns QoS 1 messages with payloads p0, p0+1, ..., expiring
// at expiresAt (Unix ms; 0 for never).
func outbound(p0, n int, expiresAt int64) []*session.Outbound {
	var out []*session.Outbound
	for i := range n {
		out = append(out, &session.Outbound{QoS: 1, Message: session.Message{
			Topic: "ttl/test", Payload: []byte(fmt.Sprint(p0 + i)), QoS: 1, ExpiresAt: expiresAt}})
	}
	return out
}

// items returns the items of id's partition whose sort keys contain kind
// ("#O#" queued, "#F#" in flight).
func items(t *testing.T, st *dynamo.Store, id, kind string) []map[string]types.AttributeValue {
	t.Helper()
	all, err := st.Partition(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]types.AttributeValue
	for _, it := range all {
		if strings.Contains(it["sk"].(*types.AttributeValueMemberS).Value, kind) {
			out = append(out, it)
		}
	}
	return out
}

// sweep deletes items as DynamoDB's TTL sweeper does: straight, changing
// no counter.
func sweep(t *testing.T, its []map[string]types.AttributeValue) {
	t.Helper()
	for _, it := range its {
		if _, ok := it["ttl"]; !ok {
			t.Fatalf("item %v has no ttl: DynamoDB would not delete it", it["sk"])
		}
		if _, err := db.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: &table,
			Key: map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}}); err != nil {
			t.Fatal(err)
		}
	}
}

func wantCounters(t *testing.T, st *dynamo.Store, id string, nq, nf int) {
	t.Helper()
	gotQ, gotF, err := st.Counters(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if gotQ != nq || gotF != nf {
		t.Fatalf("nq, nf = %d, %d; want %d, %d", gotQ, gotF, nq, nf)
	}
}

func wantPayloads(t *testing.T, out []*session.Outbound, p0, n int) {
	t.Helper()
	var got, want []string
	for _, o := range out {
		got = append(got, string(o.Message.Payload))
	}
	for i := range n {
		want = append(want, fmt.Sprint(p0+i))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("dispatched %v, want %v", got, want)
	}
}

// TestQueueFullAfterTTLDeletion: queued messages with an expiry carry a
// ttl; after DynamoDB's TTL deleted some of a full queue (nq unchanged),
// the queue still takes max-queued messages, and the expired ones left are
// never dispatched.
func TestQueueFullAfterTTLDeletion(t *testing.T) {
	st, id := connected(t)
	ctx := t.Context()
	const maxQueued = 5
	now := time.Now().UnixMilli()
	// Expired an hour ago: the ttl (expiry plus a margin) has passed.
	if n, _, err := st.Enqueue(ctx, id, outbound(0, maxQueued, now-3600_000), session.QueueLimit{Messages: maxQueued}, 0); err != nil || n != maxQueued {
		t.Fatalf("Enqueue = %d, %v", n, err)
	}
	queued := items(t, st, id, "#O#")
	if len(queued) != maxQueued {
		t.Fatalf("%d queued items, want %d", len(queued), maxQueued)
	}
	sweep(t, queued[:3])
	wantCounters(t, st, id, maxQueued, 0) // drifted: DynamoDB changed no counter

	n, _, err := st.Enqueue(ctx, id, outbound(10, maxQueued+1, now+3600_000), session.QueueLimit{Messages: maxQueued}, 0)
	if err != nil || n != maxQueued {
		t.Fatalf("Enqueue after the TTL deletion = %d, %v; want %d", n, err, maxQueued)
	}
	wantCounters(t, st, id, maxQueued, 0)
	if got := len(items(t, st, id, "#O#")); got != maxQueued {
		t.Fatalf("%d queued items, want %d (the expired ones deleted)", got, maxQueued)
	}
	out, err := st.Dispatch(ctx, id, "", 20)
	if err != nil {
		t.Fatal(err)
	}
	wantPayloads(t, out, 10, maxQueued)
	wantCounters(t, st, id, 0, maxQueued)
	for _, it := range items(t, st, id, "#F#") {
		if _, ok := it["ttl"]; ok {
			t.Fatalf("in-flight item %v has a ttl", it["sk"])
		}
	}
	if n, _, err := st.Enqueue(ctx, id, outbound(20, maxQueued+1, 0), session.QueueLimit{Messages: maxQueued}, 0); err != nil || n != maxQueued {
		t.Fatalf("Enqueue to an empty queue = %d, %v; want %d", n, err, maxQueued)
	}
}

// TestDispatchAfterTTLDeletion: Dispatch meeting a queue shorter than nq
// counts it afresh, so the queue can be filled to max-queued again.
func TestDispatchAfterTTLDeletion(t *testing.T) {
	st, id := connected(t)
	ctx := t.Context()
	const maxQueued = 5
	now := time.Now().UnixMilli()
	if n, _, err := st.Enqueue(ctx, id, outbound(0, 2, now-3600_000), session.QueueLimit{Messages: maxQueued}, 0); err != nil || n != 2 {
		t.Fatalf("Enqueue = %d, %v", n, err)
	}
	if n, _, err := st.Enqueue(ctx, id, outbound(2, 3, now+3600_000), session.QueueLimit{Messages: maxQueued}, 0); err != nil || n != 3 {
		t.Fatalf("Enqueue = %d, %v", n, err)
	}
	sweep(t, items(t, st, id, "#O#")[:2])
	out, err := st.Dispatch(ctx, id, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	wantPayloads(t, out, 2, 2)
	wantCounters(t, st, id, 1, 2)
	if n, _, err := st.Enqueue(ctx, id, outbound(10, maxQueued, 0), session.QueueLimit{Messages: maxQueued}, 0); err != nil || n != maxQueued-1 {
		t.Fatalf("Enqueue = %d, %v; want %d", n, err, maxQueued-1)
	}
	wantCounters(t, st, id, maxQueued, 2)
}

// TestRetainedAfterTTLDeletion: retained messages with an expiry carry a
// ttl; walks leave out and delete those whose ttl has passed, and the
// counters DynamoDB's TTL deletion left high are corrected by the walks
// that meet them, down to nothing once the last message goes.
func TestRetainedAfterTTLDeletion(t *testing.T) {
	skipWithoutTable(t)
	st := dynamo.New(db, table)
	ctx := t.Context()
	root := uniqueName(t)
	now := time.Now().UnixMilli()
	for _, m := range []session.Message{
		{Topic: root + "/a/b", Payload: []byte("b"), ExpiresAt: now - 3600_000}, // swept by DynamoDB below
		{Topic: root + "/a/c", Payload: []byte("c"), ExpiresAt: now + 3600_000},
		{Topic: root + "/a/d", Payload: []byte("d"), ExpiresAt: now - 3600_000}, // found by the walk
	} {
		if err := st.SetRetained(ctx, &m, session.RetainedLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := st.Item(ctx, "R#"+root+"/a", "Mb")
	if err != nil || b == nil {
		t.Fatalf("retained item: %v, %v", b, err)
	}
	sweep(t, []map[string]types.AttributeValue{b})
	count := func(pk, sk string) string {
		t.Helper()
		it, err := st.Item(ctx, pk, sk)
		if err != nil {
			t.Fatal(err)
		}
		if it == nil {
			return "none"
		}
		return it["n"].(*types.AttributeValueMemberN).Value
	}
	for range 2 { // the second walk heals the counter above the first's
		msgs, err := st.RetainedPage(ctx, root+"/#", "", 1000, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || string(msgs[0].Payload) != "c" {
			t.Fatalf("Retained = %v, want only c", msgs)
		}
	}
	if n, na := count("R", "N"+root), count("R#"+root, "Na"); n != "1" || na != "1" {
		t.Fatalf("counters of %q and %q/a = %s, %s; want 1, 1", root, root, n, na)
	}
	if it, err := st.Item(ctx, "R#"+root+"/a", "Md"); err != nil || it != nil {
		t.Fatalf("expired retained message left: %v, %v", it, err)
	}
	if err := st.SetRetained(ctx, &session.Message{Topic: root + "/a/c"}, session.RetainedLimits{}); err != nil {
		t.Fatal(err)
	}
	if n, na := count("R", "N"+root), count("R#"+root, "Na"); n != "none" || na != "none" {
		t.Fatalf("counters of %q and %q/a = %s, %s; want none", root, root, n, na)
	}
}
