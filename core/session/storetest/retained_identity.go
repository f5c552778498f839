package storetest

import (
	"fmt"
	"sync"

	"github.com/mqttless/mqttless/core/session"
)

// retainedIdentityTests cover the per-identity limits of SetRetained
// (RetainedLimits.IdentityCount and IdentityBytes), which
// Config.MaxUserRetained and MaxUserRetainedBytes rely on. Each test's
// identities are its own, so their counts are exact on a shared store.
var retainedIdentityTests = []test{
	{"IdentityCount", testRetainedIdentityCount},
	{"IdentityBytes", testRetainedIdentityBytes},
	{"IdentityConcurrent", testRetainedIdentityConcurrent},
}

// setRetainedAs sets the retained message of name (under the test's
// prefix) with payload, recorded with identity, within lim.
func (e *env) setRetainedAs(name, payload, identity string, lim session.RetainedLimits) (*session.Message, error) {
	topic := e.topic(name)
	e.tr.mu.Lock()
	e.tr.retained[topic] = true
	e.tr.mu.Unlock()
	m := e.retainedMsg(topic, payload)
	m.Identity = identity
	return m, e.st.SetRetained(e.ctx, m, lim)
}

// testRetainedIdentityCount: an identity holding IdentityCount messages
// is refused another (nothing stored) while other identities are not; it
// may replace its own; a message that another identity replaces, or that
// anyone removes, stops counting for it. The identity is kept with the
// message.
func testRetainedIdentityCount(e *env) {
	who, other := "user:"+e.id, "user:other-"+e.id
	lim := session.RetainedLimits{IdentityCount: 2}
	_, err := e.setRetainedAs("t1", "a", who, lim)
	e.must(err, "first message")
	_, err = e.setRetainedAs("t2", "a", who, lim)
	e.must(err, "second message")
	_, err = e.setRetainedAs("t3", "a", who, lim)
	e.wantErr(err, session.ErrQuotaExceeded, "third message of one identity")
	e.eq("refused", e.retainedMine(e.topic("t3")), []*session.Message(nil))
	t3, err := e.setRetainedAs("t3", "a", other, lim)
	e.must(err, "another identity's message")
	e.eq("identity kept", e.retainedMine(e.topic("t3")), []*session.Message{t3})
	_, err = e.setRetainedAs("t1", "b", who, lim)
	e.must(err, "replacing one's own at the limit")

	// other takes t2 over: who holds 1, other 2.
	_, err = e.setRetainedAs("t2", "b", other, session.RetainedLimits{IdentityCount: 3})
	e.must(err, "another identity replacing it")
	_, err = e.setRetainedAs("t4", "a", who, lim)
	e.must(err, "a message after another identity replaced one")
	_, err = e.setRetainedAs("t5", "a", who, lim)
	e.wantErr(err, session.ErrQuotaExceeded, "past the limit again")
	_, err = e.setRetainedAs("t5", "a", other, lim)
	e.wantErr(err, session.ErrQuotaExceeded, "the identity that took one over")

	// Removing frees, whoever removes.
	e.must(e.st.SetRetained(e.ctx, &session.Message{Topic: e.topic("t1"), Identity: other}, lim), "remove t1")
	_, err = e.setRetainedAs("t5", "a", who, lim)
	e.must(err, "a message after a removal")
}

// testRetainedIdentityBytes: IdentityBytes bounds the bytes of one
// identity's messages; replacing one's own by a larger one that would
// pass it is refused, by one no larger is not; a removal frees its bytes.
func testRetainedIdentityBytes(e *env) {
	who := "user:" + e.id
	size := int64(e.retainedMsg(e.topic("b1"), "xxxx").Size()) // the topics b1, b2, b3 have one length
	lim := session.RetainedLimits{IdentityBytes: 2 * size}
	_, err := e.setRetainedAs("b1", "xxxx", who, lim)
	e.must(err, "first message")
	_, err = e.setRetainedAs("b2", "xxxx", who, lim)
	e.must(err, "second message, up to the limit")
	_, err = e.setRetainedAs("b3", "x", who, lim)
	e.wantErr(err, session.ErrQuotaExceeded, "a message past IdentityBytes")
	_, err = e.setRetainedAs("b1", "xxxxx", who, lim)
	e.wantErr(err, session.ErrQuotaExceeded, "replacing one's own by a larger one past IdentityBytes")
	_, err = e.setRetainedAs("b1", "xx", who, lim)
	e.must(err, "replacing one's own by a smaller one")
	e.must(e.st.SetRetained(e.ctx, &session.Message{Topic: e.topic("b2")}, lim), "remove b2")
	_, err = e.setRetainedAs("b3", "x", who, lim)
	e.must(err, "a message within the bytes freed")
}

// testRetainedIdentityConcurrent: concurrent SetRetained of new topics by
// one identity pass IdentityCount by none.
func testRetainedIdentityConcurrent(e *env) {
	const tries, limit = 10, 3
	who := "user:" + e.id
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			_, errs[i] = e.setRetainedAs(fmt.Sprintf("c%d", i), "a", who, session.RetainedLimits{IdentityCount: limit})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		if err == nil {
			won++
			continue
		}
		e.wantErr(err, session.ErrQuotaExceeded, fmt.Sprintf("concurrent SetRetained %d", i))
	}
	if n := len(e.retainedMine(e.topic("+"))); won != limit || n != limit {
		e.Fatalf("%d of %d concurrent retained messages accepted, %d stored, with IdentityCount %d", won, tries, n, limit)
	}
}
