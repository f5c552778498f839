package e2e_test

// The checker of the fault-injection harness (issue 15), in the manner of
// Jepsen: the clients of a scenario record what they did and saw in a
// history (what was sent, what the broker acknowledged, what arrived at
// which subscriber with which QoS and DUP flag, when connections came and
// went, when faults were on and proxies died), and check reads the
// history afterwards and reports every broken promise:
//
//   - every acknowledged QoS 1/2 message (PUBACK, or PUBREC at QoS 2,
//     received by its publisher) reaches, at least once, every session
//     subscribed to its topic from before it was sent until the end (never
//     cleaned) and connected at the end (the final read: a session that
//     never came back cannot have been sent it); a QoS 1 message arrives again only with DUP set; a QoS 2
//     message never arrives twice (a resend with DUP and the same packet
//     identifier before the subscriber got PUBREL is the same delivery);
//   - a QoS 0 message arrives at most once, and (Checks.QoS0) reaches every
//     subscriber connected and subscribed from its sending until Settle
//     after, while its publisher stayed connected and no fault was on and
//     no proxy had died;
//   - (Checks.WillBound) the will of a session whose connection was on a
//     proxy when it died is published within the bound;
//   - (Checks.PublishBound) while a proxy is dead, no QoS 1/2 PUBLISH waits
//     longer than the bound for its acknowledgement.
//
// "No session online with a dead owner" reads the table instead:
// deadOwners (owners_test.go).

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// evKind is what a history event records.
type evKind int

const (
	evOnline     evKind = iota // a connection of client was accepted (CONNACK), on proxy; clean drops its subscriptions; msg is its will
	evOffline                  // client's connection ended
	evSubscribed               // client's SUBSCRIBE to topic (a filter) at qos was acknowledged
	evSent                     // client sent PUBLISH msg on topic at qos
	evAcked                    // client's PUBLISH msg was acknowledged
	evArrived                  // PUBLISH msg arrived at client at qos, with dup and pid
	evReleased                 // PUBREL pid arrived at client
	evFaultOn                  // fault name began
	evFaultOff                 // fault name ended
	evProxyDied                // proxy died (for good)
)

// hevent is one event of a history.
type hevent struct {
	at     time.Time
	kind   evKind
	client string
	proxy  string // evOnline, evProxyDied
	name   string // evFaultOn, evFaultOff
	msg    string // message id (its payload); the will of evOnline
	topic  string
	qos    byte
	dup    bool
	clean  bool
	pid    uint16
}

// history is what the clients of a scenario recorded. It is safe for
// concurrent use.
type history struct {
	mu  sync.Mutex
	evs []hevent
	now func() time.Time // time.Now, or a fake clock in the checker's tests
}

func newHistory() *history { return &history{now: time.Now} }

func (h *history) add(e hevent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.at.IsZero() {
		e.at = h.now()
	}
	h.evs = append(h.evs, e)
}

func (h *history) online(client, proxy string, clean bool, will string) {
	h.add(hevent{kind: evOnline, client: client, proxy: proxy, clean: clean, msg: will})
}
func (h *history) offline(client string) { h.add(hevent{kind: evOffline, client: client}) }
func (h *history) subscribed(client, filter string, qos byte) {
	h.add(hevent{kind: evSubscribed, client: client, topic: filter, qos: qos})
}
func (h *history) sent(client, msg, topic string, qos byte) { h.sentAs(client, msg, topic, qos, 0) }

// sentAs is sent with the PUBLISH's packet identifier, which the report
// of a lost message names (to find it in the handlers' logs).
func (h *history) sentAs(client, msg, topic string, qos byte, pid uint16) {
	h.add(hevent{kind: evSent, client: client, msg: msg, topic: topic, qos: qos, pid: pid})
}
func (h *history) acked(client, msg string) { h.add(hevent{kind: evAcked, client: client, msg: msg}) }
func (h *history) arrived(client, msg, topic string, qos byte, dup bool, pid uint16) {
	h.add(hevent{kind: evArrived, client: client, msg: msg, topic: topic, qos: qos, dup: dup, pid: pid})
}
func (h *history) released(client string, pid uint16) {
	h.add(hevent{kind: evReleased, client: client, pid: pid})
}
func (h *history) faultOn(name string)    { h.add(hevent{kind: evFaultOn, name: name}) }
func (h *history) faultOff(name string)   { h.add(hevent{kind: evFaultOff, name: name}) }
func (h *history) proxyDied(proxy string) { h.add(hevent{kind: evProxyDied, proxy: proxy}) }
func (h *history) events() []hevent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hevent(nil), h.evs...)
}

