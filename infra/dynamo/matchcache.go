package dynamo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// The match cache spares a PUBLISH the walk of the subscription trie
// when nothing that could change its result changed since the last one.
//
// Every change to the topic-side subscription items of a filter
// (Subscribe, Unsubscribe, and the purge of a replaced session's
// subscriptions) adds 1, in the same transaction, to the match epoch
// chosen by the filter's first level: "E#<level>", or "E#+" for filters
// that start with a wildcard (matchEpochPK). A topic name can only match
// filters whose epoch is "E#<its first level>" or "E#+" ([MQTT-4.7.2-1]:
// "E#<level>" alone for a topic starting with "$"; topicEpochPKs). Match
// reads those (strongly consistent) before walking, and keeps the
// topic-side items it found with the epochs it read. The next Match for
// the topic reads the epochs again and reuses the items when they are
// unchanged: a change committed before that read has moved an epoch, and
// one committed after it is as concurrent as it would be to a walk. Each
// client's generation is still read fresh, so a session replaced by a
// clean start stops receiving at once.

// matchCacheSize bounds the topics the match cache holds.
const matchCacheSize = 10_000

// matchCacheMaxAge bounds how long a cached result serves, whatever the
// epochs say: a backstop, not part of the correctness argument.
const matchCacheMaxAge = 10 * time.Minute

// bumpEpoch is the transaction item that moves the match epoch of filter
// (without $share).
func (st *Store) bumpEpoch(filter string) types.TransactWriteItem {
	e := newExpr()
	e.add("e", 1)
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &st.table, Key: key(matchEpochPK(filter), epochSK),
		UpdateExpression: e.update(), ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
	}}
}

// readEpochs returns the match epochs of the given items; a missing item
// is 0.
func (st *Store) readEpochs(ctx context.Context, pks []string) ([]int64, error) {
	keys := make([]map[string]types.AttributeValue, len(pks))
	for i, pk := range pks {
		keys[i] = key(pk, epochSK)
	}
	items, err := st.batchGet(ctx, keys, "")
	if err != nil {
		return nil, fmt.Errorf("dynamo: read match epochs: %w", err)
	}
	byPK := make(map[string]int64, len(items))
	for _, it := range items {
		var e int64
		if v, ok := it["e"].(*types.AttributeValueMemberN); ok {
			fmt.Sscan(v.Value, &e)
		}
		byPK[pkOf(it)] = e
	}
	out := make([]int64, len(pks))
	for i, pk := range pks {
		out[i] = byPK[pk]
	}
	return out, nil
}

// matchCache holds, per topic name, the topic-side subscription items
// Match found and the epochs it read before. mu guards m.
type matchCache struct {
	mu sync.Mutex
	m  map[string]matchEntry
}

type matchEntry struct {
	epochs  []int64
	matches []subItem
	at      time.Time
}

// get returns the topic-side items cached for name under epochs.
func (c *matchCache) get(name string, epochs []int64, now time.Time) ([]subItem, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok || now.Sub(e.at) > matchCacheMaxAge || len(e.epochs) != len(epochs) {
		return nil, false
	}
	for i := range epochs {
		if e.epochs[i] != epochs[i] {
			return nil, false
		}
	}
	return e.matches, true
}

// put caches matches for name under epochs, dropping an arbitrary entry
// when the cache is full.
func (c *matchCache) put(name string, epochs []int64, matches []subItem, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]matchEntry)
	}
	if _, ok := c.m[name]; !ok && len(c.m) >= matchCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[name] = matchEntry{epochs: epochs, matches: matches, at: now}
}

// matchesOf returns the topic-side items of the filters matching topic
// name, of every generation: from the match cache when the topic's epochs
// have not moved since it was filled, else by walking the trie.
func (st *Store) matchesOf(ctx context.Context, name string) ([]subItem, error) {
	epochs, err := st.readEpochs(ctx, topicEpochPKs(name))
	if err != nil {
		return nil, err
	}
	matches, ok := st.matches.get(name, epochs, time.Now())
	if !ok {
		if matches, err = st.walk(ctx, name); err != nil {
			return nil, err
		}
		st.matches.put(name, epochs, matches, time.Now())
	}
	return matches, nil
}

