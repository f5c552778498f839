package dynamo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/session/storetest"
	"github.com/mqttless/mqttless/infra/dynamo"
)

func streamTestID(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.Name() + "-" + hex.EncodeToString(b[:])
}

// The costs delivery v2's design counts on (docs/architecture.md, "Cost
// per operation"), estimated from item sizes: a warm Append is one write
// unit and one call, a position save of a small session one write unit.
func TestStreamCosts(t *testing.T) {
	skipWithoutTable(t)
	ctx := context.Background()
	st := dynamo.New(db, table)
	id := streamTestID(t)
	sid := session.StreamID{Filter: id + "/a/+"}
	msg := &session.Message{Topic: id + "/a/x", QoS: 1, Payload: make([]byte, 100)}
	if _, err := st.Append(ctx, sid, msg); err != nil { // learns the head
		t.Fatal(err)
	}
	before := st.Consumed()
	if _, err := st.Append(ctx, sid, msg); err != nil {
		t.Fatal(err)
	}
	if d := st.Consumed().Sub(before); d.EstWrite != 1 || d.EstRead != 0 || d.Calls != 1 {
		t.Errorf("warm Append cost %+v, want 1 write unit in 1 call and no read", d)
	}

	c := id + "-c"
	s := &session.Session{ClientID: c, Identity: "u", Proxy: "p", Conn: "conn1", Version: packet.V5, ExpiryInterval: 60, ReceiveMax: 10}
	if _, err := st.Connect(ctx, s, true, 1_800_000_000_000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.DeleteSession(context.Background(), c, "conn1") })
	if _, err := st.Subscribe(ctx, c, "conn1", []session.Subscription{{ClientID: c, Filter: sid.Filter, QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	before = st.Consumed()
	if err := st.SavePositions(ctx, c, "conn1", session.Positions{sid: {Acked: 2}}); err != nil {
		t.Fatal(err)
	}
	if d := st.Consumed().Sub(before); d.EstWrite != 1 || d.Calls != 1 {
		t.Errorf("SavePositions cost %+v, want 1 write unit in 1 call", d)
	}
}

// A session item written before delivery v2 has no pos map: the first
// save creates it.
func TestSavePositionsWithoutMap(t *testing.T) {
	skipWithoutTable(t)
	ctx := context.Background()
	st := dynamo.New(db, table)
	id := streamTestID(t)
	c := id + "-c"
	s := &session.Session{ClientID: c, Identity: "u", Proxy: "p", Conn: "conn1", Version: packet.V5, ExpiryInterval: 60, ReceiveMax: 10}
	if _, err := st.Connect(ctx, s, true, 1_800_000_000_000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.DeleteSession(context.Background(), c, "conn1") })
	sid := session.StreamID{Filter: id + "/f", Shard: 2}
	if _, err := st.Subscribe(ctx, c, "conn1", []session.Subscription{{ClientID: c, Filter: sid.Filter, QoS: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "S#" + c}, "sk": &types.AttributeValueMemberS{Value: "#"},
		},
		UpdateExpression: aws.String("REMOVE pos"),
	}); err != nil {
		t.Fatal(err)
	}
	want := session.Positions{sid: {Number: 4, Acked: 9, Released: []uint64{11}}}
	if err := st.SavePositions(ctx, c, "conn1", want); err != nil {
		t.Fatalf("SavePositions on an item without pos: %v", err)
	}
	got, err := st.Positions(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[sid].Number != 4 || got[sid].Acked != 9 || len(got[sid].Released) != 1 || got[sid].Released[0] != 11 {
		t.Fatalf("positions %+v, want %+v", got, want)
	}
	if err := st.SavePositions(ctx, c, "conn2", want); !errors.Is(err, session.ErrFenced) {
		t.Fatalf("a save from another connection: %v, want ErrFenced", err)
	}
}

// A sub-stream whose entries have all gone (their ttl passed: here they
// are deleted by hand) begins above every offset it gave before, so that
// a session whose position is at the old head still reads the new
// message; and an entry's ttl is the retention whatever the message's own
// expiry, so that no entry vanishes below the head while Appends still
// count on it.
func TestStreamEmptiedContinuesAbove(t *testing.T) {
	skipWithoutTable(t)
	ctx := context.Background()
	id := streamTestID(t)
	sid := session.StreamID{Filter: id + "/q"}
	st := dynamo.New(db, table, dynamo.WithStreamRetention(48*time.Hour))
	msg := &session.Message{Topic: sid.Filter, QoS: 1, Payload: []byte("x"), ExpiresAt: time.Now().Add(time.Second).UnixMilli()}
	var last uint64
	for range 3 {
		o, err := st.Append(ctx, sid, msg)
		if err != nil {
			t.Fatal(err)
		}
		last = o
	}
	entries, err := st.ReadStream(ctx, sid, 0, 10)
	if err != nil || len(entries) != 3 {
		t.Fatalf("ReadStream = %d entries, %v", len(entries), err)
	}
	pk := "Q#0#" + sid.Filter
	out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :o)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk},
			":o": &types.AttributeValueMemberS{Value: "o#"}}})
	if err != nil || len(out.Items) != 3 {
		t.Fatalf("query of %q: %d items, %v", pk, len(out.Items), err)
	}
	for _, it := range out.Items {
		n, _ := it["ttl"].(*types.AttributeValueMemberN)
		if n == nil {
			t.Fatalf("entry %v has no ttl", it["sk"])
		}
		var ttl int64
		if _, err := fmt.Sscan(n.Value, &ttl); err != nil || time.Until(time.Unix(ttl, 0)) < 47*time.Hour {
			t.Errorf("entry ttl %s, want the 48 h retention, not the message's 1 s expiry", n.Value)
		}
		if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}}); err != nil {
			t.Fatal(err)
		}
	}
	// The retention has passed since the sub-stream began: its base item
	// says so.
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "b#"}},
		UpdateExpression:          aws.String("SET #at = :at"),
		ConditionExpression:       aws.String("attribute_exists(#b)"),
		ExpressionAttributeNames:  map[string]string{"#at": "at", "#b": "base"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberN{Value: fmt.Sprint(time.Now().Add(-49 * time.Hour).Unix())}}}); err != nil {
		t.Fatalf("age the base item: %v", err)
	}
	// Another instance, which never saw the sub-stream (this one's cached
	// head is younger than headCacheAge, which a real retention is far
	// above), begins it above its old head, and continues from there.
	fresh := dynamo.New(db, table, dynamo.WithStreamRetention(48*time.Hour))
	o, err := fresh.Append(ctx, sid, msg)
	if err != nil {
		t.Fatal(err)
	}
	if o <= last {
		t.Errorf("appended at %d after the sub-stream emptied, not above its old head %d", o, last)
	}
	if o2, err := fresh.Append(ctx, sid, msg); err != nil || o2 != o+1 {
		t.Errorf("next append at %d (%v), want %d", o2, err, o+1)
	}
}

