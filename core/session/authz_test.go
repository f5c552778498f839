package session_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// authStore is an in-memory auth.Store for the handler tests.
type authStore struct {
	mu    sync.Mutex
	users map[string]*auth.User
	rules []auth.Rule
	err   error // returned by User and Rules when set
}

func (s *authStore) User(_ context.Context, name string) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if u, ok := s.users[name]; ok {
		return u, nil
	}
	return nil, auth.ErrNotFound
}

func (s *authStore) PutUser(_ context.Context, u *auth.User, replace bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.Name]; ok && !replace {
		return auth.ErrExists
	}
	s.users[u.Name] = u
	return nil
}

func (s *authStore) DeleteUser(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, name)
	return nil
}

func (s *authStore) Users(context.Context) ([]*auth.User, error) { return nil, nil }

func (s *authStore) Rules(context.Context) ([]auth.Rule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return slices.Clone(s.rules), nil
}

func (s *authStore) PutRule(_ context.Context, r auth.Rule) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, r)
	return r.ID, nil
}

func (s *authStore) DeleteRule(context.Context, string) error { return nil }

// authEnv is an env whose handler checks clients against users (name to
// password) and rules, with the given options. The hashes are made at
// bcrypt's lowest cost: the race detector makes bcrypt slow.
func authEnv(t *testing.T, cfg session.Config, opts auth.Options, users map[string]string, rules ...auth.Rule) (*env, *authStore) {
	t.Helper()
	as := &authStore{users: map[string]*auth.User{}, rules: rules}
	for name, pw := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		as.users[name] = &auth.User{Name: name, Hash: h}
	}
	e := newEnv(t, cfg)
	e.opts = []session.Option{session.WithAuth(auth.NewChecker(as, opts))}
	e.h = e.newHandler()
	return e, as
}

// login sets a username and a password.
func login(user, password string) connectOpt {
	return func(p *packet.Connect) {
		p.UsernameFlag, p.Username = true, user
		p.PasswordFlag, p.Password = true, []byte(password)
	}
}

// username sets a username without a password.
func username(user string) connectOpt {
	return func(p *packet.Connect) { p.UsernameFlag, p.Username = true, user }
}

func allowAll() auth.Rule { return auth.Rule{Access: auth.Both, Filter: "#"} }

func rule(a auth.Access, filter string) auth.Rule { return auth.Rule{Access: a, Filter: filter} }

func denyRule(a auth.Access, filter string) auth.Rule {
	return auth.Rule{Access: a, Filter: filter, Deny: true}
}

