package dynamo

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// This file is the one place where the keys of the table's items are built
// and taken apart: a constructor per key, a parser per key that is read
// back. The package documentation (doc.go) lists the items. The keys are
// the stored format: changing one leaves existing tables unreadable.

// The table's key attributes and indexes.
const (
	attrPK     = "pk"
	attrSK     = "sk"
	indexOwner = "owner"
	indexDue   = "due"
)

// key returns the key of an item.
func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

// keyOf returns the key of item, read from it.
func keyOf(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]}
}

// skOf returns the sort key of item, read from it.
func skOf(item map[string]types.AttributeValue) string {
	s, _ := item[attrSK].(*types.AttributeValueMemberS)
	if s == nil {
		return ""
	}
	return s.Value
}

// pkOf returns the partition key of item, read from it.
func pkOf(item map[string]types.AttributeValue) string {
	s, _ := item[attrPK].(*types.AttributeValueMemberS)
	if s == nil {
		return ""
	}
	return s.Value
}

// Sessions: the session item and the items of its generations share the
// partition "S#<client id>".

const sessionPrefix = "S#"

// sessionSK is the sort key of the session item.
const sessionSK = "#"

// sessionPK is the partition of a session and everything it holds.
func sessionPK(clientID string) string { return sessionPrefix + clientID }

// clientOfSessionPK returns the client id of a session partition.
func clientOfSessionPK(pk string) string { return strings.TrimPrefix(pk, sessionPrefix) }

// genKind names the kind of a generation item: the two bytes that follow
// its generation prefix in its sort key.
type genKind string

const (
	kindSub      genKind = "U#" // subscription, session side
	kindQueued   genKind = "O#" // queued outbound message
	kindInflight genKind = "F#" // in-flight outbound message
	kindInbound  genKind = "I#" // QoS 2 receive state
)

// genFirst sorts before the sort key of every generation item, genEnd
// after every one.
const (
	genFirst = "G"
	genEnd   = "H"
)

// genPrefix starts the sort key of every item of generation gen of a
// session; items of other generations are invisible.
func genPrefix(gen int64) string { return fmt.Sprintf("G%020d#", gen) }

// genBound sorts after every item of generations below gen and before the
// items of gen.
func genBound(gen int64) string { return fmt.Sprintf("G%020d", gen) }

// genKindPrefix starts the sort key of every item of kind k of generation
// gen.
func genKindPrefix(gen int64, k genKind) string { return genPrefix(gen) + string(k) }

// kindOfGenSK returns the kind of the generation item with sort key sk.
func kindOfGenSK(sk string) genKind {
	_, rest, ok := strings.Cut(sk, "#")
	if !ok || len(rest) < 2 {
		return ""
	}
	return genKind(rest[:2])
}

func subSK(gen int64, filter string) string {
	return genKindPrefix(gen, kindSub) + filter
}

func outSK(gen int64, seq uint64) string {
	return genKindPrefix(gen, kindQueued) + fmt.Sprintf("%020d", seq)
}

func flightSK(gen int64, pid uint16) string {
	return genKindPrefix(gen, kindInflight) + fmt.Sprintf("%05d", pid)
}

func inboundSK(gen int64, pid uint16) string {
	return genKindPrefix(gen, kindInbound) + fmt.Sprintf("%05d", pid)
}

// ownerKey is the owner index key of a proxy: index keys cannot be empty.
func ownerKey(proxy string) string { return "P#" + proxy }

// dueShards is the number of partitions the due index is spread over.
const dueShards = 8

// dueShardKey is the due index key of shard i.
func dueShardKey(i int) string { return strconv.Itoa(i) }

// dueShard returns the due index key of clientID's session.
func dueShard(clientID string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(clientID))
	return dueShardKey(int(h.Sum32() % dueShards))
}

// Subscription trie: a node per filter prefix (without $share), holding
// the topic side of the subscriptions whose filter it is.

const nodePrefix = "T#"

// nodeSK is the sort key of a trie node's counters.
const nodeSK = "#"

// nodePK is the subscription trie node of a filter (without $share).
func nodePK(filter string) string { return nodePrefix + filter }

// filterOfNodePK returns the filter of a subscription trie node.
func filterOfNodePK(pk string) string { return strings.TrimPrefix(pk, nodePrefix) }

// topicSidePrefix starts the sort key of every topic-side subscription
// item under a trie node.
const topicSidePrefix = "C#"

// topicSideSK is the sort key of the topic side of a subscription under
// its node: the full filter, generation and client id.
func topicSideSK(full string, gen int64, clientID string) string {
	return fmt.Sprintf("%s%s#%020d#%s", topicSidePrefix, full, gen, clientID)
}

// Match epochs: one item per first level of a filter, "E#<level>", or
// "E#+" for filters that start with a wildcard.

const epochPrefix = "E#"

// epochSK is the sort key of every match epoch item.
const epochSK = "E"