// Checks selects the optional checks; the QoS 1/2 and at-most-once checks
// always run.
type Checks struct {
	QoS0         bool          // QoS 0 to connected subscribers, outside faults
	Settle       time.Duration // how long after sending a QoS 0 message it must have arrived by [2s]
	WillBound    time.Duration // wills of a dead proxy's sessions published within; 0: not checked
	PublishBound time.Duration // QoS 1/2 acknowledged within, while a proxy is dead; 0: not checked
}

// checkResult is what check found: the violations, and per check how many
// cases held of how many were checked.
type checkResult struct {
	Violations []string
	// Notes sum up the violations for the reader of a failed run (which
	// subscriber missed which run of whose messages).
	Notes []string
	held  map[string][2]int // check -> {held, checked}
	order []string
}

func (r *checkResult) count(check string, ok bool) {
	if r.held == nil {
		r.held = map[string][2]int{}
	}
	c, seen := r.held[check]
	if !seen {
		r.order = append(r.order, check)
	}
	c[1]++
	if ok {
		c[0]++
	}
	r.held[check] = c
}

func (r *checkResult) violate(check, format string, args ...any) {
	r.count(check, false)
	r.Violations = append(r.Violations, check+": "+fmt.Sprintf(format, args...))
}

// merge adds o's counts and violations to r.
func (r *checkResult) merge(o *checkResult) {
	for _, c := range o.order {
		n := o.held[c]
		for i := 0; i < n[1]; i++ {
			r.count(c, i < n[0])
		}
	}
	r.Violations = append(r.Violations, o.Violations...)
	r.Notes = append(r.Notes, o.Notes...)
}

// OK reports whether no promise was broken.
func (r *checkResult) OK() bool { return len(r.Violations) == 0 }

// Summary is one line: each check with held/checked.
func (r *checkResult) Summary() string {
	var parts []string
	for _, c := range r.order {
		n := r.held[c]
		parts = append(parts, fmt.Sprintf("%s %d/%d", c, n[0], n[1]))
	}
	if len(parts) == 0 {
		return "nothing checked"
	}
	return strings.Join(parts, "; ")
}

// The names of the checks, as Summary and the violations print them.
const (
	chkDelivered = "acked QoS1/2 delivered"
	chkDupQoS1   = "QoS1 repeats with DUP"
	chkOnceQoS2  = "QoS2 once"
	chkOnceQoS0  = "QoS0 at most once"
	chkQoS0      = "QoS0 to connected subscribers"
	chkWill      = "dead proxy's wills published"
	chkLatency   = "PUBLISH acked in bound while a proxy is dead"
)

// span is a connection of a client: from its CONNACK to its end (zero:
// still open at the end of the history).
type span struct {
	from, to time.Time
	proxy    string
	will     string
}

// subState is a filter a session held, from when to when (zero: held at
// the end of the history).
type subState struct {
	filter   string
	qos      byte
	from, to time.Time
}

// model is the history indexed for the checks.
type model struct {
	end      time.Time
	spans    map[string][]span
	subs     map[string][]subState
	sent     map[string]hevent // by msg
	acked    map[string]time.Time
	arrivals map[string][]hevent // by client + "\x00" + msg
	released map[string][]hevent // by client, PUBREL events
	faults   [][2]time.Time      // on, off (zero: on at the end)
	deaths   []hevent
}

