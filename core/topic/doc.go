// Package topic validates MQTT topic names and topic filters, matches names
// against filters, and indexes subscriptions for fast matching.
//
// ValidateName checks a topic name as carried by PUBLISH, ValidateFilter a
// topic filter as carried by SUBSCRIBE and UNSUBSCRIBE, shared subscription
// filters ("$share/{group}/{filter}") included; Limits adds a broker's own
// length and depth limits. Failures are the sentinel errors of this package,
// sometimes wrapped with detail: match them with errors.Is.
//
// Match compares one filter with one name without allocating. Index holds
// many subscriptions in a trie over topic levels, so that the cost of
// matching a name grows with the name's depth and the number of matching
// subscriptions, not with the number of subscriptions held.
//
// Each rule enforced names its statement in the specification, e.g.
// [MQTT-4.7.1-2]. Statement ids are those of MQTT 5.0; where MQTT 3.1.1
// numbers the same rule differently, the 3.1.1 id is given as well. The rules
// for names and filters are the same in both versions, except that 3.1.1 has
// no shared subscriptions: this package always treats a filter starting with
// "$share/" as shared, as many 3.1.1 brokers do.
//
// Nothing in this package panics on any input or logs anything.
package topic
