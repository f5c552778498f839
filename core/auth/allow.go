package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/mqttless/mqttless/core/topic"
)

// Allow reports whether the client (user, "" when anonymous, and
// clientID) may publish to the topic name topicOrFilter (a is Publish) or
// subscribe to the topic filter topicOrFilter (a is Subscribe).
//
// clientID is the client id only when it is bound to the client's
// identity (Identity.MatchClientID), and "" otherwise: rules that name a
// client id, or use %c, then do not apply.
//
// When the store holds no rules at all, everything is allowed. Otherwise
// what no rule allows is denied. A rule applies when its User and ClientID
// are empty or equal to the client's, it is about a (or Both), and its
// Filter, with %u and %c replaced by the username and client id, concerns
// topicOrFilter; a rule whose placeholder value is empty, contains '+', '#'
// or '/', or starts with '$' does not apply. A deny rule that applies wins
// over every allow rule.
//
// For Publish a rule concerns the topic names its filter matches
// (topic.Match). For Subscribe a rule concerns the filters it covers
// (topic.Covers: everything the filter matches, the rule matches): a
// subscription is granted when an allow rule covers it and no deny rule
// does, since a deny rule that covers only part of it is applied to each
// message delivered (MayReceive). A shared subscription
// "$share/{group}/{filter}" is checked on its filter.
//
// A rule that fails Rule.Validate is logged and skipped, except that an
// invalid deny rule denies everything to the clients it selects. Rules are
// read from the store once per Options.CacheTTL (see ruleCache); a failure
// to read them is returned wrapped.
func (c *Checker) Allow(ctx context.Context, a Access, user, clientID, topicOrFilter string) (bool, error) {
	if a != Publish && a != Subscribe {
		return false, fmt.Errorf("%w: access %q is not %q or %q", ErrInvalid, a, Publish, Subscribe)
	}
	return c.allow(ctx, a, false, user, clientID, topicOrFilter)
}

// MayReceive reports whether a message on the topic name name may be
// delivered to the client (user and clientID as for Allow): a subscribe
// rule that applies must match name (topic.Match), and no deny rule may.
// The broker checks it for each message it delivers, so that a revoked
// rule, or a deny rule inside a granted subscription, takes effect on
// messages, within Options.CacheTTL.
func (c *Checker) MayReceive(ctx context.Context, user, clientID, name string) (bool, error) {
	return c.allow(ctx, Subscribe, true, user, clientID, name)
}

// allow is Allow, and with receive MayReceive.
func (c *Checker) allow(ctx context.Context, a Access, receive bool, user, clientID, topicOrFilter string) (bool, error) {
	rs, err := c.ruleSet(ctx)
	if err != nil {
		return false, err
	}
	if len(rs.rules) == 0 {
		return true, nil
	}
	inner := topicOrFilter
	if a == Subscribe && !receive {
		_, f, shared, err := topic.ParseShared(topicOrFilter)
		if err != nil {
			return false, nil
		}
		if shared {
			inner = f
		}
	}
	allowed := false
	for i := range rs.rules {
		r := &rs.rules[i]
		if !r.selects(user, clientID) {
			continue
		}
		if !r.valid {
			if r.Deny {
				return false, nil // fail closed: what it meant to deny is unknown
			}
			continue
		}
		if !r.grants(a) || (allowed && !r.Deny) {
			continue
		}
		f, ok := r.filterFor(user, clientID)
		if !ok {
			continue
		}
		var applies bool
		switch {
		case a == Publish || receive:
			applies = topic.Match(f, topicOrFilter)
		default:
			applies = topic.Covers(f, inner)
		}
		if !applies {
			continue
		}
		if r.Deny {
			c.log.Debug("denied by rule", "rule", r.ID, "access", a, "receive", receive, "user", user, "client", clientID, "topic", topicOrFilter)
			return false, nil
		}
		allowed = true
	}
	if !allowed {
		c.log.Debug("denied: no rule allows", "access", a, "receive", receive, "user", user, "client", clientID, "topic", topicOrFilter)
	}
	return allowed, nil
}

// ruleSet returns the rules, from the cache while it is fresh.
func (c *Checker) ruleSet(ctx context.Context) (*ruleSet, error) {
	if rs := c.rules.fresh(c.now(), c.opts.CacheTTL); rs != nil {
		return rs, nil
	}
	// One caller reads the store; the others wait for it, or for their
	// context.
	select {
	case c.rules.load <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("auth: read rules: %w", ctx.Err())
	}
	defer func() { <-c.rules.load }()
	if rs := c.rules.fresh(c.now(), c.opts.CacheTTL); rs != nil {
		return rs, nil // read by the caller we waited for
	}
	rules, err := c.store.Rules(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: read rules: %w", err)
	}
	rs := &ruleSet{rules: make([]checkedRule, len(rules)), at: c.now()}
	for i, r := range rules {
		err := r.Validate()
		rs.rules[i] = checkedRule{Rule: r, valid: err == nil}
		if err != nil {
			c.log.Warn("invalid access rule", "rule", r.ID, "deny", r.Deny, "err", err)
		}
	}
	c.rules.set(rs)
	return rs, nil
}

// checkedRule is a rule with the outcome of its validation.
type checkedRule struct {
	Rule
	valid bool
}

// ruleSet is the rules read at one time.
type ruleSet struct {
	rules []checkedRule
	at    time.Time
}
