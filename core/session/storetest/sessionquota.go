package storetest

import (
	"sync"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/session"
)

// sessionQuotaTests cover session.SessionQuota, which
// Config.MaxSessions and MaxUserSessions rely on. The total count is
// global, so those tests use limits that any store holding this test's
// sessions is past (Sessions 1) or far from; the identity of each test
// is its own, so its count is exact.
var sessionQuotaTests = []test{
	{"IdentityLimit", testSessionQuotaIdentity},
	{"TotalLimit", testSessionQuotaTotal},
	{"TakeOver", testSessionQuotaTakeOver},
	{"Concurrent", testSessionQuotaConcurrent},
}

// quota returns the store's SessionQuota, skipping the test when it has
// none.
func (e *env) quota() session.SessionQuota {
	e.Helper()
	q, ok := e.st.(session.SessionQuota)
	if !ok {
		e.Skip("the store has no session.SessionQuota")
	}
	return q
}

// connectWithin connects clientID on conn as identity within lim.
func (e *env) connectWithin(clientID, conn, identity string, clean bool, lim session.SessionLimits) error {
	s := newSession(clientID, conn)
	s.Identity = identity
	_, err := e.quota().ConnectWithin(e.ctx, s, clean, e.now, lim)
	return err
}

// wantNoSession fails the test when clientID has a session.
func (e *env) wantNoSession(clientID, what string) {
	e.Helper()
	_, err := e.st.Session(e.ctx, clientID)
	e.wantErr(err, session.ErrNotFound, what)
}

// testSessionQuotaIdentity: an identity holding lim.Identity sessions is
// refused a new one (ErrQuotaExceeded, nothing written), may still
// connect to the ones it has, clean or not, and gets a new one once one
// of its own is deleted; another identity is not affected.
func testSessionQuotaIdentity(e *env) {
	who, lim := "user:"+e.id, session.SessionLimits{Identity: 2}
	x, y, z := e.client("x"), e.client("y"), e.client("z")
	e.must(e.connectWithin(x, "c1", who, false, lim), "first session")
	e.must(e.connectWithin(y, "c1", who, false, lim), "second session")
	e.wantErr(e.connectWithin(z, "c1", who, false, lim), session.ErrQuotaExceeded, "third session")
	e.wantNoSession(z, "refused session")
	e.must(e.connectWithin(x, "c2", who, false, lim), "resume at the limit")
	e.must(e.connectWithin(y, "c2", who, true, lim), "clean start at the limit")
	e.must(e.connectWithin(e.client("o"), "c1", "user:other-"+e.id, false, lim), "another identity")
	e.must(e.st.DeleteSession(e.ctx, x, "c2"), "DeleteSession")
	e.must(e.connectWithin(z, "c1", who, false, lim), "a session after a deletion")
}

// testSessionQuotaTotal: lim.Sessions bounds new sessions, whatever the
// identity, and never a session that exists.
func testSessionQuotaTotal(e *env) {
	a, b := e.client("a"), e.client("b")
	e.must(e.connectWithin(a, "c1", owner, false, session.SessionLimits{}), "no limit")
	full := session.SessionLimits{Sessions: 1}
	e.wantErr(e.connectWithin(b, "c1", owner, false, full), session.ErrQuotaExceeded, "a new session past Sessions")
	e.wantErr(e.connectWithin(b, "c1", auth.Anonymous, false, full), session.ErrQuotaExceeded, "an anonymous one")
	e.wantNoSession(b, "refused session")
	e.must(e.connectWithin(a, "c2", owner, true, full), "an existing session past Sessions")
	e.must(e.connectWithin(b, "c1", owner, false, session.SessionLimits{Sessions: 1 << 30}), "a new session within Sessions")
}

// testSessionQuotaTakeOver: taking over a session of another identity (an
// anonymous one) gives the taker a session, so it is held to
// lim.Identity; refused, it changes nothing. The taken session moves to
// the taker's count.
func testSessionQuotaTakeOver(e *env) {
	who := "user:" + e.id
	anon, x := e.client("anon"), e.client("x")
	e.must(e.connectWithin(anon, "c1", auth.Anonymous, false, session.SessionLimits{}), "anonymous session")
	e.must(e.connectWithin(x, "c1", who, false, session.SessionLimits{}), "x")
	e.wantErr(e.connectWithin(anon, "c2", who, false, session.SessionLimits{Identity: 1}), session.ErrQuotaExceeded,
		"taking over an anonymous session past Identity")
	if s := e.session(anon); s.Identity != auth.Anonymous || s.Conn != "c1" {
		e.Fatalf("refused take-over changed the session: identity %q, conn %q", s.Identity, s.Conn)
	}
	e.must(e.connectWithin(anon, "c2", who, false, session.SessionLimits{Identity: 2}), "take-over within Identity")
	e.wantErr(e.connectWithin(e.client("y"), "c1", who, false, session.SessionLimits{Identity: 2}), session.ErrQuotaExceeded,
		"a new session after the take-over")
}

// testSessionQuotaConcurrent: concurrent Connects of new sessions by one
// identity pass lim.Identity by none: the check and the write are one
// step.
func testSessionQuotaConcurrent(e *env) {
	const (
		tries = 12
		limit = 3
	)
	who := "user:" + e.id
	ids := make([]string, tries)
	for i := range ids {
		ids[i] = e.client(string(rune('a' + i)))
	}
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			errs[i] = e.connectWithin(ids[i], "c1", who, false, session.SessionLimits{Identity: limit, Sessions: 1 << 30})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			e.session(ids[i])
		default:
			e.wantErr(err, session.ErrQuotaExceeded, "concurrent Connect "+ids[i])
			e.wantNoSession(ids[i], "refused concurrent Connect")
		}
	}
	if won != limit {
		e.Fatalf("%d of %d concurrent new sessions stored with Identity %d", won, tries, limit)
	}
}
