package storetest

import (
	"fmt"
	"sync"

	"github.com/mqttless/mqttless/core/session"
)

var ownershipTests = []test{
	{"OtherIdentityRefused", testOtherIdentityRefused},
	{"ExpiredTakenByOther", testExpiredTakenByOther},
	{"NoIdentityCleared", testNoIdentityCleared},
	{"AnonymousTakenByNamed", testAnonymousTakenByNamed},
	{"ConcurrentIdentities", testConcurrentIdentities},
}

// intruder is an identity other than owner.
const intruder = "user:bob"

// testOtherIdentityRefused: Connect from another identity of a session
// that lasts, online or offline, with or without clean, and of an online
// session with Session Expiry Interval 0, is ErrNotOwner and changes
// nothing.
func testOtherIdentityRefused(e *env) {
	for _, tc := range []struct {
		name           string
		offline, clean bool
		expiryZero     bool
		other          string
	}{
		{"Online", false, false, false, intruder},
		{"OnlineClean", false, true, false, intruder},
		{"OnlineEnding", false, true, true, intruder},
		{"Offline", true, false, false, intruder},
		{"OfflineClean", true, true, false, intruder},
		{"Anonymous", false, true, false, "anonymous"},
		{"CertificateOfTheSameName", true, false, false, "cert:alice"},
	} {
		e.run(tc.name, func(e *env) {
			c := e.client("c")
			s := newSessionWithWill(c, "conn1", will(e.topic("will"), "bye", 0))
			s.Bound = true
			if tc.expiryZero {
				s.ExpiryInterval = 0
			}
			e.connectSession(s, false)
			pid := e.populate(c, "conn1")
			if tc.offline {
				e.offline(c, "conn1", session.Offline{ExpiresAt: e.now + 3600_000, ExpiryInterval: 3600,
					Will: will(e.topic("will"), "bye", 60), WillAt: e.now + 60_000})
			}
			before := e.session(c)
			other := newSession(c, "conn2")
			other.Identity = tc.other
			prev, err := e.st.Connect(e.ctx, other, tc.clean, e.now)
			e.wantErr(err, session.ErrNotOwner, "Connect from "+tc.other)
			if prev != nil {
				e.Fatalf("refused Connect returned prev %s, want nil", show(prev))
			}
			e.eq("session after the refused Connect", e.session(c), before)
			e.checkContents(c, kept, pid)
			// The owner still can.
			if prev := e.connect(c, "conn3", false); prev == nil || prev.Conn != before.Conn {
				e.Fatalf("the owner's Connect after the refusal: prev %s, want the session of %q", show(prev), before.Conn)
			}
		})
	}
}

// testExpiredTakenByOther: an offline session of another identity that
// has expired is taken over and cleared, clean or not, and then belongs to
// the new identity.
func testExpiredTakenByOther(e *env) {
	for _, clean := range []bool{false, true} {
		e.run(fmt.Sprintf("clean=%v", clean), func(e *env) {
			c := e.client("c")
			e.connect(c, "conn1", false)
			pid := e.populate(c, "conn1")
			e.offline(c, "conn1", session.Offline{ExpiresAt: e.now - 1, ExpiryInterval: 1})
			other := newSession(c, "conn2")
			other.Identity = intruder
			if prev := e.connectSession(other, clean); prev == nil || prev.Identity != owner {
				e.Fatalf("prev = %s, want the expired session of %s", show(prev), owner)
			}
			e.checkContents(c, cleared, pid)
			e.eq("identity", e.session(c).Identity, intruder)
			// Now the first identity is the other one.
			_, err := e.st.Connect(e.ctx, newSession(c, "conn3"), false, e.now)
			e.wantErr(err, session.ErrNotOwner, "Connect of the former owner")
		})
	}
}

// testNoIdentityCleared: a session without an identity (stored by an older
// version) is taken by any identity and cleared even without clean.
func testNoIdentityCleared(e *env) {
	for _, offline := range []bool{false, true} {
		e.run(fmt.Sprintf("offline=%v", offline), func(e *env) {
			c := e.client("c")
			legacy := newSession(c, "conn1")
			legacy.Identity = ""
			e.connectSession(legacy, false)
			pid := e.populate(c, "conn1")
			if offline {
				e.offline(c, "conn1", session.Offline{ExpiresAt: e.now + 3600_000, ExpiryInterval: 3600})
			}
			if prev := e.connect(c, "conn2", false); prev == nil || prev.Identity != "" {
				e.Fatalf("prev = %s, want the session without identity", show(prev))
			}
			e.checkContents(c, cleared, pid)
			e.eq("identity", e.session(c).Identity, owner)
		})
	}
}

// testConcurrentIdentities: of concurrent Connects from two identities for
// one client id, one wins and the other is refused, whichever the store
// applies first: the session is never taken by the loser. With an
// existing session of owner, owner always wins.
func testConcurrentIdentities(e *env) {
	for _, existing := range []bool{false, true} {
		for round := range 20 {
			c := e.client(fmt.Sprintf("c%v%d", existing, round))
			if existing {
				e.connect(c, "conn0", false)
			}
			ids := [2]string{owner, intruder}
			var prev [2]*session.Session
			var errs [2]error
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					s := newSession(c, fmt.Sprintf("conn%d", i+1))
					s.Identity = ids[i]
					prev[i], errs[i] = e.st.Connect(e.ctx, s, round%2 == 0, e.now)
				})
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil:
					if winner >= 0 {
						e.Fatalf("both identities connected: prev %s and %s", show(prev[0]), show(prev[1]))
					}
					winner = i
				default:
					e.wantErr(err, session.ErrNotOwner, "Connect of the loser "+ids[i])
				}
			}
			if winner < 0 {
				e.Fatalf("neither identity connected: %v, %v", errs[0], errs[1])
			}
			if existing && winner != 0 {
				e.Fatalf("%s took the existing session of %s", ids[winner], owner)
			}
			got := e.session(c)
			if got.Identity != ids[winner] || got.Conn != fmt.Sprintf("conn%d", winner+1) {
				e.Fatalf("session %s after %s won", show(got), ids[winner])
			}
		}
	}
}

// testAnonymousTakenByNamed: a session of the anonymous clients, which any
// anonymous client may take over anyway, is taken by a named identity and
// cleared, clean or not; the reverse is refused (testOtherIdentityRefused).
func testAnonymousTakenByNamed(e *env) {
	for _, offline := range []bool{false, true} {
		e.run(fmt.Sprintf("offline=%v", offline), func(e *env) {
			c := e.client("c")
			anon := newSession(c, "conn1")
			anon.Identity = "anonymous"
			e.connectSession(anon, false)
			pid := e.populate(c, "conn1")
			if offline {
				e.offline(c, "conn1", session.Offline{ExpiresAt: e.now + 3600_000, ExpiryInterval: 3600})
			}
			if prev := e.connect(c, "conn2", false); prev == nil || prev.Identity != "anonymous" {
				e.Fatalf("prev = %s, want the anonymous session", show(prev))
			}
			e.checkContents(c, cleared, pid)
			e.eq("identity", e.session(c).Identity, owner)
		})
	}
}