// matchEpochPK returns the key of the match epoch of filter (without
// $share).
func matchEpochPK(filter string) string {
	l0, _, _ := strings.Cut(filter, "/")
	if l0 == "+" || l0 == "#" {
		return epochPrefix + "+"
	}
	return epochPrefix + l0
}

// topicEpochPKs returns the match epochs that cover a topic name
// ([MQTT-4.7.2-1]: only its own level's for a topic starting with "$").
func topicEpochPKs(name string) []string {
	l0, _, _ := strings.Cut(name, "/")
	if strings.HasPrefix(name, "$") {
		return []string{epochPrefix + l0}
	}
	return []string{epochPrefix + l0, epochPrefix + "+"}
}

// Shared match (sharedmatch.go): one item per topic name a walk matched.

const sharedMatchPrefix = "M#"

// sharedMatchSK is the sort key of every shared match item.
const sharedMatchSK = "m"

func sharedMatchPK(name string) string { return sharedMatchPrefix + name }

// Retained trie: a node per topic prefix.

const (
	retainedRoot   = "R"
	retainedPrefix = "R#"
)

// retainedTotalsPK and retainedTotalsSK are the key of the item that
// counts every retained message and their bytes (n, b), for
// SetRetained's limits; "RT" is no trie node ("R" or "R#...").
const (
	retainedTotalsPK = "RT"
	retainedTotalsSK = "T"
)

// retainedPK is the retained trie node of a topic prefix (given as its
// levels); the root is "R".
func retainedPK(levels []string) string {
	if len(levels) == 0 {
		return retainedRoot
	}
	return retainedPrefix + strings.Join(levels, "/")
}

// levelsOfRetainedPK returns the levels of a retained trie node's key.
func levelsOfRetainedPK(pk string) []string {
	if pk == retainedRoot {
		return nil
	}
	return strings.Split(strings.TrimPrefix(pk, retainedPrefix), "/")
}

// Sort keys under a retained trie node: "N<level>" counts the retained
// messages below prefix/level, "M<level>" holds the message of
// prefix/level.
func retainedCountSK(level string) string { return "N" + level }
func retainedMsgSK(level string) string   { return "M" + level }

// parseRetainedSK takes apart a sort key under a retained trie node:
// whether it holds a message (else it is a counter), and its level.
func parseRetainedSK(sk string) (isMsg bool, level string) {
	if sk == "" {
		return false, ""
	}
	return sk[0] == 'M', sk[1:]
}

// Users and rules (auth.Store).

const (
	userPrefix = "U#"
	userSK     = "U"     // sort key of a user item
	usersPK    = "USERS" // partition of the user list
	rulesPK    = "ACL"   // partition of the rules
	// maxAuthKey is the longest user name or rule ID (bytes): each is a
	// sort key after a 2-byte prefix, and DynamoDB's sort keys are at most
	// 1024 bytes.
	maxAuthKey = 1024 - 2
)

// userPK is the partition of the user item of name.
func userPK(name string) string { return userPrefix + name }

// userListSK is the sort key of name's entry in the user list.
func userListSK(name string) string { return userPrefix + name }

// ruleSK is the sort key of the rule with id.
func ruleSK(id string) string { return "R#" + id }

// Delivery v2's sub-streams (streams.go): the entries of one sub-stream
// share the partition "Q#<shard>#<filter>" (the shard first, so that a
// filter's own characters never make two keys alike) and are sorted by
// offset, 16 hex digits.

const streamPrefix = "Q#"

// streamPK is the partition of sub-stream id.
func streamPK(shard int, filter string) string {
	return streamPrefix + strconv.Itoa(shard) + "#" + filter
}

// streamBaseSK is the sort key of a sub-stream's base item (streamBase),
// below every entry's.
const streamBaseSK = "b#"

// streamSKPrefix begins every entry's sort key.
const streamSKPrefix = "o#"

// streamSK is the sort key of the entry at offset.
func streamSK(offset uint64) string { return fmt.Sprintf("%s%016x", streamSKPrefix, offset) }

// parseStreamSK returns the offset of an entry's sort key.
func parseStreamSK(sk string) (uint64, bool) {
	if !strings.HasPrefix(sk, streamSKPrefix) {
		return 0, false
	}
	o, err := strconv.ParseUint(sk[len(streamSKPrefix):], 16, 64)
	return o, err == nil
}

// posKey is the key of a sub-stream's position in the session item's pos
// map: "<shard>|<filter>".
func posKey(shard int, filter string) string { return strconv.Itoa(shard) + "|" + filter }

// parsePosKey takes a posKey apart.
func parsePosKey(k string) (shard int, filter string, ok bool) {
	s, f, found := strings.Cut(k, "|")
	if !found {
		return 0, "", false
	}
	n, err := strconv.Atoi(s)
	return n, f, err == nil
}
