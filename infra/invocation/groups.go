// Package invocation is the contract between the proxy's Lambda invoker
// (infra/lambdainvoke) and the handler functions (infra/lambdafn): the
// function each event goes to (Group), the function list of
// -lambda-functions, and the payload of one invocation (payload.go). It
// holds no AWS client, so that the functions, which link it, do not link
// the Lambda client the proxy invokes them with.
package invocation

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Group names one handler function.
type Group string

// The handler functions. Each packet type goes to one of them (GroupOf).
const (
	GroupConnect   Group = "connect"   // CONNECT
	GroupPublish   Group = "publish"   // PUBLISH
	GroupSubscribe Group = "subscribe" // SUBSCRIBE
	// GroupSession serves the rest: UNSUBSCRIBE, the acknowledgements,
	// DISCONNECT, AUTH, lost connections, leases, ticks and sweeps, and
	// recoveries.
	GroupSession Group = "session"
	// GroupLease is a route, not a function of its own code: the session
	// function (a copy of it deployed apart, template.yaml's
	// LeaseFunction) that the proxies' lease renewals go to, so that a
	// renewal never waits behind the session group's other events nor is
	// throttled with them in a storm (infra/lambdainvoke/lease.go).
	// Optional in a function list: without it renewals go to the session
	// group.
	GroupLease Group = "lease"
)

// Groups lists every group a function list must name, each a function of
// its own code (functions/<group>); GroupLease is optional.
var Groups = []Group{GroupConnect, GroupPublish, GroupSubscribe, GroupSession}

// DefaultFunctions is the -lambda-functions default: the function names
// template.yaml gives.
const DefaultFunctions = "connect=mqttless-connect,publish=mqttless-publish,subscribe=mqttless-subscribe,session=mqttless-session,lease=mqttless-lease"

// GroupOf returns the group that handles a frame.
func GroupOf(frame []byte) Group {
	if len(frame) == 0 {
		return GroupSession
	}
	switch packet.Type(frame[0] >> 4) {
	case packet.CONNECT:
		return GroupConnect
	case packet.PUBLISH:
		return GroupPublish
	case packet.SUBSCRIBE:
		return GroupSubscribe
	}
	return GroupSession
}

// GroupOfKind returns the group that handles events of a kind other than
// KindPackets: GroupPublish for KindUndelivered, whose deliveries mostly
// come from the fan-out of a PUBLISH (the publish function's instances
// hold the cached locations that such a delivery found stale, and
// settling it corrects the copy of the instance that does), else
// GroupSession.
func GroupOfKind(k session.Kind) Group {
	if k == session.KindUndelivered {
		return GroupPublish
	}
	return GroupSession
}

// Accepts reports whether group g serves event ev: a packets event whose
// frames all belong to g, or any other kind whose group (GroupOfKind) is
// g, or a KindChunk, which a function sends itself (chunkrun). A
// function refuses other events, so that a misrouted packet fails loudly.
func (g Group) Accepts(ev *session.Event) bool {
	if ev.Kind == session.KindChunk {
		// A function's own fan-out chunk (a will's fans out from the
		// session and connect functions): it invokes itself.
		return true
	}
	if ev.Kind != session.KindPackets {
		return g == GroupOfKind(ev.Kind)
	}
	for _, f := range ev.Packets {
		if GroupOf(f) != g {
			return false
		}
	}
	return true
}

// Target is one function to invoke: its name, and an endpoint when it is
// not the SDK's (an emulator such as the Lambda Runtime Interface
// Emulator, which names every function "function").
type Target struct {
	Name     string
	Endpoint string
}

// ErrFunctions is a bad -lambda-functions value.
var ErrFunctions = errors.New("invocation: bad function list")

// ParseFunctions parses a function list: comma-separated entries
// group=name or group=name@endpoint. A group named several times gets a
// pool of targets. Every group of Groups must be named; GroupLease may be.
func ParseFunctions(spec string) (map[Group][]Target, error) {
	out := map[Group][]Target{}
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		g, target, ok := strings.Cut(entry, "=")
		if !ok || target == "" {
			return nil, fmt.Errorf("%w: entry %q is not group=name[@endpoint]", ErrFunctions, entry)
		}
		grp := Group(g)
		known := grp == GroupLease
		for _, k := range Groups {
			known = known || k == grp
		}
		if !known {
			return nil, fmt.Errorf("%w: unknown group %q (want connect, publish, subscribe, session or lease)", ErrFunctions, g)
		}
		name, ep, _ := strings.Cut(target, "@")
		if name == "" {
			return nil, fmt.Errorf("%w: entry %q names no function", ErrFunctions, entry)
		}
		if ep != "" && !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
			return nil, fmt.Errorf("%w: endpoint %q of %q is not an http(s) URL", ErrFunctions, ep, entry)
		}
		out[grp] = append(out[grp], Target{Name: name, Endpoint: ep})
	}
	for _, g := range Groups {
		if len(out[g]) == 0 {
			return nil, fmt.Errorf("%w: no function for group %s", ErrFunctions, g)
		}
	}
	return out, nil
}