// [MQTT-3.1.4-2]: the server authenticates the CONNECT and refuses a
// client that fails with 0x86 or 0x87 at 5.0, return code 4 or 5 at 3.1.1
// (section 3.2.2.2; 3.1.1 section 3.2.2.3), and closes the connection
// [MQTT-3.2.2-7]. A refused client costs no session write.
func TestAuthConnect(t *testing.T) {
	users := map[string]string{"alice": "pw"}
	cases := []struct {
		name     string
		spec     string
		opts     auth.Options
		rules    []auth.Rule
		cert     string
		connect  []connectOpt
		wantRC   packet.ReasonCode // Success: accepted
		wantUser string
		// why is the reason the reply gives the proxy for a refusal
		// (refusal.go); the client cannot tell them apart.
		why string
	}{
		{name: "right password", spec: "[MQTT-3.1.4-2]", connect: []connectOpt{login("alice", "pw")}, wantUser: "alice"},
		{name: "bad password", spec: "[MQTT-3.1.4-2] 0x86 / return code 4", connect: []connectOpt{login("alice", "wrong")},
			wantRC: packet.BadUsernameOrPassword, why: session.RefusedWrongPassword},
		{name: "no password", spec: "[MQTT-3.1.4-2] 0x86 / return code 4", connect: []connectOpt{username("alice")},
			wantRC: packet.BadUsernameOrPassword, why: session.RefusedWrongPassword},
		{name: "unknown user", spec: "[MQTT-3.1.4-2] 0x86 / return code 4", connect: []connectOpt{login("bob", "pw")},
			wantRC: packet.BadUsernameOrPassword, why: session.RefusedUnknownUser},
		{name: "anonymous refused", spec: "[MQTT-3.1.4-2] 0x87 / return code 5", wantRC: packet.NotAuthorized, why: session.RefusedAnonymous},
		{name: "anonymous allowed", spec: "[MQTT-3.1.4-2]", opts: auth.Options{AllowAnonymous: true}, wantUser: ""},
		{name: "certificate identity", spec: "[MQTT-3.1.4-2] (client certificate)", opts: auth.Options{CertIdentity: true},
			cert: "device-7", wantUser: "device-7"},
		{name: "certificate identity and its own username", spec: "[MQTT-3.1.4-2] (client certificate)", opts: auth.Options{CertIdentity: true},
			cert: "device-7", connect: []connectOpt{login("device-7", "not checked")}, wantUser: "device-7"},
		{name: "certificate identity and another username", spec: "[MQTT-3.1.4-2] 0x86 / return code 4 (client certificate)", opts: auth.Options{CertIdentity: true},
			cert: "device-7", connect: []connectOpt{login("alice", "pw")}, wantRC: packet.BadUsernameOrPassword, why: session.RefusedCertUsername},
		{name: "certificate identity not trusted", spec: "[MQTT-3.1.4-2]", cert: "device-7",
			connect: []connectOpt{login("alice", "wrong")}, wantRC: packet.BadUsernameOrPassword, why: session.RefusedWrongPassword},
		{name: "will topic allowed", spec: "[MQTT-3.1.4-2]", rules: []auth.Rule{rule(auth.Publish, "status/%u")},
			connect: []connectOpt{login("alice", "pw"), will("status/alice", "gone", 0, false, 0)}, wantUser: "alice"},
		{name: "will topic denied", spec: "[MQTT-3.1.4-2] 0x87 / return code 5", rules: []auth.Rule{rule(auth.Publish, "status/%u")},
			connect: []connectOpt{login("alice", "pw"), will("status/other", "gone", 0, false, 0)}, wantRC: packet.NotAuthorized, why: session.RefusedNotAuthorized},
		{name: "will under %c of an unbound client id", spec: "[MQTT-3.1.4-2] 0x87 / return code 5", rules: []auth.Rule{rule(auth.Publish, "status/%c")},
			connect: []connectOpt{login("alice", "pw"), will("status/c", "gone", 0, false, 0)}, wantRC: packet.NotAuthorized, why: session.RefusedNotAuthorized},
		{name: "will to $SYS denied", spec: "[MQTT-3.1.4-2] 0x87 / return code 5", opts: auth.Options{AllowAnonymous: true},
			connect: []connectOpt{will("$SYS/broker/x", "gone", 0, false, 0)}, wantRC: packet.NotAuthorized, why: session.RefusedNotAuthorized},
	}
	for _, tc := range cases {
		for _, v := range versions() {
			t.Run(tc.name+"/"+v.String(), func(t *testing.T) {
				e, _ := authEnv(t, session.Config{}, tc.opts, users, tc.rules...)
				c := e.open(v)
				r, err := c.handle(&session.Event{Kind: session.KindPackets, CertIdentity: tc.cert,
					Packets: [][]byte{connect(v, "c", tc.connect...)}})
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				ack := one[*packet.Connack](t, c.out(r))
				if ack.ReasonCode != tc.wantRC {
					t.Fatalf("CONNACK 0x%02X, want 0x%02X %s", byte(ack.ReasonCode), byte(tc.wantRC), tc.spec)
				}
				_, serr := e.store.Session(t.Context(), "c")
				if tc.wantRC != packet.Success {
					if len(r.Refused) != 1 || r.Refused[0] != tc.why {
						t.Errorf("reply.Refused %q, want [%s]", r.Refused, tc.why)
					}
					if !r.Close || r.State != nil {
						t.Errorf("refused CONNECT: close %v, state %+v [MQTT-3.2.2-7]", r.Close, r.State)
					}
					if !errors.Is(serr, session.ErrNotFound) {
						t.Errorf("refused client has a session (err %v): it cost a store write", serr)
					}
					return
				}
				if len(r.Refused) != 0 {
					t.Errorf("accepted CONNECT: reply.Refused %q", r.Refused)
				}
				if r.Close || r.State == nil || serr != nil {
					t.Fatalf("accepted CONNECT: close %v, state %+v, session err %v", r.Close, r.State, serr)
				}
				if r.State.Username != tc.wantUser {
					t.Errorf("state username %q, want %q", r.State.Username, tc.wantUser)
				}
			})
		}
	}
}

