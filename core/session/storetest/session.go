package storetest

import (
	"errors"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// dueBase is the "now" of the Due tests: September 2001, earlier than any
// time the other tests store, so that only Due tests' sessions fall due.
const dueBase int64 = 1_000_000_000_000

var connectTests = []test{
	{"New", testConnectNew},
	{"TakeOver", testConnectTakeOver},
	{"KeepOrClean", testConnectKeepOrClean},
	{"Will", testConnectWill},
	{"Expired", testConnectExpired},
	{"TakeoverOfEndingSession", testConnectTakeoverExpiryZero},
	{"Owned", testOwned},
	{"SessionNotFound", testSessionNotFound},
	{"Sessions", testSessions},
}

// testConnectNew: Connect of a new client returns no previous session and
// stores s as given.
func testConnectNew(e *env) {
	for _, clean := range []bool{false, true} {
		c := e.client(map[bool]string{false: "keep", true: "clean"}[clean])
		s := newSession(c, "conn1")
		s.Will = will(e.topic("will"), "bye", 5)
		if prev := e.connectSession(s, clean); prev != nil {
			e.Fatalf("Connect of a new client (clean %v): prev = %s, want nil", clean, show(prev))
		}
		e.eq("session", e.session(c), newSessionWithWill(c, "conn1", will(e.topic("will"), "bye", 5)))
	}
}

// newSessionWithWill returns newSession(clientID, conn) with will w.
func newSessionWithWill(clientID, conn string, w *session.Will) *session.Session {
	s := newSession(clientID, conn)
	s.Will = w
	return s
}

// testConnectTakeOver: a second Connect returns the session it replaced,
// with the old connection, and the new connection owns the session.
func testConnectTakeOver(e *env) {
	c := e.client("c")
	s1 := newSessionWithWill(c, "conn1", will(e.topic("will"), "one", 0))
	s1.ReceiveMax, s1.Version, s1.ExpiryInterval = 5, packet.V311, 0
	e.connectSession(s1, false)
	s2 := newSession(c, "conn2")
	e.eq("prev of the second Connect", e.connectSession(s2, false), s1)
	e.eq("session", e.session(c), s2)
	e.eq("prev of the third Connect", e.connect(c, "conn3", true), s2)
	e.eq("session", e.session(c), newSession(c, "conn3"))
}

// testConnectKeepOrClean: without clean a session's subscriptions, outbound
// messages and receive state survive a new connection; with clean they are
// deleted, whether the session was online or offline.
func testConnectKeepOrClean(e *env) {
	for _, tc := range []struct {
		name           string
		offline, clean bool
	}{
		{"OnlineKeep", false, false},
		{"OnlineClean", false, true},
		{"OfflineKeep", true, false},
		{"OfflineClean", true, true},
	} {
		e.run(tc.name, func(e *env) {
			c := e.client("c")
			e.connect(c, "conn1", false)
			pid := e.populate(c, "conn1")
			if tc.offline {
				e.offline(c, "conn1", session.Offline{ExpiresAt: e.now + 3600_000, ExpiryInterval: 3600})
			}
			prev := e.connect(c, "conn2", tc.clean)
			if prev == nil || prev.ClientID != c {
				e.Fatalf("prev = %s, want the old session", show(prev))
			}
			want := kept
			if tc.clean {
				want = cleared
			}
			e.checkContents(c, want, pid)
		})
	}
}

// testConnectWill: the will of the new connection replaces the old one,
// pending or not, and the reconnected session has no pending will.
func testConnectWill(e *env) {
	for _, tc := range []struct {
		name    string
		offline bool // the old connection left a pending will
		newWill bool
		clean   bool
	}{
		{"PendingReplaced", true, true, false},
		{"PendingDropped", true, false, false},
		{"PendingCleanReplaced", true, true, true},
		{"OnlineReplaced", false, true, false},
		{"OnlineDropped", false, false, true},
	} {
		e.run(tc.name, func(e *env) {
			c := e.client("c")
			old := will(e.topic("will"), "old", 10)
			e.connectSession(newSessionWithWill(c, "conn1", old), false)
			wantPrev := newSessionWithWill(c, "conn1", old)
			if tc.offline {
				o := session.Offline{ExpiresAt: e.now + 3600_000, ExpiryInterval: 3600, Will: old, WillAt: e.now + 10_000}
				e.offline(c, "conn1", o)
				wantPrev.Proxy, wantPrev.Conn = "", ""
				wantPrev.ExpiresAt, wantPrev.ExpiryInterval, wantPrev.WillAt = o.ExpiresAt, o.ExpiryInterval, o.WillAt
			}
			s := newSession(c, "conn2")
			if tc.newWill {
				s.Will = will(e.topic("will"), "new", 3)
			}
			e.eq("prev", e.connectSession(s, tc.clean), wantPrev)
			want := newSession(c, "conn2")
			if tc.newWill {
				want.Will = will(e.topic("will"), "new", 3)
			}
			e.eq("session", e.session(c), want)
		})
	}
}

// testConnectExpired: an offline session whose ExpiresAt is not after now
// has ended: Connect returns it (so its pending will can be published) but
// its contents are gone; one that expires later, or never, is resumed.
func testConnectExpired(e *env) {
	for _, tc := range []struct {
		name      string
		expiresAt int64 // relative to e.now; 0 for never
		expired   bool
	}{
		{"Past", -1000, true},
		{"Now", 0, true},
		{"Future", 1000, false},
		{"Never", 0, false},
	} {
		e.run(tc.name, func(e *env) {
			c := e.client("c")
			e.connect(c, "conn1", false)
			pid := e.populate(c, "conn1")
			o := session.Offline{ExpiresAt: e.now + tc.expiresAt, ExpiryInterval: 1}
			if tc.name == "Never" {
				o = session.Offline{ExpiryInterval: session.NeverExpires}
			}
			e.offline(c, "conn1", o)
			prev := e.connect(c, "conn2", false)
			if tc.expired {
				if prev == nil || prev.ExpiresAt != o.ExpiresAt || !prev.Ended(e.now) {
					e.Fatalf("Connect after expiry: prev = %s, want the ended session", show(prev))
				}
				e.checkContents(c, cleared, pid)
				return
			}
			if prev == nil || prev.ExpiresAt != o.ExpiresAt || prev.Online() {
				e.Fatalf("prev = %s, want the offline session expiring at %d", show(prev), o.ExpiresAt)
			}
			e.checkContents(c, kept, pid)
		})
	}
}

// testConnectTakeoverExpiryZero: an online session with Session Expiry
// Interval 0 ends when a new connection takes it over, so Connect returns
// it but clears its contents even without clean; with a non-zero interval
// the contents are kept.
func testConnectTakeoverExpiryZero(e *env) {
	for _, tc := range []struct {
		name   string
		expiry uint32
		ended  bool
	}{{"Zero", 0, true}, {"NonZero", 60, false}} {
		e.run(tc.name, func(e *env) {
			c := e.client("c")
			s := newSession(c, "conn1")
			s.ExpiryInterval = tc.expiry
			e.connectSession(s, false)
			pid := e.populate(c, "conn1")
			prev := e.connect(c, "conn2", false)
			if prev == nil || prev.Conn != "conn1" || prev.Ended(e.now) != tc.ended {
				e.Fatalf("prev = %s, want the online session of conn1 (ended %v)", show(prev), tc.ended)
			}
			if tc.ended {
				e.checkContents(c, cleared, pid)
			} else {
				e.checkContents(c, kept, pid)
			}
		})
	}
}

// testOwned: Owned returns the online sessions held by one proxy, and
// neither offline ones nor those of other proxies.
func testOwned(e *env) {
	a, b, off := e.client("a"), e.client("b"), e.client("off")
	proxy := "proxy-" + e.client("p") // unique, so a shared store's other sessions don't count
	for _, id := range []string{a, off} {
		s := newSession(id, "conn-"+id)
		s.Proxy = proxy
		e.connectSession(s, false)
	}
	e.connect(b, "conn-b", false) // another proxy
	e.offline(off, "conn-"+off, session.Offline{ExpiryInterval: session.NeverExpires})
	got, err := e.st.Owned(e.ctx, proxy, 10)
	e.must(err, "Owned")
	if len(got) != 1 || got[0].ClientID != a || got[0].Conn != "conn-"+a {
		e.Fatalf("Owned = %v, want only the session of %s", got, a)
	}
}

// testSessionNotFound: Session of an unknown client is ErrNotFound.
func testSessionNotFound(e *env) {
	_, err := e.st.Session(e.ctx, e.client("nobody"))
	e.wantErr(err, session.ErrNotFound, "Session of an unknown client")
}

// testSessions: Sessions returns the sessions that exist, by client id.
func testSessions(e *env) {
	a, b, nobody := e.client("a"), e.client("b"), e.client("nobody")
	e.connect(a, "conn-a", false)
	e.connect(b, "conn-b", false)
	e.offline(b, "conn-b", session.Offline{ExpiresAt: e.now + 1000, ExpiryInterval: 1})
	got, err := e.st.Sessions(e.ctx, []string{a, nobody, b, a})
	e.must(err, "Sessions")
	e.eq("Sessions", got, map[string]*session.Session{a: e.session(a), b: e.session(b)})
	got, err = e.st.Sessions(e.ctx, nil)
	e.must(err, "Sessions of none")
	if len(got) != 0 {
		e.Fatalf("Sessions of none = %v", got)
	}
}

var fencingTests = []test{
	{"Ops", testFencedOps},
	{"UnknownSession", testFencedUnknown},
	{"DeleteOnlineWithoutConn", testDeleteOnlineWithoutConn},
	{"DeleteOfflineWithoutConn", testDeleteOfflineWithoutConn},
	{"DeleteByOwner", testDeleteByOwner},
}

// fencedOp is a write fenced on the connection.
type fencedOp struct {
	name string
	do   func(e *env, clientID, conn string) error
}

var fencedOps = []fencedOp{
	{"Subscribe", func(e *env, c, conn string) error {
		_, err := e.st.Subscribe(e.ctx, c, conn, []session.Subscription{sub(c, e.topic("new")), sub(c, e.topic("a"))})
		return err
	}},
	{"Unsubscribe", func(e *env, c, conn string) error {
		_, err := e.st.Unsubscribe(e.ctx, c, conn, []string{e.topic("a")})
		return err
	}},
	{"SetOffline", func(e *env, c, conn string) error {
		return e.st.SetOffline(e.ctx, c, conn, session.Offline{
			ExpiresAt: e.now + 5000, ExpiryInterval: 5, Will: will(e.topic("w"), "w", 1), WillAt: e.now + 1000,
		})
	}},
	{"DeleteSession", func(e *env, c, conn string) error {
		return e.st.DeleteSession(e.ctx, c, conn)
	}},
}

// testFencedOps: a connection that does not own the session (any more)
// cannot change it: the write returns ErrFenced and changes nothing.
func testFencedOps(e *env) {
	situations := []struct {
		name    string
		prepare func(e *env, c string) (conn string)
	}{
		{"TakenOver", func(e *env, c string) string {
			e.connect(c, "conn2", false)
			return "conn1"
		}},
		{"OtherConn", func(e *env, c string) string { return "conn9" }},
		{"Offline", func(e *env, c string) string {
			e.offline(c, "conn1", session.Offline{ExpiresAt: e.now + 3600_000, ExpiryInterval: 3600})
			return "conn1"
		}},
		// The empty connection owns no session, offline or not (only
		// DeleteSession gives it a meaning, tested apart).
		{"OfflineEmptyConn", func(e *env, c string) string {
			e.offline(c, "conn1", session.Offline{ExpiresAt: e.now + 3600_000, ExpiryInterval: 3600})
			return ""
		}},
		{"OnlineEmptyConn", func(e *env, c string) string { return "" }},
	}
	for _, op := range fencedOps {
		e.run(op.name, func(e *env) {
			for _, sit := range situations {
				if op.name == "DeleteSession" && sit.name == "OfflineEmptyConn" {
					continue // DeleteSession without conn deletes an offline session
				}
				e.run(sit.name, func(e *env) {
					c := e.client("c")
					e.connect(c, "conn1", false)
					pid := e.populate(c, "conn1")
					conn := sit.prepare(e, c)
					before := e.session(c)
					e.wantErr(op.do(e, c, conn), session.ErrFenced, op.name+" from "+conn)
					e.eq("session after the fenced write", e.session(c), before)
					e.checkContents(c, kept, pid)
				})
			}
		})
	}
}

// testFencedUnknown: a fenced write to a session that does not exist fails
// (ErrFenced or ErrNotFound) and creates nothing.
func testFencedUnknown(e *env) {
	for _, op := range fencedOps {
		c := e.client("nobody-" + op.name)
		for _, conn := range []string{"conn1", ""} {
			err := op.do(e, c, conn)
			if !errors.Is(err, session.ErrFenced) && !errors.Is(err, session.ErrNotFound) {
				e.Fatalf("%s of an unknown session from %q: err = %v, want ErrFenced or ErrNotFound", op.name, conn, err)
			}
			_, err = e.st.Session(e.ctx, c)
			e.wantErr(err, session.ErrNotFound, "Session after "+op.name)
			e.eq("subscriptions", e.filters(c), []string(nil))
		}
	}
}

// testDeleteOnlineWithoutConn: DeleteSession without conn refuses an online
// session.
func testDeleteOnlineWithoutConn(e *env) {
	c := e.client("c")
	e.connect(c, "conn1", false)
	pid := e.populate(c, "conn1")
	before := e.session(c)
	e.wantErr(e.st.DeleteSession(e.ctx, c, ""), session.ErrFenced, "DeleteSession of an online session without conn")
	e.eq("session", e.session(c), before)
	e.checkContents(c, kept, pid)
}

// testDeleteOfflineWithoutConn: DeleteSession without conn removes an
// offline session with everything it holds; a new Connect starts afresh.
func testDeleteOfflineWithoutConn(e *env) {
	c := e.client("c")
	e.connect(c, "conn1", false)
	pid := e.populate(c, "conn1")
	e.offline(c, "conn1", session.Offline{ExpiresAt: e.now + 3600_000, ExpiryInterval: 3600,
		Will: will(e.topic("w"), "w", 5), WillAt: e.now + 5000})
	e.must(e.st.DeleteSession(e.ctx, c, ""), "DeleteSession of an offline session")
	_, err := e.st.Session(e.ctx, c)
	e.wantErr(err, session.ErrNotFound, "Session after DeleteSession")
	e.checkContents(c, deleted, pid)
	if err := e.st.DeleteSession(e.ctx, c, ""); !errors.Is(err, session.ErrNotFound) && !errors.Is(err, session.ErrFenced) {
		e.Fatalf("second DeleteSession: err = %v, want ErrNotFound or ErrFenced", err)
	}
	if prev := e.connect(c, "conn2", false); prev != nil {
		e.Fatalf("Connect after DeleteSession: prev = %s, want nil", show(prev))
	}
	e.checkContents(c, cleared, pid)
}

// testDeleteByOwner: the owning connection deletes its online session.
func testDeleteByOwner(e *env) {
	c := e.client("c")
	e.connect(c, "conn1", false)
	pid := e.populate(c, "conn1")
	e.must(e.st.DeleteSession(e.ctx, c, "conn1"), "DeleteSession by the owner")
	_, err := e.st.Session(e.ctx, c)
	e.wantErr(err, session.ErrNotFound, "Session after DeleteSession")
	e.checkContents(c, deleted, pid)
}

var offlineTests = []test{
	{"SetOffline", testSetOffline},
	{"Due", testDue},
	{"DueLimit", testDueLimit},
	{"ClearWillOnce", testClearWillOnce},
	{"ClearWillRefused", testClearWillRefused},
}

// testSetOffline: SetOffline clears the connection, sets the expiry and the
// pending will, and keeps the rest of the session and what it holds.
func testSetOffline(e *env) {
	for _, withWill := range []bool{true, false} {
		e.run(map[bool]string{true: "Will", false: "NoWill"}[withWill], func(e *env) {
			c := e.client("c")
			s := newSessionWithWill(c, "conn1", will(e.topic("w"), "connect-will", 9))
			e.connectSession(s, false)
			pid := e.populate(c, "conn1")
			o := session.Offline{ExpiresAt: e.now + 60_000, ExpiryInterval: 60}
			if withWill {
				o.Will, o.WillAt = will(e.topic("w"), "pending", 9), e.now+9000
			}
			e.offline(c, "conn1", o)
			want := *s
			want.Proxy, want.Conn = "", ""
			want.ExpiresAt, want.ExpiryInterval, want.Will, want.WillAt = o.ExpiresAt, o.ExpiryInterval, nil, o.WillAt
			if withWill {
				want.Will = will(e.topic("w"), "pending", 9)
			}
			got := e.session(c)
			e.eq("offline session", got, &want)
			if got.Online() {
				e.Fatalf("offline session reports Online")
			}
			e.checkContents(c, kept, pid)
		})
	}
}

// testDue: Due returns the offline sessions whose pending will is due or
// that have expired, and no others.
func testDue(e *env) {
	now := dueBase
	w := will(e.topic("w"), "w", 10)
	rows := []struct {
		name   string
		o      *session.Offline // nil: stays online
		after  func(e *env, c string)
		wanted bool
	}{
		{"WillDue", &session.Offline{ExpiresAt: now + 60_000, ExpiryInterval: 60, Will: w, WillAt: now - 1}, nil, true},
		{"WillDueNow", &session.Offline{ExpiresAt: now + 60_000, ExpiryInterval: 60, Will: w, WillAt: now}, nil, true},
		{"WillLater", &session.Offline{ExpiresAt: now + 60_000, ExpiryInterval: 60, Will: w, WillAt: now + 1}, nil, false},
		{"Expired", &session.Offline{ExpiresAt: now - 1, ExpiryInterval: 60}, nil, true},
		{"ExpiresNow", &session.Offline{ExpiresAt: now, ExpiryInterval: 60}, nil, true},
		{"ExpiredWillLater", &session.Offline{ExpiresAt: now - 1, ExpiryInterval: 60, Will: w, WillAt: now + 1}, nil, true},
		{"ExpiresLater", &session.Offline{ExpiresAt: now + 1, ExpiryInterval: 60}, nil, false},
		{"Never", &session.Offline{ExpiryInterval: session.NeverExpires}, nil, false},
		{"Online", nil, nil, false},
		{"Reconnected", &session.Offline{ExpiryInterval: session.NeverExpires, Will: w, WillAt: now - 1}, func(e *env, c string) {
			e.connect(c, "conn2", false)
		}, false},
		{"WillCleared", &session.Offline{ExpiresAt: now + 60_000, ExpiryInterval: 60, Will: w, WillAt: now - 1}, func(e *env, c string) {
			e.must(e.st.ClearWill(e.ctx, c, now-1), "ClearWill")
		}, false},
		{"Deleted", &session.Offline{ExpiresAt: now - 1, ExpiryInterval: 60, Will: w, WillAt: now - 1}, func(e *env, c string) {
			e.must(e.st.DeleteSession(e.ctx, c, ""), "DeleteSession")
		}, false},
	}
	want := map[string]bool{}
	for _, r := range rows {
		c := e.client(r.name)
		e.connectSession(newSessionWithWill(c, "conn1", w), false)
		if r.o != nil {
			e.offline(c, "conn1", *r.o)
		}
		if r.after != nil {
			r.after(e, c)
		}
		if r.wanted {
			want[c] = true
		}
	}
	due, err := e.st.Due(e.ctx, now, 10_000)
	e.must(err, "Due")
	got := map[string]bool{}
	for _, s := range due {
		if !e.mine(s.ClientID) {
			continue
		}
		if got[s.ClientID] {
			e.Fatalf("Due returned %s twice", s.ClientID)
		}
		got[s.ClientID] = true
		e.eq("due session", s, e.session(s.ClientID))
	}
	e.eq("due sessions", got, want)
}

// testDueLimit: Due returns at most limit sessions.
func testDueLimit(e *env) {
	var ids []string
	for i := range 3 {
		c := e.client(string(rune('a' + i)))
		ids = append(ids, c)
		e.connect(c, "conn1", false)
		e.offline(c, "conn1", session.Offline{ExpiresAt: dueBase - int64(i), ExpiryInterval: 1})
	}
	for _, limit := range []int{1, 2} {
		due, err := e.st.Due(e.ctx, dueBase, limit)
		e.must(err, "Due")
		if len(due) != limit {
			e.Fatalf("Due with limit %d returned %d sessions (at least 3 are due)", limit, len(due))
		}
	}
	due, err := e.st.Due(e.ctx, dueBase, 10_000)
	e.must(err, "Due")
	n := 0
	for _, s := range due {
		if e.mine(s.ClientID) {
			n++
		}
	}
	if n != len(ids) {
		e.Fatalf("Due returned %d of this test's %d due sessions", n, len(ids))
	}
}

// testClearWillOnce: ClearWill drops the pending will once; then there is
// none to drop.
func testClearWillOnce(e *env) {
	c := e.client("c")
	e.connect(c, "conn1", false)
	o := session.Offline{ExpiresAt: e.now + 60_000, ExpiryInterval: 60, Will: will(e.topic("w"), "w", 5), WillAt: e.now + 5000}
	e.offline(c, "conn1", o)
	want := e.session(c)
	e.must(e.st.ClearWill(e.ctx, c, o.WillAt), "ClearWill")
	want.Will, want.WillAt = nil, 0
	e.eq("session after ClearWill", e.session(c), want)
	e.wantErr(e.st.ClearWill(e.ctx, c, o.WillAt), session.ErrNotFound, "second ClearWill")
}

// testClearWillRefused: ClearWill returns ErrNotFound and changes nothing
// unless the session is offline with a pending will due at willAt.
func testClearWillRefused(e *env) {
	at := e.now + 5000
	pending := func(e *env, c string) {
		e.offline(c, "conn1", session.Offline{ExpiresAt: e.now + 60_000, ExpiryInterval: 60, Will: will(e.topic("w"), "w", 5), WillAt: at})
	}
	for _, tc := range []struct {
		name    string
		prepare func(e *env, c string) // nil: no session
		willAt  int64
	}{
		{"StaleWillAt", pending, at - 1},
		{"LaterWillAt", pending, at + 1},
		{"Online", func(*env, string) {}, 0},
		{"Reconnected", func(e *env, c string) {
			pending(e, c)
			e.connectSession(newSessionWithWill(c, "conn2", will(e.topic("w"), "new", 5)), false)
		}, at},
		{"NoWill", func(e *env, c string) {
			e.offline(c, "conn1", session.Offline{ExpiresAt: e.now + 60_000, ExpiryInterval: 60})
		}, 0},
		{"Unknown", nil, at},
	} {
		e.run(tc.name, func(e *env) {
			c := e.client("c")
			var before *session.Session
			if tc.prepare != nil {
				e.connectSession(newSessionWithWill(c, "conn1", will(e.topic("w"), "w", 5)), false)
				tc.prepare(e, c)
				before = e.session(c)
			}
			e.wantErr(e.st.ClearWill(e.ctx, c, tc.willAt), session.ErrNotFound, "ClearWill")
			if before != nil {
				e.eq("session after a refused ClearWill", e.session(c), before)
			}
		})
	}
}
