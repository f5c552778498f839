package dynamo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The routing cache spares a PUBLISH the walk of the subscription trie
// when nothing that could change its result changed since the last one.
//
// Every change to the routing items of a filter (Subscribe, Unsubscribe,
// and the purge of a replaced session's subscriptions) adds 1, in the same
// transaction, to an epoch item chosen by the filter's first level:
// "E#<level>", or "E#+" for filters that start with a wildcard. A topic
// name can only match filters whose epoch is "E#<its first level>" or
// "E#+" ([MQTT-4.7.2-1]: "E#<level>" alone for a topic starting with
// "$"). Match reads those (strongly consistent) before walking, and keeps
// the routing items it found with the epochs it read. The next Match for
// the topic reads the epochs again and reuses the routing items when they
// are unchanged: a change committed before that read has moved an epoch,
// and one committed after it is as concurrent as it would be to a walk.
// Each client's generation is still read fresh, so a session replaced by
// a clean start stops receiving at once.

// routeCacheSize bounds the topics the routing cache holds.
const routeCacheSize = 10_000

// routeCacheMaxAge bounds how long a cached result serves, whatever the
// epochs say: a backstop, not part of the correctness argument.
const routeCacheMaxAge = 10 * time.Minute

// epochPK returns the epoch item's key of filter (the filter routed by).
func epochPK(filter string) string {
	l0, _, _ := strings.Cut(filter, "/")
	if l0 == "+" || l0 == "#" {
		return "E#+"
	}
	return "E#" + l0
}

// epochSK is the sort key of every epoch item.
const epochSK = "E"

// topicEpochPKs returns the epoch items that cover a topic name.
func topicEpochPKs(name string) []string {
	l0, _, _ := strings.Cut(name, "/")
	if strings.HasPrefix(name, "$") {
		return []string{"E#" + l0}
	}
	return []string{"E#" + l0, "E#+"}
}

// bumpEpoch is the transaction item that moves filter's epoch.
func (st *Store) bumpEpoch(filter string) types.TransactWriteItem {
	e := newExpr()
	e.add("e", 1)
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &st.table, Key: key(epochPK(filter), epochSK),
		UpdateExpression: e.update(), ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
	}}
}

// readEpochs returns the epochs of the given items; a missing item is 0.
func (st *Store) readEpochs(ctx context.Context, pks []string) ([]int64, error) {
	keys := make([]map[string]types.AttributeValue, len(pks))
	for i, pk := range pks {
		keys[i] = key(pk, epochSK)
	}
	items, err := st.batchGet(ctx, keys, "")
	if err != nil {
		return nil, fmt.Errorf("dynamo: read routing epochs: %w", err)
	}
	byPK := make(map[string]int64, len(items))
	for _, it := range items {
		var e int64
		if v, ok := it["e"].(*types.AttributeValueMemberN); ok {
			fmt.Sscan(v.Value, &e)
		}
		if v, ok := it[attrPK].(*types.AttributeValueMemberS); ok {
			byPK[v.Value] = e
		}
	}
	out := make([]int64, len(pks))
	for i, pk := range pks {
		out[i] = byPK[pk]
	}
	return out, nil
}

// routeCache holds, per topic name, the routing items Match found and the
// epochs it read before. mu guards m.
type routeCache struct {
	mu sync.Mutex
	m  map[string]routeEntry
}

type routeEntry struct {
	epochs []int64
	routes []subItem
	at     time.Time
}

// get returns the routing items cached for name under epochs.
func (c *routeCache) get(name string, epochs []int64, now time.Time) ([]subItem, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok || now.Sub(e.at) > routeCacheMaxAge || len(e.epochs) != len(epochs) {
		return nil, false
	}
	for i := range epochs {
		if e.epochs[i] != epochs[i] {
			return nil, false
		}
	}
	return e.routes, true
}

// put caches routes for name under epochs, dropping an arbitrary entry
// when the cache is full.
func (c *routeCache) put(name string, epochs []int64, routes []subItem, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]routeEntry)
	}
	if _, ok := c.m[name]; !ok && len(c.m) >= routeCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[name] = routeEntry{epochs: epochs, routes: routes, at: now}
}