// A failure to read the users is a server error, not a refusal: the
// handler returns it (the proxy closes the connection) and writes nothing.
func TestAuthConnectStoreError(t *testing.T) {
	e, as := authEnv(t, session.Config{}, auth.Options{}, nil)
	as.err = errors.New("users unreachable")
	c := e.open(v5)
	r, err := c.handle(&session.Event{Kind: session.KindPackets, Packets: [][]byte{connect(v5, "c", login("a", "b"))}})
	if !errors.Is(err, as.err) {
		t.Fatalf("Handle: %v, want the store's error", err)
	}
	if len(r.Packets) != 0 || r.State != nil {
		t.Errorf("reply %s, state %+v; want nothing", describeAll(c.out(r)), r.State)
	}
	if _, serr := e.store.Session(t.Context(), "c"); !errors.Is(serr, session.ErrNotFound) {
		t.Errorf("session written: %v", serr)
	}
}

// A denied filter fails alone: 0x87 at 5.0, 0x80 at 3.1.1 (section 3.9.3),
// and is not stored; the others are granted [MQTT-3.8.4-6].
func TestAuthSubscribe(t *testing.T) {
	rules := []auth.Rule{
		rule(auth.Both, "users/%u/#"),
		rule(auth.Subscribe, "devices/%c/#"),
		rule(auth.Subscribe, "public/#"),
		denyRule(auth.Subscribe, "public/secret/#"),
	}
	cases := []struct {
		name   string
		spec   string
		user   string
		client string
		subs   []packet.Subscription
		want   []packet.ReasonCode // at 5.0; errors are 0x80 at 3.1.1
	}{
		{name: "%u substitution", spec: "3.9.3 0x87", user: "alice", client: "c1",
			subs: []packet.Subscription{sub("users/alice/#", 1), sub("users/bob/#", 1), sub("users/+/x", 0)},
			want: []packet.ReasonCode{1, packet.NotAuthorized, packet.NotAuthorized}},
		{name: "%c substitution", spec: "3.9.3 0x87", user: "alice", client: "alice", // bound: the username itself
			subs: []packet.Subscription{sub("devices/alice/+", 2), sub("devices/dev2/+", 2)},
			want: []packet.ReasonCode{2, packet.NotAuthorized}},
		{name: "%c of an unbound client id", spec: "3.9.3 0x87", user: "alice", client: "dev1",
			subs: []packet.Subscription{sub("devices/dev1/+", 2)},
			want: []packet.ReasonCode{packet.NotAuthorized}},
		{name: "wildcard client id gains nothing", spec: "3.9.3 0x87", user: "alice", client: "+",
			subs: []packet.Subscription{sub("devices/+/#", 0)},
			want: []packet.ReasonCode{packet.NotAuthorized}},
		// A deny rule refuses what it covers; public/#, which it only
		// overlaps, is granted and its deliveries checked (TestAuthDeliveryDeny).
		{name: "deny rule wins", spec: "3.9.3 0x87", user: "alice", client: "c1",
			subs: []packet.Subscription{sub("public/news", 1), sub("public/secret/x", 1), sub("public/#", 1), sub("#", 1)},
			want: []packet.ReasonCode{1, packet.NotAuthorized, 1, packet.NotAuthorized}},
		{name: "shared subscription checked on its filter", spec: "3.9.3 0x87 [MQTT-4.8.2-1]", user: "alice", client: "c1",
			subs: []packet.Subscription{sub("$share/g/public/news", 1), sub("$share/g/private", 1)},
			want: []packet.ReasonCode{1, packet.NotAuthorized}},
		{name: "invalid filter still 0x8F", spec: "3.9.3 0x8F", user: "alice", client: "c1",
			subs: []packet.Subscription{sub("users/alice/#/x", 1)},
			want: []packet.ReasonCode{packet.TopicFilterInvalid}},
	}
	for _, tc := range cases {
		for _, v := range versions() {
			t.Run(tc.name+"/"+v.String(), func(t *testing.T) {
				e, _ := authEnv(t, session.Config{}, auth.Options{}, map[string]string{tc.user: "pw"}, rules...)
				c, _, _ := e.connect(v, tc.client, login(tc.user, "pw"))
				ack := one[*packet.Suback](t, c.out(c.send(subscribe(v, 5, tc.subs...))))
				want := slices.Clone(tc.want)
				granted := 0
				for i, rc := range want {
					if rc.IsError() && v < v5 {
						want[i] = packet.UnspecifiedError // 0x80 at 3.1.1
					}
					if !rc.IsError() {
						granted++
					}
				}
				if !reflect.DeepEqual(ack.ReasonCodes, want) {
					t.Fatalf("SUBACK %v, want %v %s", ack.ReasonCodes, want, tc.spec)
				}
				stored, err := e.store.Subscriptions(t.Context(), tc.client)
				if err != nil || len(stored) != granted {
					t.Fatalf("%d subscriptions stored (%v), want %d: a denied filter was stored", len(stored), err, granted)
				}
			})
		}
	}
}