// MatchSessions implements session.MatchReader: Match and Sessions in one,
// reading the sessions of clients reached only at QoS 0 (and not through a
// shared subscription) from the items this Store last saw online, when it
// has them. A warm QoS 0 PUBLISH to online subscribers thus reads only the
// topic's two epoch items. A copy whose connection is gone makes that
// connection's proxy report it gone, and the handler then reads afresh
// (session.Handler.Undelivered); every other session is read fresh, and
// topic-side items of another generation than the session's are dropped.
func (st *Store) MatchSessions(ctx context.Context, name string, qos byte, chunkAbove int) ([]session.Subscription, map[string]*session.Session, error) {
	if strings.Count(name, "/") > maxFilterLevels {
		return nil, nil, nil
	}
	matches, err := st.matchesOf(ctx, name)
	if err != nil || len(matches) == 0 {
		return nil, nil, err
	}
	big, need := chunkedFilters(matches, chunkAbove)
	fresh := map[string]bool{}
	gens := map[string]int64{} // a generation of each client's matches
	for _, r := range matches {
		if min(qos, r.QoS) > 0 || strings.HasPrefix(r.Filter, "$share/") {
			fresh[r.Client] = true
		}
		if g, ok := gens[r.Client]; ok && g != r.Gen {
			fresh[r.Client] = true // items of two generations: read which is the session's
		}
		gens[r.Client] = r.Gen
	}
	now := time.Now()
	items := map[string]*sessionItem{}
	var keys []map[string]types.AttributeValue
	for _, r := range matches {
		if _, done := items[r.Client]; done || big != nil && !need[r.Client] {
			continue
		}
		if !fresh[r.Client] {
			// A copy of another generation than the subscription is
			// stale: the client started a new session (a clean start,
			// perhaps through another proxy) and subscribed again since.
			// Trusting it would drop the message as one for an old
			// session, which no proxy would report gone.
			if it := st.located.get(r.Client, now); it != nil && it.Gen == r.Gen {
				items[r.Client] = it
				continue
			}
		}
		items[r.Client] = nil // to read
		keys = append(keys, key(sessionPK(r.Client), sessionSK))
	}
	if len(keys) > 0 {
		got, err := st.batchGet(ctx, keys, "")
		if err != nil {
			return nil, nil, fmt.Errorf("dynamo: match sessions of %q: %w", name, err)
		}
		for _, item := range got {
			it, err := decodeSession(item)
			if err != nil {
				return nil, nil, err
			}
			id := clientOfSessionPK(it.PK)
			items[id] = it
			st.located.put(id, it, now)
		}
	}
	var subs []session.Subscription
	sessions := map[string]*session.Session{}
	for _, r := range matches {
		if big[r.Filter] {
			subs = append(subs, r.subscription()) // its chunks read the session
			continue
		}
		it := items[r.Client]
		if it == nil || it.Gen != r.Gen {
			continue
		}
		subs = append(subs, r.subscription())
		if sessions[r.Client] == nil {
			s := it.session()
			s.Will = nil // as Sessions: no wills
			sessions[r.Client] = s
		}
	}
	return subs, sessions, nil
}

var _ session.MatchReader = (*Store)(nil)

// chunkedFilters returns the non-shared filters among matches that more
// than chunkAbove of them match (nil when chunkAbove is 0 or there is
// none), and the clients matched through some other filter, whose
// sessions MatchSessions reads.
func chunkedFilters(matches []subItem, chunkAbove int) (big, need map[string]bool) {
	if chunkAbove <= 0 || len(matches) <= chunkAbove {
		return nil, nil
	}
	n := map[string]int{}
	for _, r := range matches {
		if !strings.HasPrefix(r.Filter, "$share/") {
			n[r.Filter]++
		}
	}
	for f, k := range n {
		if k > chunkAbove {
			if big == nil {
				big = map[string]bool{}
			}
			big[f] = true
		}
	}
	if big == nil {
		return nil, nil
	}
	need = map[string]bool{}
	for _, r := range matches {
		if !big[r.Filter] {
			need[r.Client] = true
		}
	}
	return big, need
}

// locatedSessions holds the session items MatchSessions read of online
// sessions, by client id, for the QoS 0 fan-out. mu guards m.
type locatedSessions struct {
	mu sync.Mutex
	m  map[string]recentSession
}

// locatedFor bounds how long a copy serves; a stale one costs a delivery
// to a gone connection and a fresh read, never a wrong delivery.
const locatedFor = 5 * time.Minute

// maxLocated bounds the entries; the map starts over when full.
const maxLocated = 100_000

func (c *locatedSessions) put(clientID string, it *sessionItem, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it.Conn == "" {
		delete(c.m, clientID) // offline: read fresh, it may be back
		return
	}
	if c.m == nil || len(c.m) >= maxLocated {
		c.m = make(map[string]recentSession)
	}
	c.m[clientID] = recentSession{it, at}
}

func (c *locatedSessions) get(clientID string, now time.Time) *sessionItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[clientID]
	if !ok || now.Sub(r.at) > locatedFor || now.Before(r.at) {
		return nil
	}
	return r.it
}

func (c *locatedSessions) forget(clientID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, clientID)
}

// forgetSession drops what this Store keeps of clientID's session item,
// after writing it.
func (st *Store) forgetSession(clientID string) {
	st.recent.forget(clientID)
	st.located.forget(clientID)
}
