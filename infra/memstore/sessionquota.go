package memstore

import (
	"context"
	"fmt"

	"github.com/mqttless/mqttless/core/session"
)

// ConnectWithin implements session.SessionQuota: the limits are checked
// and the session written under st.mu, one step.
func (st *Store) ConnectWithin(_ context.Context, s *session.Session, clean bool, now int64, lim session.SessionLimits) (*session.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[s.ClientID]
	if rec != nil && !rec.s.MayConnect(s.Identity, now) {
		return nil, fmt.Errorf("memstore: connect %q as %q: %w", s.ClientID, s.Identity, session.ErrNotOwner)
	}
	switch {
	case rec == nil && lim.Sessions > 0 && len(st.sessions) >= lim.Sessions:
		return nil, fmt.Errorf("memstore: connect %q: %d sessions: %w", s.ClientID, len(st.sessions), session.ErrQuotaExceeded)
	case (rec == nil || rec.s.Identity != s.Identity) && lim.Identity > 0 && st.identities[s.Identity] >= lim.Identity:
		return nil, fmt.Errorf("memstore: connect %q as %q: %d sessions: %w", s.ClientID, s.Identity,
			st.identities[s.Identity], session.ErrQuotaExceeded)
	}
	var prev *session.Session
	if rec != nil {
		prev = cloneSession(rec.s)
		if clean || !rec.s.Kept(s.Identity, now) {
			st.clear(rec)
		}
		st.countIdentity(rec.s.Identity, -1)
	} else {
		rec = &record{subs: map[string]session.Subscription{}, inbound: map[uint16]*session.Inbound{}}
		st.sessions[s.ClientID] = rec
	}
	rec.s = *cloneSession(*s)
	rec.s.ExpiresAt, rec.s.WillAt = 0, 0
	st.countIdentity(s.Identity, 1)
	return prev, nil
}

// countIdentity adds delta to the sessions counted for identity, under
// st.mu.
func (st *Store) countIdentity(identity string, delta int) {
	if st.identities[identity] += delta; st.identities[identity] <= 0 {
		delete(st.identities, identity)
	}
}

// SessionCount implements session.SessionCounter.
func (st *Store) SessionCount(context.Context) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.sessions), nil
}
