package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// The shared match: a walk's result is also written to one item of the
// topic name ("M#<topic>", sharedMatchSK) with the epochs it was read
// under, so that another function instance that has not matched the
// topic yet reads that item (1 RRU, one call) instead of walking the
// trie (13 RRU in 6 calls for a topic of three levels; bench-dynamo).
// Fleets whose devices each publish to a topic of their own, seldom, see
// a topic again in the same instance only by chance (issue 17's fleets A
// and B): there each message paid the walk.
//
// Correctness is the match cache's (matchcache.go): the epochs are read,
// strongly consistent, before the walk, and every change to a filter's
// topic-side items moves its epoch in the same transaction, so a result
// stored under epochs equal to those just read is what a walk now would
// find, up to changes as concurrent as they would be to that walk. The
// item is read strongly consistent too, and used only when its epochs
// equal the ones this Match read; an older walk that overwrites a newer
// one costs a walk, never a wrong result. Results of more than
// sharedMatchMax items are not shared (an item holds at most 400 KB, and
// a topic with many subscribers is matched often enough to stay in each
// instance's cache). The item expires after sharedMatchTTL.

// sharedMatchMax is the most topic-side items a shared match holds.
const sharedMatchMax = 32

// sharedMatchTTL is how long a shared match item is kept after its walk.
const sharedMatchTTL = 24 * time.Hour

type sharedMatchItem struct {
	PK      string    `dynamodbav:"pk"`
	SK      string    `dynamodbav:"sk"`
	Epochs  []int64   `dynamodbav:"ep"`
	Matches []subItem `dynamodbav:"m"`
	TTL     int64     `dynamodbav:"ttl"`
}

// sharedMatch returns the shared match of name when it was stored under
// epochs; a failed read is a miss (the caller walks).
func (st *Store) sharedMatch(ctx context.Context, name string, epochs []int64) ([]subItem, bool) {
	item, err := st.getItem(ctx, sharedMatchPK(name), sharedMatchSK)
	if err != nil {
		st.log.Warn("dynamo: reading a shared match failed; walking", "topic", name, "err", err)
		return nil, false
	}
	if item == nil {
		return nil, false
	}
	var it sharedMatchItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil || len(it.Epochs) != len(epochs) {
		return nil, false
	}
	for i := range epochs {
		if it.Epochs[i] != epochs[i] {
			return nil, false
		}
	}
	return it.Matches, true
}

// shareMatch stores the result of a walk of name under epochs, when it is
// small enough; a failed write is logged and costs only later walks.
func (st *Store) shareMatch(ctx context.Context, name string, epochs []int64, matches []subItem) {
	if len(matches) > sharedMatchMax {
		return
	}
	av, err := attributevalue.MarshalMap(sharedMatchItem{PK: sharedMatchPK(name), SK: sharedMatchSK, Epochs: epochs,
		Matches: matches, TTL: time.Now().Add(sharedMatchTTL).Unix()})
	if err != nil {
		st.log.Warn("dynamo: encoding a shared match failed", "topic", name, "err", err)
		return
	}
	if _, err := st.put(ctx, &dynamodb.PutItemInput{Item: av}); err != nil {
		st.log.Warn("dynamo: storing a shared match failed", "topic", name, "err", err)
	}
}