// A denied PUBLISH goes nowhere and is not retained. At 5.0 QoS 1 and 2
// are answered 0x87 (sections 3.4.2.1 and 3.5.2.1) and QoS 0 dropped; at
// 3.1.1, which cannot say so, it is acknowledged as usual
// [MQTT-3.3.5-2]. $SYS topics are denied to every client, with or without
// rules.
func TestAuthPublish(t *testing.T) {
	rules := []auth.Rule{
		rule(auth.Subscribe, "#"),
		rule(auth.Subscribe, "$SYS/#"), // '#' does not cover '$' topics [MQTT-4.7.2-1]
		rule(auth.Publish, "users/%u/#"),
		rule(auth.Publish, "open/#"),
		rule(auth.Publish, "$SYS/#"), // no use: clients never publish to $SYS
		denyRule(auth.Publish, "open/ro/#"),
	}
	cases := []struct {
		name    string
		spec    string
		noAuth  bool // the handler has no WithAuth
		user    string
		topic   string
		allowed bool
	}{
		{name: "allowed", spec: "", user: "alice", topic: "open/x", allowed: true},
		{name: "%u substitution", spec: "", user: "alice", topic: "users/alice/x", allowed: true},
		{name: "another user's tree", spec: "[MQTT-3.3.5-2] 0x87", user: "alice", topic: "users/bob/x"},
		{name: "username with a '/' gains nothing", spec: "[MQTT-3.3.5-2] 0x87", user: "x/y", topic: "users/x/y/z"},
		{name: "deny rule wins", spec: "[MQTT-3.3.5-2] 0x87", user: "alice", topic: "open/ro/x"},
		{name: "no rule allows", spec: "[MQTT-3.3.5-2] 0x87", user: "alice", topic: "elsewhere"},
		{name: "$SYS", spec: "[MQTT-3.3.5-2] 0x87", user: "alice", topic: "$SYS/broker/uptime"},
		{name: "$SYS without auth", spec: "[MQTT-3.3.5-2] 0x87", noAuth: true, topic: "$SYS/broker/uptime"},
		{name: "$SYS level alone without auth", spec: "[MQTT-3.3.5-2] 0x87", noAuth: true, topic: "$SYS"},
		{name: "other $ topics without auth", spec: "", noAuth: true, topic: "$other/x", allowed: true},
	}
	for _, tc := range cases {
		for _, v := range versions() {
			for q := byte(0); q <= 2; q++ {
				t.Run(tc.name+"/"+v.String()+"/QoS"+string('0'+q), func(t *testing.T) {
					var e *env
					var opts []connectOpt
					if tc.noAuth {
						e = newEnv(t, session.Config{})
					} else {
						e, _ = authEnv(t, session.Config{}, auth.Options{}, map[string]string{tc.user: "pw", "sub": "pw"}, rules...)
						opts = []connectOpt{login(tc.user, "pw")}
					}
					var subOpts []connectOpt
					if !tc.noAuth {
						subOpts = []connectOpt{login("sub", "pw")}
					}
					s, _, _ := e.connectOn("proxy-S", v5, "s", subOpts...)
					s.sub(sub("#", 2), sub(tc.topic, 2))
					pub, _, _ := e.connect(v, "pub", opts...)
					r := pub.send(publish(v, tc.topic, "m", qos(q, 7), retained()))
					got := pub.out(r)
					delivered := len(publishes(s.recv(r))) > 0
					if delivered != tc.allowed {
						t.Fatalf("delivered %v, want %v %s", delivered, tc.allowed, tc.spec)
					}
					retainedMsgs, err := e.store.RetainedPage(t.Context(), tc.topic, "", 1000, 1<<30)
					if err != nil || (len(retainedMsgs) > 0) != tc.allowed {
						t.Errorf("%d retained messages (%v), allowed %v", len(retainedMsgs), err, tc.allowed)
					}
					if r.Close {
						t.Fatalf("connection closed")
					}
					wantRC := packet.Success
					if !tc.allowed && v == v5 {
						wantRC = packet.NotAuthorized
					}
					switch q {
					case 0:
						wantTypes(t, got)
					case 1:
						if ack := one[*packet.Puback](t, got); ack.PacketID != 7 || ack.ReasonCode != wantRC {
							t.Fatalf("got %s, want PUBACK 0x%02X %s", describe(ack), byte(wantRC), tc.spec)
						}
					case 2:
						if rec := one[*packet.Pubrec](t, got); rec.PacketID != 7 || rec.ReasonCode != wantRC {
							t.Fatalf("got %s, want PUBREC 0x%02X %s", describe(rec), byte(wantRC), tc.spec)
						}
						if !tc.allowed {
							if pub.state.Pending != 0 {
								t.Errorf("a denied QoS 2 message counts against Receive Maximum")
							}
							if v < v5 {
								// The exchange completes as usual.
								comp := one[*packet.Pubcomp](t, pub.out(pub.send(pubrel(v, 7))))
								if comp.PacketID != 7 {
									t.Errorf("got %s", describe(comp))
								}
							}
						}
					}
				})
			}
		}
	}
}

// Access rules are read through the checker's cache, so a handler per
// call (as in Lambda) shares them when it shares the Checker.
func TestAuthFreshHandlers(t *testing.T) {
	e, _ := authEnv(t, session.Config{}, auth.Options{}, map[string]string{"alice": "pw"}, rule(auth.Both, "a/#"))
	e.fresh = true
	c, _, _ := e.connect(v5, "c", login("alice", "pw"))
	if c.state.Username != "alice" {
		t.Fatalf("state username %q", c.state.Username)
	}
	ack := one[*packet.Puback](t, c.out(c.send(publish(v5, "b", "x", qos(1, 1)))))
	if ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("got %s after a JSON round trip of the state, want 0x87", describe(ack))
	}
}