func buildModel(evs []hevent, end time.Time) *model {
	m := &model{end: end, spans: map[string][]span{}, subs: map[string][]subState{}, sent: map[string]hevent{},
		acked: map[string]time.Time{}, arrivals: map[string][]hevent{}, released: map[string][]hevent{}}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	openFault := map[string]int{}
	for _, e := range evs {
		switch e.kind {
		case evOnline:
			closeSpan(m.spans[e.client], e.at)
			m.spans[e.client] = append(m.spans[e.client], span{from: e.at, proxy: e.proxy, will: e.msg})
			if e.clean {
				for i := range m.subs[e.client] {
					if m.subs[e.client][i].to.IsZero() {
						m.subs[e.client][i].to = e.at
					}
				}
			}
		case evOffline:
			closeSpan(m.spans[e.client], e.at)
		case evSubscribed:
			ss := m.subs[e.client]
			same := false
			for i := range ss {
				if ss[i].filter == e.topic && ss[i].to.IsZero() {
					if same = ss[i].qos == e.qos; !same {
						ss[i].to = e.at // replaced
					}
				}
			}
			if !same { // subscribing again to a filter held changes nothing
				m.subs[e.client] = append(ss, subState{filter: e.topic, qos: e.qos, from: e.at})
			}
		case evSent:
			m.sent[e.msg] = e
		case evAcked:
			if _, ok := m.acked[e.msg]; !ok {
				m.acked[e.msg] = e.at
			}
		case evArrived:
			k := e.client + "\x00" + e.msg
			m.arrivals[k] = append(m.arrivals[k], e)
		case evReleased:
			m.released[e.client] = append(m.released[e.client], e)
		case evFaultOn:
			if _, on := openFault[e.name]; on {
				break // already on: it ends with its first evFaultOff
			}
			openFault[e.name] = len(m.faults)
			m.faults = append(m.faults, [2]time.Time{e.at})
		case evFaultOff:
			if i, ok := openFault[e.name]; ok {
				m.faults[i][1] = e.at
				delete(openFault, e.name)
			}
		case evProxyDied:
			m.deaths = append(m.deaths, e)
			m.faults = append(m.faults, [2]time.Time{e.at}) // for good
		}
	}
	return m
}

func closeSpan(ss []span, at time.Time) {
	if n := len(ss); n > 0 && ss[n-1].to.IsZero() {
		ss[n-1].to = at
	}
}

// upThrough reports whether one connection of client spans [from, to].
func (m *model) upThrough(client string, from, to time.Time) bool {
	for _, s := range m.spans[client] {
		if !s.from.After(from) && (s.to.IsZero() || !s.to.Before(to)) {
			return true
		}
	}
	return false
}

// upAtEnd reports whether client has a connection open at the end.
func (m *model) upAtEnd(client string) bool {
	ss := m.spans[client]
	return len(ss) > 0 && ss[len(ss)-1].to.IsZero()
}

// subQoS returns the highest QoS of client's subscriptions matching topic
// held through [from, to], and whether there is one.
func (m *model) subQoS(client, topic string, from, to time.Time) (byte, bool) {
	best, found := byte(0), false
	for _, s := range m.subs[client] {
		if s.from.After(from) || (!s.to.IsZero() && s.to.Before(to)) || !filterMatches(s.filter, topic) {
			continue
		}
		if !found || s.qos > best {
			best, found = s.qos, true
		}
	}
	return best, found
}

// faulty reports whether a fault was on at some time in [from, to].
func (m *model) faulty(from, to time.Time) bool {
	for _, f := range m.faults {
		if !f[0].After(to) && (f[1].IsZero() || !f[1].Before(from)) {
			return true
		}
	}
	return false
}