// Under delivery v2 the queues keep to packet identifiers 1..max
// (session.PacketIDLimiter): the identifiers above are the streams'. A
// Store of its own: the limit is the Store's.
func TestLimitPacketIDs(t *testing.T) {
	skipWithoutTable(t)
	st := dynamo.New(db, table)
	c := streamTestID(t)
	t.Cleanup(func() { _ = st.DeleteSession(context.Background(), c, "k") })
	storetest.PacketIDLimit(t, st, c)
}

// An Append whose put the SDK resends after its answer was lost finds its
// own entry, and is done: the message is in the sub-stream once, not again
// at the next offset (a subscriber would get it twice).
func TestAppendResentOnce(t *testing.T) {
	skipWithoutTable(t)
	ctx := context.Background()
	client, la := loseAnswerClient(`"o#`, "PutItem")
	st := dynamo.New(client, table)
	sid := session.StreamID{Filter: streamTestID(t) + "/r"}
	first, err := st.Append(ctx, sid, &session.Message{Topic: sid.Filter, QoS: 1, Payload: []byte("0")})
	if err != nil {
		t.Fatal(err)
	}
	if !la.lost.Load() {
		t.Fatal("no answer was lost")
	}
	second, err := st.Append(ctx, sid, &session.Message{Topic: sid.Filter, QoS: 1, Payload: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := st.ReadStream(ctx, sid, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%d:%s", int64(e.Offset-first), e.Message.Payload))
	}
	if second != first+1 || len(got) != 2 || got[0] != "0:0" || got[1] != "1:1" {
		t.Fatalf("appends at %d and %d, sub-stream %v; want [0:0 1:1]", first, second, got)
	}
}