// check runs the checks on h's events, up to end (the time the scenario
// stopped watching; the latest event when zero).
func check(evs []hevent, end time.Time, c Checks) *checkResult {
	if c.Settle == 0 {
		c.Settle = 2 * time.Second
	}
	if end.IsZero() {
		for _, e := range evs {
			if e.at.After(end) {
				end = e.at
			}
		}
	}
	m := buildModel(append([]hevent(nil), evs...), end)
	r := &checkResult{}
	var clients []string
	for cl := range m.subs {
		clients = append(clients, cl)
	}
	sort.Strings(clients)
	var msgs []string
	for id := range m.sent {
		msgs = append(msgs, id)
	}
	// In the order they were sent (then by id), so that a run of lost
	// messages reads as one.
	sort.Slice(msgs, func(i, j int) bool {
		a, b := m.sent[msgs[i]], m.sent[msgs[j]]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		return msgs[i] < msgs[j]
	})
	lost := map[[2]string][]string{} // {subscriber, publisher} -> message ids, in send order
	var lostKeys [][2]string

	for _, id := range msgs {
		s := m.sent[id]
		for _, cl := range clients {
			arr := m.arrivals[cl+"\x00"+id]
			if s.qos > 0 {
				if _, acked := m.acked[id]; acked {
					if q, ok := m.subQoS(cl, s.topic, s.at, m.end); ok && q > 0 && m.upAtEnd(cl) {
						if len(arr) == 0 {
							k := [2]string{cl, s.client}
							if lost[k] == nil {
								lostKeys = append(lostKeys, k)
							}
							lost[k] = append(lost[k], id)
							r.violate(chkDelivered, "%s (QoS %d on %s, packet id %d from %s on %s, sent %s, acknowledged %v later) never reached %s (on %s then)",
								id, s.qos, s.topic, s.pid, s.client, m.proxyAt(s.client, s.at), m.rel(s.at), m.acked[id].Sub(s.at).Round(time.Millisecond), cl, m.proxyAt(cl, s.at))
						} else {
							r.count(chkDelivered, true)
						}
					}
				}
			}
			checkRepeats(r, m, cl, id, arr)
			if s.qos == 0 && c.QoS0 {
				to := s.at.Add(c.Settle)
				if to.After(m.end) || m.faulty(s.at, to) || !m.upThrough(s.client, s.at, to) || !m.upThrough(cl, s.at, to) {
					continue
				}
				if _, ok := m.subQoS(cl, s.topic, s.at, to); !ok {
					continue
				}
				if len(arr) == 0 {
					r.violate(chkQoS0, "%s (QoS 0 on %s, sent %s) never reached %s, connected and subscribed throughout", id, s.topic, m.rel(s.at), cl)
				} else {
					r.count(chkQoS0, true)
				}
			}
		}
	}
	for _, k := range lostKeys {
		ids := lost[k]
		first, last := m.sent[ids[0]], m.sent[ids[len(ids)-1]]
		r.Notes = append(r.Notes, fmt.Sprintf("%s missed %d acknowledged messages of %s, sent from %s (%s, on %s) to %s (%s, on %s)",
			k[0], len(ids), k[1], m.rel(first.at), ids[0], m.proxyAt(k[1], first.at), m.rel(last.at), ids[len(ids)-1], m.proxyAt(k[1], last.at)))
	}
	if c.WillBound > 0 {
		m.checkWills(r, c.WillBound)
	}
	if c.PublishBound > 0 {
		m.checkLatency(r, msgs, c.PublishBound)
	}
	return r
}

// checkRepeats checks the arrivals arr of one message at one client.
func checkRepeats(r *checkResult, m *model, cl, id string, arr []hevent) {
	if len(arr) < 2 {
		return
	}
	first := arr[0]
	for _, a := range arr[1:] {
		switch {
		case a.qos == 0 || first.qos == 0:
			r.violate(chkOnceQoS0, "%s arrived at %s %d times (QoS %d then %d)", id, cl, len(arr), first.qos, a.qos)
			return
		case a.qos == 1:
			if !a.dup {
				r.violate(chkDupQoS1, "%s arrived again at %s (%s) without DUP", id, cl, m.rel(a.at))
			} else {
				r.count(chkDupQoS1, true)
			}
		case a.qos == 2:
			if a.dup && a.pid == first.pid && !m.releasedBetween(cl, a.pid, first.at, a.at) {
				r.count(chkOnceQoS2, true) // the same delivery, resent before PUBREL
				continue
			}
			r.violate(chkOnceQoS2, "%s arrived twice at %s (%s, then %s with DUP %v, packet id %d then %d)", id, cl, m.rel(first.at), m.rel(a.at), a.dup, first.pid, a.pid)
		}
	}
}

func (m *model) releasedBetween(cl string, pid uint16, from, to time.Time) bool {
	for _, e := range m.released[cl] {
		if e.pid == pid && !e.at.Before(from) && !e.at.After(to) {
			return true
		}
	}
	return false
}

// checkWills: every connection open on a proxy when it died, with a will,
// has its will arrive somewhere within bound of the death.
func (m *model) checkWills(r *checkResult, bound time.Duration) {
	for _, d := range m.deaths {
		var cls []string
		for cl := range m.spans {
			cls = append(cls, cl)
		}
		sort.Strings(cls)
		for _, cl := range cls {
			for _, s := range m.spans[cl] {
				if s.proxy != d.proxy || s.will == "" || s.from.After(d.at) || (!s.to.IsZero() && s.to.Before(d.at)) {
					continue
				}
				first := m.firstArrival(s.will)
				switch {
				case first.IsZero() && m.end.Sub(d.at) < bound:
					r.violate(chkWill, "will %s of %s: not published, and the history ends %v after %s died, before the bound %v", s.will, cl, m.end.Sub(d.at).Round(time.Millisecond), d.proxy, bound)
				case first.IsZero():
					r.violate(chkWill, "will %s of %s (on %s, died %s) never published", s.will, cl, d.proxy, m.rel(d.at))
				case first.Sub(d.at) > bound:
					r.violate(chkWill, "will %s of %s published %v after %s died, over %v", s.will, cl, first.Sub(d.at).Round(time.Millisecond), d.proxy, bound)
				default:
					r.count(chkWill, true)
				}
			}
		}
	}
}

func (m *model) firstArrival(msg string) time.Time {
	var first time.Time
	for k, arr := range m.arrivals {
		if !strings.HasSuffix(k, "\x00"+msg) {
			continue
		}
		for _, a := range arr {
			if first.IsZero() || a.at.Before(first) {
				first = a.at
			}
		}
	}
	return first
}

// checkLatency: every QoS 1/2 PUBLISH sent after a proxy died is
// acknowledged within bound, unless its publisher's connection ended
// first.
func (m *model) checkLatency(r *checkResult, msgs []string, bound time.Duration) {
	if len(m.deaths) == 0 {
		return
	}
	died := m.deaths[0].at
	for _, id := range msgs {
		s := m.sent[id]
		if s.qos == 0 || s.at.Before(died) {
			continue
		}
		ack, ok := m.acked[id]
		switch {
		case ok && ack.Sub(s.at) <= bound:
			r.count(chkLatency, true)
		case ok:
			r.violate(chkLatency, "%s (sent %s) acknowledged after %v, over %v", id, m.rel(s.at), ack.Sub(s.at).Round(time.Millisecond), bound)
		case m.end.Sub(s.at) <= bound || !m.upThrough(s.client, s.at, s.at.Add(bound)):
			// not yet due, or its connection ended: nothing to wait for
		default:
			r.violate(chkLatency, "%s (sent %s) not acknowledged within %v, its connection open", id, m.rel(s.at), bound)
		}
	}
}

// proxyAt names the proxy client was connected through at t, or
// "no proxy" between its connections.
func (m *model) proxyAt(client string, t time.Time) string {
	for _, s := range m.spans[client] {
		if !s.from.After(t) && (s.to.IsZero() || !s.to.Before(t)) {
			return s.proxy
		}
	}
	return "no proxy"
}

// rel prints t relative to the end of the history.
func (m *model) rel(t time.Time) string {
	return fmt.Sprintf("%v before the end", m.end.Sub(t).Round(time.Millisecond))
}

// filterMatches reports whether an MQTT topic filter matches topic.
func filterMatches(filter, topic string) bool {
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, level := range f {
		if level == "#" {
			return true
		}
		if i >= len(tp) || (level != "+" && level != tp[i]) {
			return false
		}
	}
	return len(f) == len(tp)
}
